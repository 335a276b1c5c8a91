"""Why each event a sync kept out was kept out (R36)

One row per (connection, event id); events that became appointments have none (their link
answers), so the table holds only what the syncs keep out of the CRM.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import adapters.sql.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    time = adapters.sql.types.UtcDateTime(timezone=True)
    op.create_table(
        "event_explanations",
        sa.Column("connection_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(1024), nullable=False),
        sa.Column("rule", sa.String(8), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("seen_at", time, nullable=False),
        sa.Column("event_start", time, nullable=True),
        sa.Column("event_end", time, nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["calendar_connections.id"],
            name="fk_event_explanations_connection_id_calendar_connections",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "event_id", name="pk_event_explanations"),
    )


def downgrade() -> None:
    op.drop_table("event_explanations")
