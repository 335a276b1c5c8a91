"""What was last written to the calendar for each CRM appointment (write-back, R24, R25)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import adapters.sql.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crm_appointments") as batch_op:
        batch_op.add_column(sa.Column("written_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("written_attendees", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("written_at", adapters.sql.types.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("write_calls", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("crm_appointments") as batch_op:
        batch_op.drop_column("write_calls")
        batch_op.drop_column("written_at")
        batch_op.drop_column("written_attendees")
        batch_op.drop_column("written_fingerprint")
