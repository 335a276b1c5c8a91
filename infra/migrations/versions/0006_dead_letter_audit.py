"""Audit trail of dead-letter replays and purges (calsync dlq)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import adapters.sql.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    time = adapters.sql.types.UtcDateTime(timezone=True)
    op.create_table(
        "dead_letter_audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("dead_letter_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", time, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letter_audit")),
    )
    with op.batch_alter_table("dead_letter_audit") as batch_op:
        batch_op.create_index(batch_op.f("ix_dead_letter_audit_run_id"), ["run_id"])
        batch_op.create_index(batch_op.f("ix_dead_letter_audit_dead_letter_id"), ["dead_letter_id"])
        batch_op.create_index(batch_op.f("ix_dead_letter_audit_at"), ["at"])


def downgrade() -> None:
    with op.batch_alter_table("dead_letter_audit") as batch_op:
        batch_op.drop_index(batch_op.f("ix_dead_letter_audit_at"))
        batch_op.drop_index(batch_op.f("ix_dead_letter_audit_dead_letter_id"))
        batch_op.drop_index(batch_op.f("ix_dead_letter_audit_run_id"))
    op.drop_table("dead_letter_audit")
