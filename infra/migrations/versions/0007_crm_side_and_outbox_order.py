"""CRM side of appointments, and per-appointment order and backoff in the outbox

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import adapters.sql.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    time = adapters.sql.types.UtcDateTime(timezone=True)
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("ordering_key", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", time, nullable=True))
        batch_op.create_index(op.f("ix_outbox_ordering_key"), ["ordering_key"], unique=False)
    op.create_table(
        "crm_appointments",
        sa.Column("appointment_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("crm_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", time, nullable=False),
        sa.Column("deleted_at", time, nullable=True),
        sa.Column("created_at", time, nullable=False),
        sa.Column("updated_at", time, nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_crm_appointments_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("appointment_id", name=op.f("pk_crm_appointments")),
        sa.UniqueConstraint(
            "account_id", "crm_id", name=op.f("uq_crm_appointments_account_id_crm_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("crm_appointments")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index(op.f("ix_outbox_ordering_key"))
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("ordering_key")
