"""The inbox: which messages a consumer has already processed (RELIABILITY.md §5.2)."""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa

from adapters.sql.tables import inbox
from adapters.sql.upsert import dialect_insert

#: Longest key the ``inbox`` columns hold; longer message ids are stored as their SHA-256.
MAX_KEY_LENGTH = 64


def claim_message(connection: sa.Connection, consumer: str, message_id: str, now: datetime) -> bool:
    """Record ``message_id`` as processed by ``consumer`` at ``now``, in the caller's
    transaction.

    Returns:
        True the first time; False when the row already exists (a redelivery or duplicate),
        so the caller skips its effects. Two transactions claiming at once serialise on the
        key: the second waits for the first and then gets False (or, on SQLite, the write lock).
    """
    stmt = (
        dialect_insert(connection, inbox)
        .values(
            consumer=_key(consumer),
            message_id=_key(message_id),
            processed_at=now,
        )
        .on_conflict_do_nothing(index_elements=[inbox.c.consumer, inbox.c.message_id])
        # RETURNING, not rowcount: psycopg's INSERT rowcount reaches SQLAlchemy as -1.
        .returning(inbox.c.message_id)
    )
    return connection.execute(stmt).first() is not None


def _key(value: str) -> str:
    if len(value) <= MAX_KEY_LENGTH:
        return value
    return hashlib.sha256(value.encode()).hexdigest()
