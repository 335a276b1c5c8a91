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
            outcome = self._syncer.handle_hint(connection_id, envelope.id)
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
        if outcome is SyncOutcome.COALESCED and context.redelivered:
            # A redelivery usually means the consumer that had it died, possibly while it
            # held this connection's lease; retrying after a delay outlives that lease,
            # where acking would leave the requested sync waiting for the next hint.
            raise Retriable("connection held, possibly by a worker that died; retrying later")
        if outcome is SyncOutcome.UNKNOWN:
            log.info("hint for an unknown connection ignored", connection_id=connection_id)
