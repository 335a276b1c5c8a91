"""contact_emails carries its contact's company, state and last change (one-table lookups)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 04:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import adapters.sql.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact_emails") as batch_op:
        batch_op.add_column(sa.Column("company_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "contact_updated_at", adapters.sql.types.UtcDateTime(timezone=True), nullable=True
            )
        )
    emails = sa.table(
        "contact_emails",
        sa.column("account_id"),
        sa.column("contact_id"),
        sa.column("company_id"),
        sa.column("active"),
        sa.column("contact_updated_at"),
    )
    contacts = sa.table(
        "contacts",
        sa.column("account_id"),
        sa.column("id"),
        sa.column("company_id"),
        sa.column("active"),
        sa.column("updated_at"),
    )
    same = sa.and_(
        contacts.c.account_id == emails.c.account_id, contacts.c.id == emails.c.contact_id
    )

    def of_contact(column: str) -> sa.ScalarSelect[object]:
        return sa.select(contacts.c[column]).where(same).scalar_subquery()

    op.execute(
        emails.update().values(
            company_id=of_contact("company_id"),
            active=sa.func.coalesce(of_contact("active"), emails.c.active),
            contact_updated_at=of_contact("updated_at"),
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("contact_emails") as batch_op:
        batch_op.drop_column("contact_updated_at")
        batch_op.drop_column("active")
        batch_op.drop_column("company_id")
