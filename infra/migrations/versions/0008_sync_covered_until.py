"""When the last finished sync of each connection started: hints received before it are covered

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 02:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import adapters.sql.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_connections") as batch_op:
        batch_op.add_column(
            sa.Column(
                "sync_covered_until", adapters.sql.types.UtcDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("calendar_connections") as batch_op:
        batch_op.drop_column("sync_covered_until")
