"""Prometheus metrics of the HTTP front door."""

from __future__ import annotations

from prometheus_client import Counter

#: Webhook items dropped without being queued, by source route and reason. A steady rate
#: of ``client_state_mismatch`` means someone is guessing, or a secret was rotated badly.
WEBHOOK_ITEMS_REJECTED = Counter(
    "calsync_webhook_items_rejected",
    "Webhook notification items dropped before queueing, by source and reason.",
    ["source", "reason"],
)
