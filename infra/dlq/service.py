"""Replaying and purging parked dead letters: what ``calsync dlq replay`` and ``purge`` do.

A replay puts the letter's body back on its original queue (default exchange, routing key =
queue), confirmed and mandatory, with its original message id, so a consumer's inbox absorbs
a letter replayed twice. The copy leaves the broker's ``x-`` headers and our failure
bookkeeping behind (its attempts start afresh) and says who replayed it, when, and how often
the message was replayed so far. The row is locked while its copy is published and marked
replayed (not deleted) in the same transaction as its audit row; a crash between the confirm
and the commit replays it once more, which the inbox absorbs.
"""

from __future__ import annotations

import getpass
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog

from adapters.broker.envelope import Envelope, EnvelopeError
from adapters.redaction import redact_text
from adapters.sql import dead_letters
from adapters.sql.dead_letters import AuditEntry
from infra.dlq import render
from workers import retry
from workers.errors import RepublishFailed
from workers.republish import OutgoingMessage, Republisher

log = structlog.get_logger("calsync.dlq")

#: How many times the message has been replayed, this copy included.
REPLAY_COUNT = "calsync-replay-count"
#: Who replayed it (``--by``, or the OS user).
REPLAYED_BY = "calsync-replayed-by"
#: When, ISO 8601 UTC.
REPLAYED_AT = "calsync-replayed-at"
#: The ``dead_letters`` id the copy was made from.
REPLAYED_FROM = "calsync-replayed-from"
REPLAY_HEADERS = (REPLAY_COUNT, REPLAYED_BY, REPLAYED_AT, REPLAYED_FROM)
#: The failure bookkeeping of the death being replayed; a replayed copy starts afresh.
FAILURE_HEADERS = (
    retry.ATTEMPT,
    retry.NOT_BEFORE,
    retry.REASON,
    retry.ERROR_CLASS,
    retry.ERROR_MESSAGE,
    retry.ATTEMPTS,
    retry.ORIGINAL_QUEUE,
    retry.FIRST_FAILED_AT,
    retry.LAST_FAILED_AT,
)
#: Replays per second unless told otherwise: gentle on the providers and the store.
DEFAULT_RATE = 20.0
#: Letters deleted per transaction by a purge.
PURGE_BATCH = 500

REPLAY = "replay"
PURGE = "purge"


@dataclass
class Outcome:
    """What a replay or purge run did."""

    run_id: str
    action: str
    #: Summaries (id, queue, message id, …) of the letters acted on, in order.
    done: list[dict[str, Any]] = field(default_factory=list)
    #: (letter id, why) of letters passed over.
    skipped: list[tuple[int, str]] = field(default_factory=list)
    #: (letter id, error) of the failure that stopped the run, if one did.
    failure: tuple[int, str] | None = None
    #: Letters not tried because the run stopped.
    not_tried: int = 0

    def per_queue(self) -> Counter[str]:
        return Counter(str(row["queue"]) for row in self.done)


class Pacer:
    """At most ``per_second`` calls of :meth:`wait` per second, evenly spaced."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("the rate must be positive")
        self.interval = 1.0 / per_second
        self._clock, self._sleep = clock, sleep
        self._next: float | None = None

    def wait(self) -> None:
        now = self._clock()
        slot = now if self._next is None else max(self._next, now)
        if slot > now:
            self._sleep(slot - now)
        self._next = slot + self.interval


class NotMarked(Exception):
    """The copy was confirmed, but the letter could not be marked replayed afterwards."""


def default_actor() -> str:
    """The OS user running the command (``unknown`` in a container without one)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def new_run_id() -> str:
    return uuid.uuid4().hex


def replay(
    engine: sa.Engine,
    republisher: Republisher,
    letter_ids: Sequence[int],
    *,
    actor: str,
    pending_only: bool,
    rate: float = DEFAULT_RATE,
    selection: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    run_id: str | None = None,
) -> Outcome:
    """Put each letter back on its original queue, oldest first, at most ``rate`` per second.

    ``pending_only`` passes over letters replayed since they were selected (``--all``); an
    explicitly named letter is replayed again. The run stops at the first letter that cannot
    be published (broker down, queue gone): the rest stay as they were, for another run.
    """
    outcome = Outcome(run_id or new_run_id(), REPLAY)
    pacer = Pacer(rate)
    letter_log = log.debug if progress is not None else log.info  # a bar is showing
    for position, letter_id in enumerate(letter_ids):
        try:
            done = _replay_one(
                engine,
                republisher,
                letter_id,
                outcome=outcome,
                actor=actor,
                pending_only=pending_only,
                pacer=pacer,
                selection=selection or {},
                letter_log=letter_log,
            )
        except Exception as exc:  # noqa: BLE001 - reported as the run's one failure
            outcome.failure = (letter_id, _one_line(exc))
            outcome.not_tried = len(letter_ids) - position - 1
            log.error(
                "dead letter replay failed; run stopped",
                dead_letter_id=letter_id,
                error=outcome.failure[1],
                run_id=outcome.run_id,
            )
            break
        if done is not None:
            outcome.done.append(done)
        if progress is not None:
            progress(1)
    log.info(
        "dead letters replayed",
        run_id=outcome.run_id,
        actor=actor,
        selection=dict(selection or {}),
        replayed=len(outcome.done),
        per_queue=dict(outcome.per_queue()),
        skipped=len(outcome.skipped),
        failed=outcome.failure is not None,
    )
    return outcome


def _replay_one(
    engine: sa.Engine,
    republisher: Republisher,
    letter_id: int,
    *,
    outcome: Outcome,
    actor: str,
    pending_only: bool,
    pacer: Pacer,
    selection: Mapping[str, Any],
    letter_log: Callable[..., Any],
) -> dict[str, Any] | None:
    pacer.wait()  # before the row is locked: no lock is held while the rate limit waits
    published_to: str | None = None
    try:
        with engine.begin() as conn:
            row = _locked_row(conn, letter_id, pending_only=pending_only, outcome=outcome)
            if row is None:
                return None
            now = datetime.now(UTC)
            count = replays_before(row) + 1
            message = replay_message(row, count=count, actor=actor, now=now)
            republisher.republish(message, row["queue"])
            published_to = row["queue"]
            dead_letters.mark_replayed(conn, letter_id, now)
            detail = {"replay_count": count, "selection": dict(selection)}
            dead_letters.record(conn, [_audit(outcome, row, actor=actor, at=now, detail=detail)])
    except Exception as exc:
        if published_to is not None:  # the copy is out, not the mark: a second replay is harmless
            raise NotMarked(
                f"put back on {published_to} but not marked replayed ({_describe(exc)})"
            ) from exc
        raise
    letter_log(
        "dead letter replayed",
        run_id=outcome.run_id,
        dead_letter_id=letter_id,
        queue=row["queue"],
        message_id=row["message_id"],
        trace_id=row["trace_id"],
        replay_count=count,
        actor=actor,
    )
    return {k: v for k, v in row.items() if k not in ("headers", "body")}


def _locked_row(
    conn: sa.Connection, letter_id: int, *, pending_only: bool, outcome: Outcome
) -> dict[str, Any] | None:
    row = dead_letters.lock_for_replay(conn, letter_id, pending_only=pending_only)
    if row is None:
        outcome.skipped.append((letter_id, "replayed, purged or being replayed meanwhile"))
        return None
    if not row["queue"]:
        outcome.skipped.append((letter_id, "no original queue to put it back on"))
        return None
    return row


def purge(
    engine: sa.Engine,
    letter_ids: Sequence[int],
    *,
    actor: str,
    selection: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    run_id: str | None = None,
) -> Outcome:
    """Delete letters for good, a batch per transaction, each with its audit row."""
    outcome = Outcome(run_id or new_run_id(), PURGE)
    letter_log = log.debug if progress is not None else log.info
    for start in range(0, len(letter_ids), PURGE_BATCH):
        batch = letter_ids[start : start + PURGE_BATCH]
        now = datetime.now(UTC)
        with engine.begin() as conn:
            rows = dead_letters.summaries_of(conn, batch)
            dead_letters.delete(conn, [int(row["id"]) for row in rows])
            dead_letters.record(
                conn,
                [
                    _audit(
                        outcome,
                        row,
                        actor=actor,
                        at=now,
                        detail={
                            "selection": dict(selection or {}),
                            "attempts": row["attempts"],
                            "error_class": row["error_class"],
                            "replay_count": row["replay_count"],
                        },
                    )
                    for row in rows
                ],
            )
        gone = set(batch) - {int(row["id"]) for row in rows}
        outcome.skipped.extend((letter_id, "purged meanwhile") for letter_id in sorted(gone))
        outcome.done.extend(rows)
        for row in rows:
            letter_log(
                "dead letter purged",
                run_id=outcome.run_id,
                dead_letter_id=row["id"],
                queue=row["queue"],
                message_id=row["message_id"],
                actor=actor,
            )
        if progress is not None:
            progress(len(batch))
    log.info(
        "dead letters purged",
        run_id=outcome.run_id,
        actor=actor,
        selection=dict(selection or {}),
        purged=len(outcome.done),
        per_queue=dict(outcome.per_queue()),
    )
    return outcome


def letter_document(engine: sa.Engine, letter_id: int) -> dict[str, Any] | None:
    """What ``calsync dlq show`` shows (and the console's letter page): the row, its
    headers and body with secrets redacted, every death of its message, what was done."""
    with engine.connect() as conn:
        row = dead_letters.get(conn, letter_id)
        if row is None:
            return None
        failures = (
            dead_letters.failures_of(conn, row["message_id"])
            if row["message_id"]
            else [{k: v for k, v in row.items() if k not in ("headers", "body")}]
        )
        history = dead_letters.audit_of(conn, letter_id)
    headers = render.headers_view(row["headers"])
    return {
        **{k: v for k, v in row.items() if k not in ("headers", "body")},
        "headers": headers,
        "body": render.body_view(bytes(row["body"])),
        "failures": failures,
        "broker_deaths": headers.get("x-death") or [],
        "history": history,
    }


def replays_before(row: Mapping[str, Any]) -> int:
    """Replays of this message so far: before it died this time (its header), and since."""
    try:
        earlier = int(row["headers"].get(REPLAY_COUNT) or 0)
    except (TypeError, ValueError):
        earlier = 0
    return earlier + int(row["replay_count"] or 0)


def replay_message(
    row: Mapping[str, Any], *, count: int, actor: str, now: datetime
) -> OutgoingMessage:
    """The copy of a stored letter that goes back to its queue."""
    dropped = set(FAILURE_HEADERS) | set(REPLAY_HEADERS)
    headers = {k: v for k, v in retry.forwarded(row["headers"]).items() if k not in dropped}
    headers.update(
        {
            REPLAY_COUNT: count,
            REPLAYED_BY: actor,
            REPLAYED_AT: now.astimezone(UTC).isoformat(),
            REPLAYED_FROM: int(row["id"]),
        }
    )
    body = bytes(row["body"])
    envelope = _envelope(body)
    properties: dict[str, Any] = {}
    message_id = _original_message_id(row["message_id"], envelope)
    if message_id is not None:
        properties["message_id"] = message_id
    if envelope is not None:
        properties["type"] = envelope.type
        # "binary", like the worker's own retry copies: consumers get the body's bytes as sent.
        return OutgoingMessage(
            body=body, headers=headers, content_type="application/json", properties=properties
        )
    return OutgoingMessage(body=body, headers=headers, properties=properties)


def _original_message_id(stored: str | None, envelope: Envelope | None) -> str | None:
    # The column keeps 64 characters; an envelope id may be longer and was cut to fit.
    if envelope is not None and (stored is None or envelope.id.startswith(stored)):
        return envelope.id
    return stored


def _envelope(body: bytes) -> Envelope | None:
    try:
        return Envelope.from_json(body)
    except EnvelopeError:
        return None


def _audit(
    outcome: Outcome,
    row: Mapping[str, Any],
    *,
    actor: str,
    at: datetime,
    detail: dict[str, Any],
) -> AuditEntry:
    return AuditEntry(
        run_id=outcome.run_id,
        action=outcome.action,
        dead_letter_id=int(row["id"]),
        message_id=row["message_id"],
        queue=str(row["queue"]),
        reason=str(row["reason"]),
        actor=actor,
        at=at,
        detail=detail,
    )


def _one_line(error: BaseException) -> str:
    lines = redact_text(str(error)).strip().splitlines()
    if isinstance(error, NotMarked):
        return lines[0] if lines else "not marked replayed"
    if isinstance(error, RepublishFailed):
        return f"not replayed: not confirmed by the broker: {lines[0] if lines else 'no reason'}"
    return f"not replayed: {_describe(error)}"


def _describe(error: BaseException) -> str:
    lines = redact_text(str(error)).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
