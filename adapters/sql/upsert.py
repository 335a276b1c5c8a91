"""Dialect-aware multi-row upserts (PostgreSQL and SQLite share the ON CONFLICT syntax)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

#: Rows per executemany call, and IDs per IN list: bounded so memory and SQLite's
#: bound-parameter limit stay comfortable whatever the file size.
CHUNK = 1000


def dialect_insert(connection: sa.Connection, table: sa.Table) -> Any:
    """Return the dialect's ``insert`` construct, which knows ``on_conflict_*``."""
    name = connection.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for dialect {name!r}")


def upsert(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
    *,
    only_if_changed: Sequence[str] = (),
) -> None:
    """Insert ``rows``, updating ``update`` columns of rows that already exist by ``keys``.

    With ``only_if_changed``, an existing row is touched only when one of those columns
    differs, so reloading the same data leaves ``updated_at`` (and R5's "most recently
    updated") alone.
    """
    if not rows:
        return
    stmt = dialect_insert(connection, table)
    if update:
        where = None
        if only_if_changed:
            where = sa.or_(
                *(table.c[col].is_distinct_from(stmt.excluded[col]) for col in only_if_changed)
            )
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={col: stmt.excluded[col] for col in update},
            where=where,
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=[table.c[k] for k in keys])
    # One statement, compiled once and cached, run as executemany: the drivers batch it.
    for chunk in chunks(rows, CHUNK):
        connection.execute(stmt, list(chunk))


def chunks(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
