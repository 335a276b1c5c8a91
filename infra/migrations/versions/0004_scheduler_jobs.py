"""Periodic jobs with one owner at a time, and full-sync requests for the next sync run

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 01:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import adapters.sql.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    time = adapters.sql.types.UtcDateTime(timezone=True)
    op.create_table(
        "scheduler_jobs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_run_at", time, nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", time, nullable=True),
        sa.Column("last_started_at", time, nullable=True),
        sa.Column("last_finished_at", time, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_jobs")),
    )
    with op.batch_alter_table("calendar_connections") as batch_op:
        batch_op.add_column(
            sa.Column(
                "full_sync_requested", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("calendar_connections") as batch_op:
        batch_op.drop_column("full_sync_requested")
    op.drop_table("scheduler_jobs")
