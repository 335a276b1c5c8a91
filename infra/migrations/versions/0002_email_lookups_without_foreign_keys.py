"""E-mail lookup tables without foreign keys (bulk directory loads on PostgreSQL)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 23:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_emails") as batch_op:
        batch_op.drop_constraint("fk_user_emails_account_id_users", type_="foreignkey")
    with op.batch_alter_table("contact_emails") as batch_op:
        batch_op.drop_constraint("fk_contact_emails_account_id_contacts", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("contact_emails") as batch_op:
        batch_op.create_foreign_key(
            "fk_contact_emails_account_id_contacts",
            "contacts",
            ["account_id", "contact_id"],
            ["account_id", "id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("user_emails") as batch_op:
        batch_op.create_foreign_key(
            "fk_user_emails_account_id_users",
            "users",
            ["account_id", "user_id"],
            ["account_id", "id"],
            ondelete="CASCADE",
        )
