"""One holder at a time of a named piece of work, across the processes of a deployment."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

#: Locks of this process, striped by key: bounded memory, and rare unrelated waits only.
_STRIPES = tuple(threading.Lock() for _ in range(64))


@contextmanager
def appointment_lock(engine: sa.Engine, appointment_id: str) -> Iterator[None]:
    """Hold the appointment's lock while the block runs (the write-back's calendar calls).

    PostgreSQL: a session advisory lock on a connection of its own, so no transaction stays
    open during the provider's HTTP calls, and a crashed holder's lock dies with its
    connection. SQLite serves one process (the embedded default), so a lock per appointment
    in this process (striped) is enough.
    """
    key = f"appointment\x1f{appointment_id}"
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(
                sa.text("SELECT pg_advisory_lock(hashtextextended(:key, 0))"), {"key": key}
            )
            conn.commit()
            try:
                yield
            finally:
                conn.execute(
                    sa.text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))"), {"key": key}
                )
                conn.commit()
        return
    with _STRIPES[hash(key) % len(_STRIPES)]:
        yield
