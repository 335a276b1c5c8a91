"""Prometheus metrics of the consume loop, one set for every queue (labelled by queue)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MESSAGES_CONSUMED = Counter(
    "calsync_messages_consumed_total", "Deliveries taken from a queue.", ["queue"]
)
MESSAGES_ACKED = Counter(
    "calsync_messages_acked_total", "Messages handled and acknowledged.", ["queue"]
)
MESSAGES_RETRIED = Counter(
    "calsync_messages_retried_total", "Messages sent to a retry queue after a failure.", ["queue"]
)
MESSAGES_DEAD_LETTERED = Counter(
    "calsync_messages_dead_lettered_total",
    "Messages given up on, by reason (retries_exhausted, permanent, undecodable).",
    ["queue", "reason"],
)
MESSAGE_PROCESSING_SECONDS = Histogram(
    "calsync_message_processing_seconds",
    "From delivery to ack, retry or dead letter.",
    ["queue"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
