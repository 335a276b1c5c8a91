"""Since when each connection has a sync request not yet done: how far behind it is (R36)

Connections behind at upgrade time get their last successful sync (or their connection time):
when the request came is not known, and it came after that at the latest.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import adapters.sql.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_connections") as batch_op:
        batch_op.add_column(
            sa.Column(
                "sync_pending_since", adapters.sql.types.UtcDateTime(timezone=True), nullable=True
            )
        )
    op.execute(
        "UPDATE calendar_connections SET sync_pending_since = "
        "COALESCE(last_synced_at, connected_at) WHERE sync_requested > sync_done"
    )


def downgrade() -> None:
    with op.batch_alter_table("calendar_connections") as batch_op:
        batch_op.drop_column("sync_pending_since")
