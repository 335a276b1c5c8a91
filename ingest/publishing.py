"""Handing a message to the broker from a request: confirmed within a budget, or a 503."""

from __future__ import annotations

import time
from functools import cache

import structlog
from flask import current_app, g
from prometheus_client.metrics import Histogram

from adapters.broker.envelope import Envelope
from adapters.broker.publisher import PublishFailed
from adapters.broker.topology import WorkQueue
from ingest.errors import ApiError
from ingest.metrics import PUBLISH_CONFIRM_SECONDS
from ingest.ports import IngestPorts

log = structlog.get_logger("calsync.ingest")

#: Seconds a request waits for the broker's confirm (``app.config["PUBLISH_TIMEOUT"]``).
#: Graph counts an answer slower than 3 s against the endpoint, so stay well below.
DEFAULT_PUBLISH_TIMEOUT = 2.0
#: What a 503 tells the sender; Google and Graph use their own backoff anyway.
RETRY_AFTER_SECONDS = 5


def publish(envelope: Envelope, queue: WorkQueue) -> None:
    """Publish ``envelope`` to ``queue`` and wait for the broker to confirm it.

    Raises:
        ApiError: 503 ``broker_unavailable`` with ``Retry-After`` when the broker did not
            confirm; the sender must retry, because nothing was durably queued.
    """
    ports: IngestPorts = current_app.extensions["calsync"]
    timeout = float(current_app.config.get("PUBLISH_TIMEOUT", DEFAULT_PUBLISH_TIMEOUT))
    started = time.perf_counter()
    try:
        ports.publisher.publish(envelope, queue.name, timeout=timeout)
        _confirm_seconds(queue.name, "confirmed").observe(time.perf_counter() - started)
    except PublishFailed as exc:
        _confirm_seconds(queue.name, "failed").observe(time.perf_counter() - started)
        log.warning("publish failed", queue=queue.name, message_type=envelope.type, error=str(exc))
        raise ApiError(
            503,
            "broker_unavailable",
            "the message could not be queued; retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None


@cache
def _confirm_seconds(queue: str, outcome: str) -> Histogram:
    """The histogram child of one queue and outcome (a handful exist; looked up once)."""
    return PUBLISH_CONFIRM_SECONDS.labels(queue, outcome)


def trace_id() -> str:
    """The request's trace id, carried on every message it publishes."""
    return str(g.trace_id)
