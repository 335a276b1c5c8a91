"""Dead letters parked in SQL, for on-call to list, filter, show and replay (``calsync dlq``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.sql.tables import dead_letters


@dataclass(frozen=True)
class DeadLetter:
    """One message given up on: where it came from, why, and everything it carried."""

    queue: str
    reason: str
    #: Every AMQP header, already JSON-safe.
    headers: dict[str, Any]
    body: bytes
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    parked_at: datetime
    message_id: str | None = None
    exchange: str = ""
    routing_key: str = ""
    error_class: str | None = None
    error_message: str | None = None
    account_id: str | None = None
    trace_id: str | None = None


def park(connection: sa.Connection, letter: DeadLetter) -> int:
    """Insert ``letter`` in the caller's transaction; returns its id.

    Text longer than its column (an envelope id may be 255 characters) is cut to fit, so a
    dead letter is never refused for its size.
    """
    values = {f.name: getattr(letter, f.name) for f in fields(letter)}
    for name, value in values.items():
        length = getattr(dead_letters.c[name].type, "length", None)
        if isinstance(value, str) and length is not None:
            values[name] = value[:length]
    result = connection.execute(dead_letters.insert().values(**values).returning(dead_letters.c.id))
    return int(result.scalar_one())


def get(connection: sa.Connection, letter_id: int) -> dict[str, Any] | None:
    """The stored row as a mapping, or None."""
    row = (
        connection.execute(sa.select(dead_letters).where(dead_letters.c.id == letter_id))
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None
