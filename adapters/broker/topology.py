"""Broker topology as data: every exchange and queue, declared from here and nowhere else.

Work queues are durable quorum queues. A failed message is retried through TTL queues that
dead-letter back to its work queue (no sleeping consumer holds it); when retries run out, or
RabbitMQ's own delivery limit is passed, it lands in the dead-letter queue, whose parker
keeps it in SQL for ``calsync dlq``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Messages go through the default exchange, routing key = queue name: RabbitMQ and kombu's
#: embedded transports route it alike, with no bindings to keep in step.
EXCHANGE = ""
#: Where work queues dead-letter (rejections, delivery limit) and where we give up to.
DEAD_LETTER_EXCHANGE = "calsync.dlx"
DEAD_LETTER_QUEUE = "calsync.dead"
#: Failed deliveries before RabbitMQ itself dead-letters a message (a crash loop, say).
DELIVERY_LIMIT = 10
#: Waits before attempts 2, 3, 4 …; the last one repeats until attempts run out.
RETRY_DELAYS_SECONDS = (5, 30, 300)
#: Attempts (first try included) before a retriable failure is dead-lettered.
MAX_ATTEMPTS = 6
#: Backlog bound per work queue; past it publishers are refused (and answer 503), not dropped.
MAX_QUEUE_LENGTH = 1_000_000


@dataclass(frozen=True)
class WorkQueue:
    name: str
    #: What the queue carries, for `calsync broker declare` output and the runbook.
    purpose: str

    def retry_queue(self, delay_seconds: int) -> str:
        return f"{self.name}.retry.{delay_seconds}s"


SYNC = WorkQueue("sync", "provider hints: sync one calendar connection")
CONNECTIONS = WorkQueue("connections", "Graph lifecycle events and channel upkeep")
CRM = WorkQueue("crm", "CRM events: appointment and directory saves")
WRITEBACK = WorkQueue("writeback", "CRM appointments to write to Google or Microsoft")

WORK_QUEUES = (SYNC, CONNECTIONS, CRM, WRITEBACK)


def work_queue_arguments() -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        # At-least-once dead-lettering keeps a message until the dead-letter queue has it;
        # it needs reject-publish overflow (RELIABILITY.md §1.6).
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-max-length": MAX_QUEUE_LENGTH,
    }


def retry_queue_arguments(queue: WorkQueue, delay_seconds: int) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-message-ttl": delay_seconds * 1000,
        # Expired messages go back to the work queue through the default exchange.
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue.name,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


#: First RabbitMQ whose quorum queues read ``x-delivery-limit: -1`` as "no limit".
UNLIMITED_DELIVERY_SINCE = (4, 0)


def dead_letter_queue_arguments(
    broker_version: tuple[int, ...] = UNLIMITED_DELIVERY_SINCE,
) -> dict[str, Any]:
    # The parker requeues while the store is down, so this queue must never drop a message
    # for being returned. Since RabbitMQ 4.0 a quorum queue drops it after 20 returns unless
    # the limit is -1; before 4.0 there is no limit by default, and -1 drops the message at
    # its first return (measured on 3.10.8: the fault drill lost a dead letter that way).
    if broker_version >= UNLIMITED_DELIVERY_SINCE:
        return {"x-queue-type": "quorum", "x-delivery-limit": -1}
    return {"x-queue-type": "quorum"}


def retry_delay(attempt: int) -> int:
    """Seconds to wait before ``attempt`` (2 = the first retry)."""
    return RETRY_DELAYS_SECONDS[min(attempt - 2, len(RETRY_DELAYS_SECONDS) - 1)]
