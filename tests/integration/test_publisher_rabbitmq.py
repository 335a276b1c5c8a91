"""Confirmed publishing to real RabbitMQ: confirmed means queued, anything else fails loudly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from adapters.broker.backoff import ReconnectBackoff
from adapters.broker.envelope import Envelope
from adapters.broker.pika_publisher import PikaConfirmingPublisher
from adapters.broker.publisher import PublishFailed
from tests.conftest import queue_depth
from tests.support.broker import drain
from tests.support.tcp_proxy import TcpProxy


def hint(n: int = 0) -> Envelope:
    return Envelope(type="google.notification", payload={"n": n}, account_id="a", connection_id="c")


@pytest.fixture
def publisher(broker_url: str) -> Iterator[PikaConfirmingPublisher]:
    publisher = PikaConfirmingPublisher(broker_url)
    yield publisher
    publisher.close()


@pytest.fixture
def proxied(broker_url: str) -> Iterator[tuple[TcpProxy, str]]:
    parts = urlsplit(broker_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
    yield proxy, urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    proxy.close()


def test_confirmed_message_is_in_the_queue_persistent_with_its_id(publisher, broker_url) -> None:
    envelope = hint()

    publisher.publish(envelope, "sync")

    ((properties, received),) = drain(broker_url, "sync")
    assert received == envelope
    assert properties["message_id"] == envelope.id
    assert properties["delivery_mode"] == 2


def test_unroutable_message_fails(publisher) -> None:
    with pytest.raises(PublishFailed, match="unroutable"):
        publisher.publish(hint(), "no-such-queue")


def test_unreachable_broker_fails_fast() -> None:
    # Port 9 (discard) has no broker: the connection is refused at once.
    publisher = PikaConfirmingPublisher("amqp://guest:guest@127.0.0.1:9/", confirm_timeout=2)
    started = time.monotonic()
    try:
        with pytest.raises(PublishFailed, match="unavailable"):
            publisher.publish(hint(), "sync")
    finally:
        publisher.close()
    assert time.monotonic() - started < 2.5


class CountingBackoff(ReconnectBackoff):
    def __init__(self) -> None:
        super().__init__()
        self.wants = 0

    def want(self) -> None:
        self.wants += 1
        super().want()


def test_a_publish_failing_for_want_of_a_connection_hurries_the_reconnect() -> None:
    backoff = CountingBackoff()
    publisher = PikaConfirmingPublisher(
        "amqp://guest:guest@127.0.0.1:9/", confirm_timeout=2, backoff=backoff
    )
    try:
        for _ in range(2):
            with pytest.raises(PublishFailed, match="unavailable"):
                publisher.publish(hint(), "sync")
    finally:
        publisher.close()
    # Each failed publish tells the I/O thread to try again within a second (see
    # tests/unit/test_reconnect_backoff.py for the schedule this gives).
    assert backoff.wants == 2


def test_concurrent_publishes_are_all_confirmed_and_all_queued(publisher, broker_url) -> None:
    threads, each = 16, 25
    failures: list[Exception] = []

    def publish_many(t: int) -> None:
        for n in range(each):
            try:
                publisher.publish(hint(t * each + n), "sync")
            except PublishFailed as exc:
                failures.append(exc)

    workers = [threading.Thread(target=publish_many, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert failures == []
    numbers = sorted(envelope.payload["n"] for _props, envelope in drain(broker_url, "sync"))
    assert numbers == list(range(threads * each))


def test_a_cut_connection_fails_fast_then_recovers(proxied, broker_url) -> None:
    proxy, url = proxied
    publisher = PikaConfirmingPublisher(url, confirm_timeout=1)
    try:
        publisher.publish(hint(1), "sync")

        proxy.cut()
        with pytest.raises(PublishFailed):
            publisher.publish(hint(2), "sync")

        proxy.restore()
        deadline = time.monotonic() + 15
        while True:
            try:
                publisher.publish(hint(3), "sync")
                break
            except PublishFailed:
                assert time.monotonic() < deadline, "publisher never reconnected"
                time.sleep(0.1)
    finally:
        publisher.close()
    assert [e.payload["n"] for _p, e in drain(broker_url, "sync")] == [1, 3]
    assert queue_depth(broker_url, "sync") == 0
