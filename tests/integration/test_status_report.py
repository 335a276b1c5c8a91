"""``calsync status``'s report, gathered from a real store and a real RabbitMQ: queue depths
and consumers by passive declare, dead letters, connections by status, the scheduler and the
oldest change not yet synced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from kombu import Connection, Queue

from adapters.broker.queue_depths import QueueDepth
from adapters.sql.status_report import Oldest
from adapters.status_report import gather
from tests.support.operations_world import seed_operations

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_report_reads_every_part_from_store_and_broker(
    store: sa.Engine, broker_url: str
) -> None:
    seed_operations(store, NOW)
    with Connection(broker_url) as connection:
        producer = connection.Producer()
        for n in range(3):
            producer.publish({"n": n}, routing_key="crm")
        consumer = connection.Consumer(Queue("sync", no_declare=True), callbacks=[])
        consumer.consume()  # one consumer attached to sync while the report is gathered
        report = gather(store, broker_url, lambda: NOW)
        consumer.cancel()

    depths = {q.queue: q for q in report.queues}
    assert depths["crm"] == QueueDepth("crm", 3, 0)
    assert depths["sync"] == QueueDepth("sync", 0, 1)
    assert {"calsync.dead", "writeback", "sync.retry.5s"} <= set(depths)
    assert report.broker_error is None
    assert [(s.queue, s.count, s.pending) for s in report.dead_letters] == [("sync", 1, 1)]
    assert report.connections == {
        "active": 2,
        "disconnected": 1,
        "failing": 2,
        "needs_reconnect": 1,
    }
    jobs = {j.name: j for j in report.jobs}
    assert jobs["renew_channels"].last_error == "ProviderUnavailable: 503"
    assert jobs["poll_quiet"].last_finished_at == NOW
    assert report.oldest_unsynced.sync_request == Oldest(NOW - timedelta(minutes=10), "a/bea")
    assert report.oldest_unsynced.outbox_row is not None
    assert report.oldest_unsynced.outbox_row.since == NOW - timedelta(minutes=3)
    assert report.oldest_unsynced.pending_write == Oldest(NOW - timedelta(minutes=4), "a/apt-1")
    assert report.at == NOW


def test_a_broker_that_does_not_answer_leaves_the_stores_part_whole(store: sa.Engine) -> None:
    seed_operations(store, NOW)

    report = gather(store, "amqp://guest:guest@127.0.0.1:1/", lambda: NOW)

    assert report.queues == []
    assert report.broker_error is not None
    assert "refused" in report.broker_error.lower()
    assert report.connections["needs_reconnect"] == 1
    assert report.oldest_unsynced.sync_request is not None


def test_an_idle_store_has_nothing_waiting(store: sa.Engine, broker_url: str) -> None:
    report = gather(store, broker_url, lambda: NOW)

    assert report.connections == {}
    assert report.dead_letters == []
    assert report.jobs == []
    assert report.oldest_unsynced.sync_request is None
    assert report.oldest_unsynced.outbox_row is None
    assert report.oldest_unsynced.pending_write is None
    assert all(q.messages == 0 for q in report.queues)
