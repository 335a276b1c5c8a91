"""Browser connect attempts: link tickets, OAuth state and PKCE verifiers, single use

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import adapters.sql.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    time = adapters.sql.types.UtcDateTime(timezone=True)
    op.create_table(
        "oauth_attempts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("appointment_type_id", sa.String(length=64), nullable=True),
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=True),
        sa.Column("binding_hash", sa.String(length=64), nullable=True),
        sa.Column("flow", sa.LargeBinary(), nullable=True),
        sa.Column("expires_at", time, nullable=False),
        sa.Column("started_at", time, nullable=True),
        sa.Column("finished_at", time, nullable=True),
        sa.Column("created_at", time, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "user_id"],
            ["users.account_id", "users.id"],
            name=op.f("fk_oauth_attempts_account_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_attempts")),
        sa.UniqueConstraint("ticket_hash", name=op.f("uq_oauth_attempts_ticket_hash")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oauth_attempts_state_hash")),
    )
    with op.batch_alter_table("oauth_attempts") as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_attempts_expires_at"), ["expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("oauth_attempts") as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_attempts_expires_at"))
    op.drop_table("oauth_attempts")
