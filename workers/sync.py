"""The ``sync`` queue: provider hints (Google push, Graph change notifications, polls)."""

from __future__ import annotations

import structlog
from prometheus_client import Counter

from adapters.broker.envelope import Envelope
from adapters.calendar.errors import (
    CursorExpired,
    ProviderRejected,
    ProviderUnavailable,
)
from workers.base import MessageContext
from workers.calendar_sync import CalendarSyncer, SyncOutcome
from workers.errors import Permanent, Retriable

log = structlog.get_logger("calsync.sync")

SYNC_RUNS = Counter(
    "calsync_sync_runs_total", "Hints handled by the sync worker, by outcome", ["outcome"]
)


class SyncHandler:
    """Handler (see ``workers.base``) of the sync queue."""

    def __init__(self, syncer: CalendarSyncer) -> None:
        self._syncer = syncer

    def handle(self, envelope: Envelope, context: MessageContext) -> None:
        connection_id = envelope.connection_id or envelope.payload.get("connection_id")
        if not isinstance(connection_id, str) or not connection_id:
            raise Permanent("the hint names no connection")
        try:
            outcome = self._syncer.handle_hint(connection_id, envelope.id, envelope.received_at)
        except ProviderUnavailable as exc:
            SYNC_RUNS.labels("provider_unavailable").inc()
            raise Retriable(f"provider unavailable: {exc}") from exc
        except CursorExpired as exc:
            SYNC_RUNS.labels("cursor_expired").inc()
            raise Retriable(f"cursor keeps expiring: {exc}") from exc
        except ProviderRejected as exc:
            SYNC_RUNS.labels("provider_rejected").inc()
            raise Permanent(f"provider refused the request: {exc}") from exc
        SYNC_RUNS.labels(outcome.value).inc()
        if outcome is SyncOutcome.COALESCED and _may_wait_on_a_dead_holder(context):
            # A redelivery usually means the consumer that had it died, possibly while it
            # held this connection's lease; acking would leave the requested sync waiting
            # for the next hint. Its retry copies come back without the redelivered flag
            # but are no fresher, so they retry too (5 s, 30 s, 300 s ...) until one
            # outlives that lease (60 s by default, longer than the first delays).
            raise Retriable("connection held, possibly by a worker that died; retrying later")
        if outcome is SyncOutcome.UNKNOWN:
            log.info("hint for an unknown connection ignored", connection_id=connection_id)


def _may_wait_on_a_dead_holder(context: MessageContext) -> bool:
    """Whether a coalesced hint should be retried rather than acked.

    By its last attempt (many minutes on) a dead holder's lease has run out, so whoever
    holds the connection then is alive and will sync: the hint is acked, not dead-lettered.
    """
    return (context.redelivered or context.attempt > 1) and not context.last_attempt
