"""The rooms write-back last booked on each CRM appointment's event (R23, R24)

NULL for appointments written before this column: which rooms were ours is unknown, so their
next update books the CRM's rooms only, as before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crm_appointments") as batch_op:
        batch_op.add_column(sa.Column("written_rooms", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crm_appointments") as batch_op:
        batch_op.drop_column("written_rooms")
