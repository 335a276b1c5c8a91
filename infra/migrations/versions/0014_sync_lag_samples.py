"""Sync lag sampled over time, for the on-call console's plot of the last day

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import adapters.sql.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_lag_samples",
        sa.Column("at", adapters.sql.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("connections", sa.Integer(), nullable=False),
        sa.Column("lagging", sa.Integer(), nullable=False),
        sa.Column("max_lag_seconds", sa.Integer(), nullable=False),
        sa.Column("avg_lag_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("at", name="pk_sync_lag_samples"),
    )


def downgrade() -> None:
    op.drop_table("sync_lag_samples")
