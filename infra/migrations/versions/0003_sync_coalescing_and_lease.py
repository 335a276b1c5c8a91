"""Sync coalescing counters, a lease per connection, and a resumable page cursor

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import adapters.sql.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_connections") as batch_op:
        batch_op.add_column(sa.Column("page_cursor", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("sync_requested", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("sync_done", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "lease_expires_at", adapters.sql.types.UtcDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("calendar_connections") as batch_op:
        for column in (
            "lease_expires_at",
            "lease_owner",
            "sync_done",
            "sync_requested",
            "page_cursor",
        ):
            batch_op.drop_column(column)
