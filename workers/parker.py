"""The dead-letter parker: every message in ``calsync.dead`` becomes a ``dead_letters`` row.

Two kinds of dead letter arrive. Ours carry ``calsync-reason`` and the other ``calsync-*``
headers (see ``workers.retry``). RabbitMQ's own (past the delivery limit, or rejected)
carry only ``x-death``; we read the newest entry, which names the queue and reason of the
death that brought the message here. Either kind is parked even when its body is not an
envelope. The message is acked only after the row commits; a redelivered dead letter (the
parker died between commit and ack, or at-least-once dead-lettering duplicated it) is
recognised through the inbox and parked once.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from kombu.message import Message

from adapters.broker import topology
from adapters.broker.envelope import Envelope, EnvelopeError
from adapters.sql import dead_letters
from adapters.sql.dead_letters import DeadLetter
from domain.clock import Clock, system_clock
from workers import retry
from workers.base import data_refused
from workers.consumer import DEFAULT_PREFETCH, QueueConsumer
from workers.inbox import claim_message

log = structlog.get_logger("calsync.parker")

#: The parker's name in the inbox.
CONSUMER = "calsync.parker"
#: ``reason`` of a letter whose headers could not be read (the body is kept all the same).
UNREADABLE = "unreadable"
#: The text of unreadable headers is cut to this length.
MAX_HEADERS_TEXT = 10_000
#: Pauses before a dead letter that could not be stored goes back to the queue: the first,
#: doubled on each failure in a row up to the last, so a store that stays down costs a line
#: every ten seconds rather than a traceback a second. The cap is also how long the letters
#: (safe in the queue meanwhile) may wait once the store is back.
PARK_FAILURE_PAUSE = 1.0
MAX_PARK_FAILURE_PAUSE = 10.0


class DeadLetterParker(QueueConsumer):
    """Consume the dead-letter queue into the ``dead_letters`` table of ``engine``.

    Every message is stored: one the store refuses as it came (a NUL in text on PostgreSQL,
    a lone surrogate) is stored reduced (``dead_letters.reduced``), so none goes round the
    queue for ever. Only a store that cannot be reached keeps a message in the queue.
    """

    def __init__(
        self,
        connection_url: str,
        engine: sa.Engine,
        *,
        queue: str = topology.DEAD_LETTER_QUEUE,
        prefetch: int = DEFAULT_PREFETCH,
        clock: Clock = system_clock,
    ) -> None:
        super().__init__(connection_url, queue, prefetch=prefetch)
        self.engine = engine
        self.clock = clock
        #: Deliveries in a row that could not be stored (sets the next pause).
        self.failures = 0

    def on_delivery(self, message: Message) -> None:
        letter = dead_letter_from(
            message.body,
            message.headers or {},
            message.properties,
            message.delivery_info,
            now=self.clock(),
        )
        with structlog.contextvars.bound_contextvars(
            queue=self.queue_name,
            message_id=_printable(letter.message_id),
            trace_id=_printable(letter.trace_id),
        ):
            try:
                fresh, letter = self._park(letter)
            except Exception as exc:  # noqa: BLE001 - the store is down: keep it, try later
                self._park_failed(message, exc)
                return
            self.failures = 0
            message.ack()
            log.warning(
                "dead letter parked" if fresh else "dead letter parked before; duplicate dropped",
                original_queue=letter.queue,
                reason=letter.reason,
                error_class=letter.error_class,
            )

    def _park(self, letter: DeadLetter) -> tuple[bool, DeadLetter]:
        """Store ``letter``, reduced if the store refuses it as it is; (fresh, what was stored)."""
        key = dedupe_key(letter)  # of the letter as it came, so a redelivery matches
        try:
            return self._store(letter, key), letter
        except Exception as exc:
            if not data_refused(exc):
                raise
            refusal = _one_line(exc)
        log.warning("dead letter refused by the store as it came; parked reduced", error=refusal)
        stored = dead_letters.reduced(letter, refusal)
        return self._store(stored, key), stored

    def _store(self, letter: DeadLetter, key: str | None) -> bool:
        """Park ``letter`` in one transaction; False if its key was parked before."""
        with self.engine.begin() as conn:
            fresh = key is None or claim_message(conn, CONSUMER, key, letter.parked_at)
            if fresh:
                dead_letters.park(conn, letter)
        return fresh

    def _park_failed(self, message: Message, error: BaseException) -> None:
        self.failures += 1
        pause = min(PARK_FAILURE_PAUSE * 2 ** min(self.failures - 1, 16), MAX_PARK_FAILURE_PAUSE)
        # One line, no traceback: the cause is the store, and it repeats until the store is back.
        log.warning(
            "dead letter not parked; back to the queue",
            error=_one_line(error),
            failures_in_a_row=self.failures,
            retry_in_seconds=pause,
        )
        self.pause(pause)
        message.requeue()


def dead_letter_from(
    body: bytes | str,
    headers: Mapping[str, Any],
    properties: Mapping[str, Any],
    delivery_info: Mapping[str, Any],
    *,
    now: datetime,
) -> DeadLetter:
    """The row for one dead-lettered delivery, whatever it carries."""
    raw = body if isinstance(body, bytes) else str(body).encode("utf-8", "surrogatepass")
    try:
        return _read_letter(raw, headers, properties, delivery_info, now=now)
    except Exception as exc:  # noqa: BLE001 - headers no one foresaw must not loop the letter
        return _bare_letter(raw, headers, properties, delivery_info, _one_line(exc), now=now)


def _bare_letter(
    body: bytes,
    headers: Mapping[str, Any],
    properties: Mapping[str, Any],
    delivery_info: Mapping[str, Any],
    why: str,
    *,
    now: datetime,
) -> DeadLetter:
    """The letter of a delivery whose headers could not be read: its body, and their text."""
    queue = _text(delivery_info.get("routing_key")) or ""
    return DeadLetter(
        queue=queue,
        reason=UNREADABLE,
        # repr escapes what a store refuses (NUL, lone surrogates) in the headers' text
        headers={
            dead_letters.REDUCED: dead_letters.printable(why),
            "headers": repr(dict(headers))[:MAX_HEADERS_TEXT],
        },
        body=body,
        attempts=0,
        first_failed_at=now,
        last_failed_at=now,
        parked_at=now,
        message_id=_text(properties.get("message_id")),
        routing_key=queue,
    )


def _read_letter(
    raw: bytes,
    headers: Mapping[str, Any],
    properties: Mapping[str, Any],
    delivery_info: Mapping[str, Any],
    *,
    now: datetime,
) -> DeadLetter:
    envelope = _envelope(raw)
    death = _broker_death(headers, delivery_info)
    common: dict[str, Any] = {
        "headers": json_safe(dict(headers)),
        "body": raw,
        "parked_at": now,
        "message_id": _text(properties.get("message_id")) or (envelope.id if envelope else None),
        "error_class": _text(headers.get(retry.ERROR_CLASS)),
        "error_message": _text(headers.get(retry.ERROR_MESSAGE)),
        "account_id": envelope.account_id if envelope else _text(headers.get("account_id")),
        "trace_id": envelope.trace_id if envelope else _text(headers.get("trace_id")),
    }
    first_failed = _instant(headers.get(retry.FIRST_FAILED_AT))
    if death is not None:  # RabbitMQ dead-lettered it: past the delivery limit, say
        died_at = _instant(death.get("time")) or now
        keys = death.get("routing-keys") or [death.get("queue")]
        return DeadLetter(
            queue=_text(death.get("queue")) or "",
            reason=_text(death.get("reason")) or "unknown",
            exchange=_text(death.get("exchange")) or "",
            routing_key=_text(keys[0]) or "",
            attempts=retry.attempt_of(headers),
            first_failed_at=first_failed or died_at,
            last_failed_at=died_at,
            **common,
        )
    queue = _text(headers.get(retry.ORIGINAL_QUEUE)) or _text(delivery_info.get("routing_key"))
    reason = _text(headers.get(retry.REASON))
    if reason is None:
        reason = retry.UNDECODABLE if envelope is None else "unknown"
    last_failed = _instant(headers.get(retry.LAST_FAILED_AT)) or now
    return DeadLetter(
        queue=queue or "",
        reason=reason,
        routing_key=queue or "",
        attempts=_int(headers.get(retry.ATTEMPTS)) or retry.attempt_of(headers),
        first_failed_at=first_failed or last_failed,
        last_failed_at=last_failed,
        **common,
    )


def dedupe_key(letter: DeadLetter) -> str | None:
    """Same message, same death: same key. None without a message id (nothing to go by)."""
    if letter.message_id is None:
        return None
    death = letter.headers.get("x-death") or [{}]
    identity = [
        letter.message_id,
        letter.queue,
        letter.reason,
        letter.attempts,
        letter.last_failed_at.isoformat(),
        json.dumps(death[0], sort_keys=True, default=str),
    ]
    return hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()


def json_safe(value: Any) -> Any:
    """AMQP header values as JSON: bytes as text (or base64), times as ISO 8601 UTC."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes):
        return _bytes_as_json(value)
    if isinstance(value, datetime):
        return _aware(value).isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # Decimal and anything else exotic


def _bytes_as_json(value: bytes) -> Any:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(value).decode()}


def _broker_death(
    headers: Mapping[str, Any], delivery_info: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The newest ``x-death`` entry, if RabbitMQ (not we) put the message here."""
    deaths = headers.get("x-death")
    if not isinstance(deaths, list | tuple) or not deaths or not isinstance(deaths[0], Mapping):
        return None
    via_broker = delivery_info.get("exchange") == topology.DEAD_LETTER_EXCHANGE
    return deaths[0] if via_broker or retry.REASON not in headers else None


def _envelope(body: bytes) -> Envelope | None:
    try:
        return Envelope.from_json(body)
    except (EnvelopeError, RecursionError):  # JSON nested deeper than the stack: no envelope
        return None


def _one_line(error: BaseException) -> str:
    """``error``'s class and first line, secrets redacted (a data error's SQL comes after)."""
    lines = retry.error_message(error).splitlines() or [""]
    return f"{retry.error_class(error)}: {lines[0]}"


def _printable(value: str | None) -> str | None:
    return dead_letters.printable(value) if value is not None else None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return str(value) if value not in (None, "") else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _aware(value)
    text = _text(value)
    if text is None:
        return None
    try:
        return _aware(datetime.fromisoformat(text))
    except ValueError:
        return None


def _aware(value: datetime) -> datetime:
    # RabbitMQ's x-death times are naive UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
