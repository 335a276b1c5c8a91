"""Prometheus metrics of the HTTP front door, and the ``/metrics`` exposition."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from adapters.sql.gauges import STORE_GAUGES

#: Webhook items dropped without being queued, by source route and reason. A steady rate
#: of ``client_state_mismatch`` means someone is guessing, or a secret was rotated badly.
WEBHOOK_ITEMS_REJECTED = Counter(
    "calsync_webhook_items_rejected",
    "Webhook notification items dropped before queueing, by source and reason.",
    ["source", "reason"],
)
#: Requests by route template (never the raw path: ids would explode the label set).
HTTP_REQUESTS = Counter(
    "calsync_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "calsync_http_request_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10),
)
#: From handing a message to the publisher to the broker's confirm (or the give-up).
PUBLISH_CONFIRM_SECONDS = Histogram(
    "calsync_publish_confirm_seconds",
    "Time for the broker to confirm a message published by ingest, by queue and outcome.",
    ["queue", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3),
)


#: Methods counted under their own name. Any other is one label, ``other``: a client can send
#: any token as a method, and each distinct label is a new time series held for good.
COUNTED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of a request that matched no route (its raw path would explode the set).
UNMATCHED_ROUTE = "unmatched"


def observe_request(route: str | None, method: str, status: int, seconds: float) -> None:
    """Count and time one answered request under labels from a fixed, small set."""
    route_label = route or UNMATCHED_ROUTE
    method_label = method if method in COUNTED_METHODS else "other"
    HTTP_REQUESTS.labels(route_label, method_label, str(status)).inc()
    HTTP_REQUEST_SECONDS.labels(route_label).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The metrics page and its content type.

    Under gunicorn every worker process has its own counters; with
    ``PROMETHEUS_MULTIPROC_DIR`` set they are written there and summed here.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(STORE_GAUGES)  # read from SQL, the same whichever process answers
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
