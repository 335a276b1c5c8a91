"""The outbox as the relay reads it: rows due for publishing, one head per ordering key.

A row is *due* when it is unpublished, its backoff (``next_attempt_at``) has passed, and no
older row with the same ``ordering_key`` is still unpublished: the rows of one appointment
go out one at a time, in id order, and a failing row holds back the rows behind it. On
PostgreSQL the due rows are locked with ``FOR UPDATE SKIP LOCKED``, so several relays share
the work without publishing one row twice at once; SQLite runs one relay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.sql.tables import outbox

#: Longest ``last_error`` kept.
MAX_ERROR = 2000


@dataclass(frozen=True)
class OutboxRow:
    id: int
    message_id: str
    exchange: str
    routing_key: str
    ordering_key: str | None
    headers: dict[str, Any]
    body: str
    attempts: int


def claim_due(conn: sa.Connection, now: datetime, limit: int) -> list[OutboxRow]:
    """The due rows, oldest first, locked until the caller's transaction ends (PostgreSQL)."""
    o = outbox.c
    earlier = outbox.alias("earlier")
    e = earlier.c
    blocked = (
        sa.exists()
        .where(e.ordering_key == o.ordering_key, e.published_at.is_(None), e.id < o.id)
        .correlate(outbox)
    )
    query = (
        sa.select(outbox)
        .where(
            o.published_at.is_(None),
            sa.or_(o.next_attempt_at.is_(None), o.next_attempt_at <= now),
            sa.or_(o.ordering_key.is_(None), ~blocked),
        )
        .order_by(o.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=outbox)
    return [
        OutboxRow(
            id=row.id,
            message_id=row.message_id,
            exchange=row.exchange,
            routing_key=row.routing_key,
            ordering_key=row.ordering_key,
            headers=dict(row.headers or {}),
            body=row.body,
            attempts=row.attempts,
        )
        for row in conn.execute(query)
    ]


def mark_published(conn: sa.Connection, row_id: int, now: datetime) -> None:
    conn.execute(
        outbox.update()
        .where(outbox.c.id == row_id)
        .values(published_at=now, attempts=outbox.c.attempts + 1, next_attempt_at=None)
    )


def mark_failed(conn: sa.Connection, row_id: int, error: str, retry_at: datetime) -> None:
    conn.execute(
        outbox.update()
        .where(outbox.c.id == row_id)
        .values(
            attempts=outbox.c.attempts + 1,
            last_error=error[:MAX_ERROR],
            next_attempt_at=retry_at,
        )
    )


def unpublished_count(conn: sa.Connection) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        ).scalar_one()
    )
