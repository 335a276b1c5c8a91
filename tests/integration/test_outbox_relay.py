"""The outbox relay on SQLite and PostgreSQL against a real RabbitMQ: confirmed, in order per
appointment, and through a broker outage without losing a row (RELIABILITY.md §5.3)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from adapters.broker.envelope import Envelope, MessageType
from adapters.broker.pika_publisher import PikaConfirmingPublisher
from adapters.broker.publisher import PublishFailed
from adapters.sql import crm_store
from adapters.sql.crm_store import OutboxMessage
from adapters.sql.tables import outbox
from tests.conftest import queue_depth
from tests.support.broker import drain
from tests.support.tcp_proxy import TcpProxy
from workers.outbox_relay import OutboxRelay


def put(store: sa.Engine, n: int, appointment: str = "a1") -> str:
    request = Envelope(
        type=MessageType.WRITEBACK_REQUESTED,
        account_id="exempel",
        payload={"appointment_id": appointment, "n": n},
    )
    with store.begin() as conn:
        crm_store.enqueue(
            conn,
            OutboxMessage(
                message_id=request.id,
                account_id="exempel",
                routing_key="writeback",
                ordering_key=f"appointment:{appointment}",
                headers={"trace_id": request.trace_id},
                body=request.to_json().decode(),
            ),
            datetime.now(UTC),
        )
    return request.id


def rows(store: sa.Engine) -> list[sa.RowMapping]:
    with store.connect() as conn:
        return list(conn.execute(sa.select(outbox).order_by(outbox.c.id)).mappings())


@pytest.fixture
def publisher(broker_url: str) -> Iterator[PikaConfirmingPublisher]:
    made = PikaConfirmingPublisher(broker_url)
    yield made
    made.close()


def test_rows_are_published_confirmed_with_their_message_id_and_marked(
    store: sa.Engine, broker_url: str, publisher: PikaConfirmingPublisher
) -> None:
    ids = [put(store, n, appointment=f"a{n % 2}") for n in range(4)]
    relay = OutboxRelay(store, publisher)

    assert relay.tick() == 2  # one row per appointment per pass: order within each
    assert relay.tick() == 2
    assert relay.tick() == 0

    assert all(row["published_at"] is not None for row in rows(store))
    assert [row["attempts"] for row in rows(store)] == [1, 1, 1, 1]
    messages = drain(broker_url, "writeback")
    assert [props["message_id"] for props, _ in messages] == ids
    assert [envelope.id for _, envelope in messages] == ids
    assert queue_depth(broker_url, "writeback") == 0


class FlakyPublisher:
    """Refuses the first ``failures`` publishes, then records what it publishes."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.published: list[int] = []

    def publish(self, envelope: Envelope, queue: str, *, timeout: float | None = None) -> None:
        if self.failures:
            self.failures -= 1
            raise PublishFailed("broker unavailable")
        self.published.append(envelope.payload["n"])

    def close(self) -> None:
        pass


def test_a_failed_row_backs_off_and_holds_back_its_appointment(store: sa.Engine) -> None:
    for n in range(3):
        put(store, n)
    now = [datetime(2026, 11, 25, 12, tzinfo=UTC)]
    publisher = FlakyPublisher(failures=1)
    relay = OutboxRelay(store, publisher, backoff_seconds=(10,), clock=lambda: now[0])

    assert relay.tick() == 0
    (first, *_rest) = rows(store)
    assert (first["attempts"], first["last_error"]) == (1, "publish failed: broker unavailable")
    assert relay.tick() == 0  # backing off; the rows behind it wait too (no reordering)
    assert publisher.published == []

    now[0] = now[0].replace(second=11)
    while relay.tick():
        pass
    assert publisher.published == [0, 1, 2]
    assert [row["attempts"] for row in rows(store)] == [2, 1, 1]


def test_the_relay_survives_a_broker_outage_without_losing_a_row(
    store: sa.Engine, broker_url: str
) -> None:
    parts = urlsplit(broker_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
    url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    publisher = PikaConfirmingPublisher(url, confirm_timeout=1)
    relay = OutboxRelay(store, publisher, poll_seconds=0.05, backoff_seconds=(0.2,))
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    try:
        ids = [put(store, n, appointment=f"a{n % 3}") for n in range(10)]
        wait_until(lambda: all(row["published_at"] for row in rows(store)))

        proxy.cut()
        ids += [put(store, n, appointment=f"a{n % 3}") for n in range(10, 20)]
        wait_until(lambda: any(row["last_error"] for row in rows(store)))
        assert any(row["published_at"] is None for row in rows(store))

        proxy.restore()
        wait_until(lambda: all(row["published_at"] for row in rows(store)), timeout=20)
    finally:
        relay.stop()
        thread.join(timeout=10)
        publisher.close()
        proxy.close()

    messages = drain(broker_url, "writeback")
    seen = Counter(envelope.id for _, envelope in messages)
    assert set(seen) == set(ids)  # nothing lost; a duplicate keeps its id for the inbox
    order: dict[str, list[int]] = {}
    for _, envelope in messages:
        order.setdefault(envelope.payload["appointment_id"], []).append(envelope.payload["n"])
    for numbers in order.values():
        firsts = list(dict.fromkeys(numbers))
        assert firsts == sorted(firsts)  # never reordered per appointment


def wait_until(condition: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_two_relays_share_the_outbox_on_postgresql_keeping_each_appointments_order(
    store: sa.Engine, broker_url: str, publisher: PikaConfirmingPublisher
) -> None:
    if store.dialect.name != "postgresql":
        pytest.skip("SQLite runs a single relay")
    ids = [put(store, n, appointment=f"a{n % 3}") for n in range(30)]
    relays = [OutboxRelay(store, publisher, poll_seconds=0.02) for _ in range(2)]
    threads = [threading.Thread(target=relay.run, daemon=True) for relay in relays]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: all(row["published_at"] for row in rows(store)))
    finally:
        for relay in relays:
            relay.stop()
        for thread in threads:
            thread.join(timeout=10)

    messages = drain(broker_url, "writeback")
    assert sorted(envelope.id for _, envelope in messages) == sorted(ids)  # each row once
    order: dict[str, list[int]] = {}
    for _, envelope in messages:
        order.setdefault(envelope.payload["appointment_id"], []).append(envelope.payload["n"])
    assert all(numbers == sorted(numbers) for numbers in order.values())
