"""The outbox relay: publishes what handlers committed to the ``outbox`` table.

A handler that must send a message (the CRM worker's calendar write requests) inserts an
outbox row in the transaction of its effects; this relay polls the due rows in id order,
publishes each with publisher confirms to its routing key under the row's ``message_id``
(so the consumer's inbox absorbs a duplicate), and marks it published in the same
transaction that locked it. A crash between the confirm and the commit publishes the row
again: delivery is at least once, never lost (RELIABILITY.md §5.3).

A failed publish counts an attempt, keeps the error, and waits (``BACKOFF_SECONDS``) before
the row is tried again; the rows behind it with the same ordering key (one appointment)
wait with it, so one appointment's requests are never reordered. When the broker is
unreachable the relay stops the batch at the first failure and polls again later.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
import structlog
from prometheus_client import Counter

from adapters.broker.envelope import Envelope, EnvelopeError
from adapters.broker.publisher import Publisher, PublishFailed
from adapters.sql import outbox as outbox_store
from domain.clock import Clock, system_clock

log = structlog.get_logger("calsync.outbox")

OUTBOX_PUBLISHED = Counter(
    "calsync_outbox_published_total", "Outbox rows published, by outcome.", ["outcome"]
)

#: Waits after the 1st, 2nd, ... failure of a row; the last one repeats.
BACKOFF_SECONDS = (1, 5, 30, 120, 600)
#: Rows claimed per transaction.
BATCH = 100
#: Seconds a publish waits for the broker's confirm.
CONFIRM_TIMEOUT = 5.0


def backoff(attempts: int, delays: Sequence[float] = BACKOFF_SECONDS) -> timedelta:
    """The wait after a row's ``attempts``-th failure."""
    return timedelta(seconds=delays[min(max(attempts, 1), len(delays)) - 1])


class OutboxRelay:
    """Runnable (see ``workers.runner``) that publishes the outbox until stopped."""

    queue_name = "outbox-relay"  # for workers.runner, which runs it beside the consumers

    def __init__(
        self,
        engine: sa.Engine,
        publisher: Publisher,
        *,
        poll_seconds: float = 1.0,
        batch: int = BATCH,
        confirm_timeout: float = CONFIRM_TIMEOUT,
        backoff_seconds: Sequence[float] = BACKOFF_SECONDS,
        clock: Clock = system_clock,
        owns_publisher: bool = False,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._poll_seconds = poll_seconds
        self._batch = batch
        self._confirm_timeout = confirm_timeout
        self._backoff = tuple(backoff_seconds)
        self._clock = clock
        self._owns_publisher = owns_publisher
        self._stopping = threading.Event()
        self._name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def tick(self) -> int:
        """Publish the rows due now, one batch; returns how many were published."""
        published = 0
        with self._engine.begin() as conn:
            now = self._clock()
            for row in outbox_store.claim_due(conn, now, self._batch):
                if self._stopping.is_set():
                    break
                error = self._publish(row)
                if error is None:
                    outbox_store.mark_published(conn, row.id, self._clock())
                    OUTBOX_PUBLISHED.labels("published").inc()
                    published += 1
                    continue
                attempts = row.attempts + 1
                retry_at = self._clock() + backoff(attempts, self._backoff)
                outbox_store.mark_failed(conn, row.id, error, retry_at)
                OUTBOX_PUBLISHED.labels("failed").inc()
                log.warning(
                    "outbox row not published; will retry",
                    message_id=row.message_id,
                    routing_key=row.routing_key,
                    attempts=attempts,
                    retry_at=retry_at.isoformat(),
                    error=error,
                )
                break  # the broker is in trouble: keep the rest for the next poll
        return published

    def run(self) -> None:
        """Tick until ``stop``; a failing tick (database down) is logged and retried."""
        log.info("outbox relay started", relay=self._name)
        try:
            while not self._stopping.is_set():
                try:
                    busy = self.tick() > 0
                except Exception:  # the store is unreachable: keep trying, never die
                    log.exception("outbox relay tick failed")
                    busy = False
                if not busy:
                    self._stopping.wait(self._poll_seconds)
        finally:
            if self._owns_publisher:
                self._publisher.close()
            log.info("outbox relay stopped", relay=self._name)

    def stop(self) -> None:
        self._stopping.set()

    def abort(self) -> None:
        self._stopping.set()

    def _publish(self, row: outbox_store.OutboxRow) -> str | None:
        """Publish one row; the error to record, or None once the broker confirmed it."""
        if row.exchange:
            return f"exchange {row.exchange!r}: only the default exchange is supported"
        try:
            envelope = Envelope.from_json(row.body)
        except EnvelopeError as exc:
            return f"not an envelope: {exc}"
        if envelope.id != row.message_id:
            return f"envelope id {envelope.id} is not the row's message id {row.message_id}"
        try:
            self._publisher.publish(envelope, row.routing_key, timeout=self._confirm_timeout)
        except PublishFailed as exc:
            return f"publish failed: {exc}"
        return None
