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
from workers import retry
from workers.consumer import DEFAULT_PREFETCH, QueueConsumer
from workers.inbox import claim_message

log = structlog.get_logger("calsync.parker")

#: The parker's name in the inbox.
CONSUMER = "calsync.parker"
#: Pause before a dead letter that could not be stored goes back to the queue.
PARK_FAILURE_PAUSE = 1.0


class DeadLetterParker(QueueConsumer):
    """Consume the dead-letter queue into the ``dead_letters`` table of ``engine``."""

    def __init__(
        self,
        connection_url: str,
        engine: sa.Engine,
        *,
        queue: str = topology.DEAD_LETTER_QUEUE,
        prefetch: int = DEFAULT_PREFETCH,
    ) -> None:
        super().__init__(connection_url, queue, prefetch=prefetch)
        self.engine = engine

    def on_delivery(self, message: Message) -> None:
        letter = dead_letter_from(
            message.body,
            message.headers or {},
            message.properties,
            message.delivery_info,
            now=datetime.now(UTC),
        )
        with structlog.contextvars.bound_contextvars(
            queue=self.queue_name, message_id=letter.message_id, trace_id=letter.trace_id
        ):
            try:
                with self.engine.begin() as conn:
                    key = dedupe_key(letter)
                    fresh = key is None or claim_message(conn, CONSUMER, key)
                    if fresh:
                        dead_letters.park(conn, letter)
            except Exception:  # the store is down: keep the message, try later
                log.exception("dead letter not parked; back to the queue")
                self.pause(PARK_FAILURE_PAUSE)
                message.requeue()
                return
            message.ack()
            log.warning(
                "dead letter parked" if fresh else "dead letter parked before; duplicate dropped",
                original_queue=letter.queue,
                reason=letter.reason,
                error_class=letter.error_class,
            )


def dead_letter_from(
    body: bytes | str,
    headers: Mapping[str, Any],
    properties: Mapping[str, Any],
    delivery_info: Mapping[str, Any],
    *,
    now: datetime,
) -> DeadLetter:
    """The row for one dead-lettered delivery, whatever it carries."""
    raw = body if isinstance(body, bytes) else str(body).encode()
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
    except EnvelopeError:
        return None


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
