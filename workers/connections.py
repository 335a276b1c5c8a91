"""The ``connections`` queue: Graph lifecycle events about our subscriptions (PROVIDERS.md §B4).

- ``reauthorizationRequired``: renew the subscription (renewing reauthorizes it).
- ``subscriptionRemoved``: Graph dropped it; open a new one and sync what was missed.
- ``missed``: some notifications were never sent; a full delta resync.
Any other word is a newer event we do not know: logged and acknowledged.
"""

from __future__ import annotations

import structlog
from prometheus_client import Counter

from adapters.broker.envelope import Envelope
from adapters.sql.connections import SqlConnections
from workers.base import MessageContext
from workers.channel_upkeep import ChannelKeeper
from workers.errors import Permanent

log = structlog.get_logger("calsync.connections")

LIFECYCLE_EVENTS = Counter(
    "calsync_lifecycle_events_total", "Graph lifecycle events handled, by event", ["event"]
)


class LifecycleHandler:
    """Handler (see ``workers.base``) of the connections queue."""

    def __init__(self, keeper: ChannelKeeper, connections: SqlConnections) -> None:
        self._keeper = keeper
        self._connections = connections

    def handle(self, envelope: Envelope, context: MessageContext) -> None:
        subscription_id = envelope.payload.get("subscription_id")
        event = envelope.payload.get("lifecycle_event")
        connection_id = envelope.connection_id
        if not isinstance(subscription_id, str) or not isinstance(event, str) or not connection_id:
            raise Permanent("a lifecycle message names no subscription, event or connection")
        LIFECYCLE_EVENTS.labels(event if event in _KNOWN else "other").inc()
        if event == "reauthorizationRequired":
            self._keeper.renew(subscription_id)
        elif event == "subscriptionRemoved":
            self._keeper.recreate(connection_id, reason="subscription removed")
        elif event == "missed":
            record = self._connections.get(connection_id)
            if record is not None and record.status == "active":
                self._keeper.request_sync(record, reason="notifications missed", full=True)
        else:
            log.info(
                "lifecycle event ignored", lifecycle_event=event, subscription_id=subscription_id
            )


_KNOWN = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})
