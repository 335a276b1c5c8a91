"""The consume loop every queue shares: decode, log context, handle, then ack, retry or dead-letter.

A handler commits its own database transaction; the message is acked only after ``handle``
returns, so a crash anywhere before that replays it, and the handler's inbox row
(:func:`workers.inbox.claim_message`) makes the replay harmless. A failure goes to a TTL
retry queue that dead-letters back here (RabbitMQ), or is re-queued with a not-before time
(embedded broker); when attempts run out, or the handler says the failure is permanent, a
copy with the reason goes to the dead-letter queue. Every copy is confirmed before the
original is acked, and a copy that cannot be published leaves the original unacked.

On the embedded broker (kombu's SQL transport) there are no TTL queues: a retry copy goes
straight back to the work queue with ``calsync-not-before``, and the consumer holds a copy
that is not due yet for at most ``MAX_HOLD_SECONDS`` before re-queueing it. The guarantees
are weaker there: a held copy delays the messages behind it, delays are approximate, and
a killed process loses its unacked messages (RELIABILITY.md §2.2).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import sqlalchemy as sa
import structlog
from kombu.message import Message

from adapters.broker import topology
from adapters.broker.envelope import Envelope, EnvelopeError
from adapters.broker.topology import WorkQueue
from domain.clock import Clock, system_clock
from workers import metrics, retry
from workers.consumer import DEFAULT_PREFETCH, QueueConsumer
from workers.errors import Permanent, RepublishFailed, Retriable
from workers.republish import KombuRepublisher, OutgoingMessage, Republisher, is_amqp
from workers.runner import run_workers

__all__ = ["Handler", "MessageContext", "Worker", "data_refused", "is_permanent", "run_workers"]

log = structlog.get_logger("calsync.worker")

#: Longest the embedded broker's consumer holds a retry copy that is not due yet.
MAX_HOLD_SECONDS = 1.0
#: Pause before a message whose copy could not be published goes back to the queue, so a
#: broker in trouble is not hammered in a tight loop.
REPUBLISH_FAILURE_PAUSE = 1.0


@dataclass(frozen=True)
class MessageContext:
    """What a handler may want to know about the delivery besides the envelope."""

    queue: str
    #: 1 on the first delivery, counted by our ``calsync-attempt`` header.
    attempt: int
    max_attempts: int
    #: RabbitMQ's hint that this delivery may have been seen before (after a crash, say).
    redelivered: bool
    headers: Mapping[str, Any]

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


class Handler(Protocol):
    def handle(self, envelope: Envelope, context: MessageContext) -> None:
        """Do the message's work in one committed transaction, or raise.

        Raises:
            Retriable: a failure that may pass; any other ``Exception`` counts as one too,
                except the store refusing the message's data (:func:`data_refused`).
            Permanent: a failure that never will; the message is dead-lettered at once.
        """
        ...


class Worker(QueueConsumer):
    """Consume ``queue`` with ``handler`` until stopped (see :func:`run_workers`).

    Args:
        connection_url: kombu URL: ``amqp://…`` (RabbitMQ) or ``sqla+sqlite:///…`` (embedded).
        queue: the work queue; its retry queues are ``<name>.retry.<delay>s``.
        handler: does the work (see :class:`Handler`).
        prefetch: unacked deliveries held at once.
        publisher: where retry and dead-letter copies go; by default a confirming kombu
            publisher on a connection of its own, closed when the worker stops.
        retry_policy: attempts and delays; the delays must match declared retry queues.
        dead_letter_queue: where given-up messages go.
        clock: stamps failures and times retries held in the embedded broker.
    """

    def __init__(
        self,
        connection_url: str,
        queue: WorkQueue,
        handler: Handler,
        *,
        prefetch: int = DEFAULT_PREFETCH,
        publisher: Republisher | None = None,
        retry_policy: retry.RetryPolicy | None = None,
        dead_letter_queue: str = topology.DEAD_LETTER_QUEUE,
        clock: Clock = system_clock,
    ) -> None:
        super().__init__(connection_url, queue.name, prefetch=prefetch)
        self.clock = clock
        self.queue = queue
        self.handler = handler
        self._owns_publisher = publisher is None
        self.publisher = publisher or KombuRepublisher(connection_url)
        self.retry_policy = retry_policy or retry.RetryPolicy()
        self.dead_letter_queue = dead_letter_queue
        self._ttl_queues = is_amqp(self.connection)

    def run(self, _tokens: int = 1, **kwargs: Any) -> None:
        try:
            super().run(_tokens, **kwargs)
        finally:
            if self._owns_publisher:
                self.publisher.close()

    def on_delivery(self, message: Message) -> None:
        headers = dict(message.headers or {})
        attempt = retry.attempt_of(headers)
        with structlog.contextvars.bound_contextvars(
            queue=self.queue.name,
            attempt=attempt,
            message_id=message.properties.get("message_id"),
            trace_id=headers.get("trace_id"),
        ):
            if self._held(message, headers):
                return
            started = time.monotonic()
            metrics.MESSAGES_CONSUMED.labels(self.queue.name).inc()
            try:
                self._process(message, headers, attempt)
            finally:
                elapsed = time.monotonic() - started
                metrics.MESSAGE_PROCESSING_SECONDS.labels(self.queue.name).observe(elapsed)

    def _process(self, message: Message, headers: dict[str, Any], attempt: int) -> None:
        try:
            envelope = Envelope.from_json(message.body)
        except (EnvelopeError, RecursionError) as exc:  # JSON nested deeper than the stack
            log.error("undecodable message", error=str(exc))
            self._dead_letter(message, headers, retry.UNDECODABLE, exc, attempt)
            return
        context = MessageContext(
            queue=self.queue.name,
            attempt=attempt,
            max_attempts=self.retry_policy.max_attempts,
            redelivered=bool(message.delivery_info.get("redelivered", False)),
            headers=MappingProxyType(headers),
        )
        with structlog.contextvars.bound_contextvars(
            trace_id=envelope.trace_id, message_id=envelope.id, type=envelope.type
        ):
            self._run_handler(message, envelope, context)

    def _run_handler(self, message: Message, envelope: Envelope, context: MessageContext) -> None:
        try:
            self.handler.handle(envelope, context)
        except Exception as exc:  # noqa: BLE001 - every failure is sorted out in _failed
            self._failed(message, context, exc)
        else:
            message.ack()
            metrics.MESSAGES_ACKED.labels(self.queue.name).inc()
            log.info("message handled")

    def _failed(self, message: Message, context: MessageContext, exc: Exception) -> None:
        """Dead-letter a permanent failure at once; retry any other until attempts run out."""
        if is_permanent(exc):
            # No traceback: the failure is the message's, not the code's, and one line says it.
            reason = exc.reason if isinstance(exc, Permanent) else retry.error_message(exc)
            log.warning("permanent failure", error=reason, error_class=retry.error_class(exc))
            self._dead_letter(message, context.headers, retry.PERMANENT, exc, context.attempt)
            return
        if isinstance(exc, Retriable):
            log.warning("retriable failure", error=exc.reason)
        else:  # unforeseen errors are retried like Retriable
            log.exception("handler failed")
        if context.last_attempt:
            reason = retry.RETRIES_EXHAUSTED
            self._dead_letter(message, context.headers, reason, exc, context.attempt)
        else:
            self._retry(message, context.headers, context.attempt, exc)

    def _retry(
        self, message: Message, headers: Mapping[str, Any], attempt: int, error: Exception
    ) -> None:
        delay = self.retry_policy.delay_before(attempt + 1)
        copy = retry.retry_headers(headers, attempt=attempt, error=error, now=self.clock())
        if self._ttl_queues:
            target = self.queue.retry_queue(delay)
        else:
            copy[retry.NOT_BEFORE] = self.clock().timestamp() + delay
            target = self.queue.name
        if self._republish(message, copy, target):
            metrics.MESSAGES_RETRIED.labels(self.queue.name).inc()
            log.info("message scheduled for retry", retry_queue=target, delay_seconds=delay)

    def _dead_letter(
        self,
        message: Message,
        headers: Mapping[str, Any],
        reason: str,
        error: Exception,
        attempt: int,
    ) -> None:
        copy = retry.dead_letter_headers(
            headers,
            reason=reason,
            error=error,
            attempts=attempt,
            queue=self.queue.name,
            now=self.clock(),
        )
        if self._republish(message, copy, self.dead_letter_queue):
            metrics.MESSAGES_DEAD_LETTERED.labels(self.queue.name, reason).inc()
            log.warning("message dead-lettered", reason=reason, attempts=attempt)

    def _republish(self, message: Message, headers: dict[str, Any], target: str) -> bool:
        """Publish a copy to ``target``, confirmed, then ack the original; False if it failed."""
        try:
            self.publisher.republish(OutgoingMessage.copy_of(message, headers), target)
        except RepublishFailed as exc:
            log.error(
                "copy not published; message goes back to the queue", target=target, error=str(exc)
            )
            self.pause(REPUBLISH_FAILURE_PAUSE)
            message.requeue()
            return False
        message.ack()
        return True

    def _held(self, message: Message, headers: dict[str, Any]) -> bool:
        """Wait for a not-yet-due retry copy (embedded broker); True if it was not handled."""
        remaining = retry.due_in(headers, self.clock().timestamp())
        if remaining <= 0:
            return False
        if self.pause(min(remaining, MAX_HOLD_SECONDS)):
            return True  # stopping: left unacked, it is restored to the queue on close
        if remaining <= MAX_HOLD_SECONDS:
            return False
        self._republish(message, retry.forwarded(headers), self.queue.name)
        return True


def is_permanent(error: BaseException) -> bool:
    """True for a failure the same message meets on every attempt (see :func:`data_refused`)."""
    return isinstance(error, Permanent) or data_refused(error)


def data_refused(error: BaseException) -> bool:
    """True when the store refuses the data itself, whatever its state.

    PostgreSQL raises a data error for a NUL in text or a number out of range, and no
    store can encode a lone surrogate; trying again only delays the dead letter (and a
    database that is down raises ``OperationalError``, which stays retriable).
    """
    if isinstance(error, sa.exc.DataError):
        return True
    cause = error.orig if isinstance(error, sa.exc.StatementError) else error
    return isinstance(cause, UnicodeEncodeError)
