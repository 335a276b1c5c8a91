"""Dead letters parked in SQL, for on-call to list, filter, show and replay (``calsync dlq``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.sql.tables import dead_letter_audit, dead_letters
from adapters.sql.types import UtcDateTime


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


#: Header of a letter parked in the reduced form: why the store refused it as it came.
REDUCED = "calsync-parked-reduced"
#: The ``attempts`` column is a 32-bit integer on PostgreSQL.
_MAX_ATTEMPTS = 2**31 - 1


def reduced(letter: DeadLetter, refusal: str) -> DeadLetter:
    """``letter`` in a form every store takes, for when it refused the letter as it came.

    The body stays the bytes that came; text (columns, header keys and values) has its NULs
    and lone surrogates written as ``\\u`` escapes, header numbers JSON cannot hold become
    text, and the ``REDUCED`` header says why, so on-call sees everything and knows it.
    """
    texts: dict[str, Any] = {
        f.name: printable(value)
        for f in fields(letter)
        if isinstance(value := getattr(letter, f.name), str)
    }
    headers = _plain_json(letter.headers)
    headers[REDUCED] = printable(refusal)
    attempts = min(max(letter.attempts, 0), _MAX_ATTEMPTS)
    return replace(letter, **texts, headers=headers, attempts=attempts)


def printable(text: str) -> str:
    """``text`` with NUL (refused by PostgreSQL) and lone surrogates (refused by UTF-8) escaped."""
    return text.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()


def _plain_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {printable(str(k)): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and Infinity are not JSON; PostgreSQL refuses them
    return value


def get(connection: sa.Connection, letter_id: int) -> dict[str, Any] | None:
    """The stored row as a mapping, or None."""
    row = (
        connection.execute(sa.select(dead_letters).where(dead_letters.c.id == letter_id))
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


# -- on-call reads and actions (``calsync dlq``) ------------------------------------------------

_d = dead_letters.c
#: Columns of a listing (everything but the headers and the body).
SUMMARY_COLUMNS = tuple(c for c in dead_letters.c if c.name not in ("headers", "body"))


@dataclass(frozen=True)
class Filters:
    """Which dead letters a command is about; unset fields match everything."""

    queue: str | None = None
    reason: str | None = None
    error_class: str | None = None
    account_id: str | None = None
    #: Last failure at or after this instant.
    since: datetime | None = None
    #: Last failure before this instant.
    before: datetime | None = None
    #: True: replayed at least once; False: never replayed; None: either.
    replayed: bool | None = None

    def clauses(self) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        for column, value in (
            (_d.queue, self.queue),
            (_d.reason, self.reason),
            (_d.error_class, self.error_class),
            (_d.account_id, self.account_id),
        ):
            if value is not None:
                clauses.append(column == value)
        if self.since is not None:
            clauses.append(_d.last_failed_at >= self.since)
        if self.before is not None:
            clauses.append(_d.last_failed_at < self.before)
        if self.replayed is not None:
            replayed = _d.last_replayed_at.is_not(None)
            clauses.append(replayed if self.replayed else sa.not_(replayed))
        return clauses


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    error_class: str | None
    count: int


@dataclass(frozen=True)
class QueueStats:
    queue: str
    count: int
    #: Never replayed.
    pending: int
    oldest_failure: datetime
    newest_failure: datetime
    top_reasons: list[ReasonCount]


@dataclass(frozen=True)
class AuditEntry:
    """One action on one dead letter, for the ``dead_letter_audit`` table."""

    run_id: str
    action: str
    dead_letter_id: int
    message_id: str | None
    queue: str
    reason: str
    actor: str
    at: datetime
    detail: dict[str, Any]


def count(connection: sa.Connection, filters: Filters) -> int:
    query = sa.select(sa.func.count()).select_from(dead_letters).where(*filters.clauses())
    return int(connection.execute(query).scalar_one())


def summaries(
    connection: sa.Connection, filters: Filters, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """Matching letters without headers and body, newest failure first."""
    query = (
        sa.select(*SUMMARY_COLUMNS)
        .where(*filters.clauses())
        .order_by(_d.last_failed_at.desc(), _d.id.desc())
        .limit(limit)
    )
    return [dict(row) for row in connection.execute(query).mappings()]


def summaries_of(connection: sa.Connection, letter_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The letters of ``letter_ids`` that exist, without headers and body, in id order."""
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(letter_ids):
        query = sa.select(*SUMMARY_COLUMNS).where(_d.id.in_(chunk))
        rows.extend(dict(row) for row in connection.execute(query).mappings())
    return sorted(rows, key=lambda row: int(row["id"]))


def matching_ids(connection: sa.Connection, filters: Filters) -> list[int]:
    """Ids of the matching letters, oldest first (the order a replay puts them back in)."""
    query = sa.select(_d.id).where(*filters.clauses()).order_by(_d.id)
    return [int(i) for i in connection.execute(query).scalars()]


def queue_stats(connection: sa.Connection, filters: Filters, *, top: int = 3) -> list[QueueStats]:
    """Per original queue: how many letters, how many never replayed, the oldest, why."""
    pending = sa.func.sum(sa.case((_d.last_replayed_at.is_(None), 1), else_=0))
    per_queue = connection.execute(
        sa.select(
            _d.queue,
            sa.func.count(),
            pending,
            # min()/max() lose the column's type on SQLite; coerce to get aware datetimes back.
            sa.type_coerce(sa.func.min(_d.first_failed_at), UtcDateTime),
            sa.type_coerce(sa.func.max(_d.last_failed_at), UtcDateTime),
        )
        .where(*filters.clauses())
        .group_by(_d.queue)
        .order_by(sa.func.count().desc(), _d.queue)
    ).all()
    reasons: dict[str, list[ReasonCount]] = {}
    by_reason = connection.execute(
        sa.select(_d.queue, _d.reason, _d.error_class, sa.func.count())
        .where(*filters.clauses())
        .group_by(_d.queue, _d.reason, _d.error_class)
        .order_by(sa.func.count().desc(), _d.reason, _d.error_class)
    ).all()
    for queue, reason, error_class, n in by_reason:
        reasons.setdefault(queue, []).append(ReasonCount(reason, error_class, int(n)))
    return [
        QueueStats(
            queue=queue,
            count=int(n),
            pending=int(waiting or 0),
            oldest_failure=oldest,
            newest_failure=newest,
            top_reasons=reasons.get(queue, [])[:top],
        )
        for queue, n, waiting, oldest, newest in per_queue
    ]


def failures_of(connection: sa.Connection, message_id: str) -> list[dict[str, Any]]:
    """Every letter of one message (it may die, be replayed and die again), oldest first."""
    query = (
        sa.select(*SUMMARY_COLUMNS)
        .where(_d.message_id == message_id)
        .order_by(_d.first_failed_at, _d.id)
    )
    return [dict(row) for row in connection.execute(query).mappings()]


def lock_for_replay(
    connection: sa.Connection, letter_id: int, *, pending_only: bool
) -> dict[str, Any] | None:
    """The whole row, locked until the caller's transaction ends; None when it is gone,
    locked by another replay (PostgreSQL), or replayed meanwhile while ``pending_only``."""
    query = sa.select(dead_letters).where(_d.id == letter_id).with_for_update(skip_locked=True)
    if pending_only:
        query = query.where(_d.last_replayed_at.is_(None))
    row = connection.execute(query).mappings().first()
    return dict(row) if row is not None else None


def mark_replayed(connection: sa.Connection, letter_id: int, at: datetime) -> None:
    """Count one more replay of the letter; it stays for ``list`` and ``show``."""
    connection.execute(
        dead_letters.update()
        .where(_d.id == letter_id)
        .values(replay_count=_d.replay_count + 1, last_replayed_at=at)
    )


def delete(connection: sa.Connection, letter_ids: Sequence[int]) -> int:
    """Drop letters for good; returns how many there were."""
    removed = 0
    for chunk in _chunks(letter_ids):
        result = connection.execute(dead_letters.delete().where(_d.id.in_(chunk)))
        removed += max(result.rowcount, 0)
    return removed


def record(connection: sa.Connection, entries: Sequence[AuditEntry]) -> None:
    """Write audit rows in the caller's transaction."""
    if entries:
        connection.execute(
            dead_letter_audit.insert(),
            [{f.name: getattr(e, f.name) for f in fields(e)} for e in entries],
        )


def audit_of(connection: sa.Connection, letter_id: int) -> list[dict[str, Any]]:
    """What was done to one letter, oldest first."""
    audit = dead_letter_audit.c
    query = (
        sa.select(dead_letter_audit)
        .where(audit.dead_letter_id == letter_id)
        .order_by(audit.at, audit.id)
    )
    return [dict(row) for row in connection.execute(query).mappings()]


def _chunks(values: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
