"""The shared consume loop on real RabbitMQ, on the embedded broker, and with real SQL.

Each test runs a real ``Worker`` (in a thread, or in a subprocess where signals and crashes
are the point) on a real queue. Work queues made here get a 1 s retry queue through the
topology helpers, so retries are quick while the production delays stay as they are.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
import structlog
from kombu import Connection, Producer, Queue
from prometheus_client import REGISTRY

from adapters.broker import topology
from adapters.broker.envelope import Envelope
from adapters.broker.kombu_publisher import KombuPublisher
from adapters.broker.topology import WorkQueue
from adapters.sql import dead_letters as dead_letters_module
from adapters.sql.tables import dead_letters
from domain.clock import system_clock
from tests.conftest import queue_depth
from tests.support.tcp_proxy import TcpProxy
from tests.support.worker_process import CRASH_STATUS
from workers.base import MessageContext, Worker, run_workers
from workers.consumer import QueueConsumer
from workers.errors import Permanent, RepublishFailed, Retriable
from workers.inbox import claim_message
from workers.parker import DeadLetterParker
from workers.republish import KombuRepublisher, OutgoingMessage
from workers.retry import MAX_ERROR_MESSAGE, RetryPolicy, error_class, error_message

ROOT = Path(__file__).resolve().parents[2]
#: Seconds in the test work queues' one retry queue (a queue name holds whole seconds).
RETRY_DELAY = 1
FAST_RETRIES = RetryPolicy(max_attempts=3, delays_seconds=(RETRY_DELAY,))


# -- helpers ------------------------------------------------------------------------------------


def hint(n: int = 0) -> Envelope:
    return Envelope(
        type="sync.requested", payload={"n": n}, account_id="acct-1", connection_id="conn-1"
    )


@dataclass(frozen=True)
class Call:
    message_id: str
    attempt: int
    log_context: dict[str, Any]
    at: float


class ScriptedHandler:
    """Records each call; raises what the script says for that attempt (None: succeed)."""

    def __init__(
        self,
        *outcomes: Exception | None,
        by_id: Mapping[str, Sequence[Exception | None]] | None = None,
        effect: Callable[[Envelope], None] | None = None,
    ) -> None:
        self.outcomes, self.by_id, self.effect = outcomes, by_id or {}, effect
        self.calls: list[Call] = []

    def handle(self, envelope: Envelope, context: MessageContext) -> None:
        self.calls.append(
            Call(
                envelope.id,
                context.attempt,
                structlog.contextvars.get_contextvars(),
                time.monotonic(),
            )
        )
        if self.effect is not None:
            self.effect(envelope)
        script = self.by_id.get(envelope.id, self.outcomes)
        outcome = script[min(context.attempt, len(script)) - 1] if script else None
        if outcome is not None:
            raise outcome

    def attempts(self, message_id: str | None = None) -> list[int]:
        return [c.attempt for c in self.calls if message_id in (None, c.message_id)]


@contextlib.contextmanager
def running(*consumers: QueueConsumer) -> Iterator[None]:
    threads = [threading.Thread(target=c.run, daemon=True) for c in consumers]
    for thread in threads:
        thread.start()
    try:
        for consumer in consumers:
            assert consumer.consuming.wait(10), f"{consumer.queue_name}: never consuming"
        yield
    finally:
        for consumer in consumers:
            consumer.stop()
        for thread in threads:
            thread.join(10)
            assert not thread.is_alive(), "a consumer did not stop"


def wait_until(predicate: Callable[[], object], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def publish(url: str, queue: str, *envelopes: Envelope) -> None:
    publisher = KombuPublisher(url)
    try:
        for envelope in envelopes:
            publisher.publish(envelope, queue, timeout=5)
    finally:
        publisher.close()


def publish_raw(url: str, queue: str, body: bytes, **properties: Any) -> None:
    with Connection(url) as connection:
        Producer(connection.default_channel).publish(
            body,
            exchange="",
            routing_key=queue,
            content_type="application/json",
            content_encoding="utf-8",
            **properties,
        )


def take_all(url: str, queue: str) -> list[tuple[dict[str, Any], dict[str, Any], bytes]]:
    """Every message in ``queue`` as (headers, properties, body), removed from it."""
    taken = []
    with Connection(url) as connection:
        simple = connection.SimpleQueue(Queue(queue, no_declare=True), no_ack=True)
        try:
            while True:
                try:
                    message = simple.get(timeout=0.5)
                except simple.Empty:
                    break
                taken.append((dict(message.headers), dict(message.properties), message.body))
        finally:
            simple.close()
    return taken


def parked(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(dead_letters).order_by(dead_letters.c.id)).mappings()
        return [dict(row) for row in rows]


def park_all(url: str, engine: sa.Engine, expected: int) -> list[dict[str, Any]]:
    """Run the parker until ``expected`` dead letters are rows; the dead-letter queue drains."""
    with running(DeadLetterParker(url, engine)):
        wait_until(lambda: len(parked(engine)) >= expected, "dead letters parked")
    return parked(engine)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def work_queue(broker_url: str) -> Iterator[WorkQueue]:
    """A fresh quorum work queue, like production's, with one 1 s retry queue."""
    queue = WorkQueue(f"test.{uuid.uuid4().hex[:10]}", "worker tests")
    declared = [
        Queue(queue.name, queue_arguments=topology.work_queue_arguments()),
        Queue(
            queue.retry_queue(RETRY_DELAY),
            queue_arguments=topology.retry_queue_arguments(queue, RETRY_DELAY),
        ),
    ]
    with Connection(broker_url) as connection:
        for declaration in declared:
            declaration.bind(connection.default_channel).declare()
    yield queue
    with Connection(broker_url) as connection:
        for declaration in declared:
            connection.default_channel.queue_delete(declaration.name)


def worker_process(
    mode: str, url: str, queue: str, directory: Path, *args: str
) -> subprocess.Popen[bytes]:
    log = (directory / f"{mode}.log").open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.worker_process",
            mode,
            url,
            queue,
            str(directory),
            *args,
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


# -- RabbitMQ ---------------------------------------------------------------------------------


def test_success_is_handled_once_acked_and_logged_with_its_trace_id(broker_url, work_queue) -> None:
    # Given a worker and one message
    envelope = hint()
    handler = ScriptedHandler()
    acked_before = metric("calsync_messages_acked_total", queue=work_queue.name)

    # When it is handled
    with (
        structlog.testing.capture_logs(
            processors=[structlog.contextvars.merge_contextvars]
        ) as logs,
        running(Worker(broker_url, work_queue, handler)),
    ):
        publish(broker_url, work_queue.name, envelope)
        wait_until(lambda: any(e["event"] == "message handled" for e in logs), "the ack")

    # Then once, acked (nothing came back when the worker closed), with the context logged
    assert handler.attempts() == [1]
    assert handler.calls[0].log_context["trace_id"] == envelope.trace_id
    assert queue_depth(broker_url, work_queue.name) == 0
    (line,) = [e for e in logs if e["event"] == "message handled"]
    assert line["trace_id"] == envelope.trace_id
    assert line["message_id"] == envelope.id
    assert (line["queue"], line["attempt"]) == (work_queue.name, 1)
    assert metric("calsync_messages_acked_total", queue=work_queue.name) == acked_before + 1


def test_failures_go_through_the_retry_queue_and_come_back(broker_url, work_queue) -> None:
    # Given a handler that fails twice (once on purpose, once by surprise), then succeeds
    envelope = hint()
    handler = ScriptedHandler(Retriable("provider 503"), RuntimeError("surprise"), None)
    worker = Worker(broker_url, work_queue, handler, retry_policy=FAST_RETRIES)
    queue = work_queue.name
    consumed = metric("calsync_messages_consumed_total", queue=queue)
    retried = metric("calsync_messages_retried_total", queue=queue)
    timed = metric("calsync_message_processing_seconds_count", queue=queue)

    # When the message is handled
    with running(worker):
        publish(broker_url, work_queue.name, envelope)
        wait_until(lambda: handler.attempts() == [1, 2, 3], "three attempts", timeout=15)
        wait_until(
            lambda: metric("calsync_message_processing_seconds_count", queue=queue) == timed + 3,
            "the third delivery's processing time",
        )

    # Then the metrics saw three deliveries, two retries, and timed each one
    assert metric("calsync_messages_consumed_total", queue=queue) == consumed + 3
    assert metric("calsync_messages_retried_total", queue=queue) == retried + 2

    # Then each attempt waited out the retry queue, and nothing is left anywhere
    first, second, third = (c.at for c in handler.calls)
    assert second - first >= RETRY_DELAY * 0.9
    assert third - second >= RETRY_DELAY * 0.9
    assert {c.message_id for c in handler.calls} == {envelope.id}
    assert queue_depth(broker_url, work_queue.name) == 0
    assert queue_depth(broker_url, work_queue.retry_queue(RETRY_DELAY)) == 0
    assert queue_depth(broker_url, topology.DEAD_LETTER_QUEUE) == 0


def test_exhausted_retries_are_dead_lettered_and_parked_with_every_field(
    broker_url, work_queue, store
) -> None:
    # Given a handler that always fails, and an error that quotes a secret
    envelope = hint()
    handler = ScriptedHandler(Retriable("provider 503 for access_token=sEcReT"))
    worker = Worker(broker_url, work_queue, handler, retry_policy=FAST_RETRIES)
    before = metric(
        "calsync_messages_dead_lettered_total", queue=work_queue.name, reason="retries_exhausted"
    )

    # When its attempts run out
    with running(worker):
        publish(broker_url, work_queue.name, envelope)
        wait_until(
            lambda: queue_depth(broker_url, topology.DEAD_LETTER_QUEUE) == 1,
            "the dead letter",
            timeout=15,
        )
    assert handler.attempts() == [1, 2, 3]
    (row,) = park_all(broker_url, store, 1)

    # Then the row says where, why, when and how often, with the message intact
    assert queue_depth(broker_url, topology.DEAD_LETTER_QUEUE) == 0
    assert row["message_id"] == envelope.id
    assert (row["queue"], row["exchange"], row["routing_key"]) == (
        work_queue.name,
        "",
        work_queue.name,
    )
    assert row["reason"] == "retries_exhausted"
    assert row["error_class"] == "workers.errors.Retriable"
    assert row["error_message"] == "provider 503 for access_token=[redacted]"
    assert row["attempts"] == 3
    assert row["first_failed_at"] < row["last_failed_at"] <= row["parked_at"]
    assert (row["account_id"], row["trace_id"]) == ("acct-1", envelope.trace_id)
    assert Envelope.from_json(row["body"]) == envelope
    assert row["headers"]["calsync-attempt"] == 3
    assert row["headers"]["calsync-reason"] == "retries_exhausted"
    assert row["headers"]["calsync-original-queue"] == work_queue.name
    assert "sEcReT" not in str(row["headers"])
    assert not any(k.startswith("x-") for k in row["headers"])
    assert (
        metric(
            "calsync_messages_dead_lettered_total",
            queue=work_queue.name,
            reason="retries_exhausted",
        )
        == before + 1
    )


def test_permanent_failure_is_dead_lettered_after_one_attempt(broker_url, work_queue) -> None:
    envelope = hint()
    handler = ScriptedHandler(Permanent("the CRM record does not exist"))

    with running(Worker(broker_url, work_queue, handler, retry_policy=FAST_RETRIES)):
        publish(broker_url, work_queue.name, envelope)
        wait_until(
            lambda: queue_depth(broker_url, topology.DEAD_LETTER_QUEUE) == 1, "the dead letter"
        )

    assert handler.attempts() == [1]
    ((headers, properties, body),) = take_all(broker_url, topology.DEAD_LETTER_QUEUE)
    assert headers["calsync-reason"] == "permanent"
    assert headers["calsync-error-class"] == "workers.errors.Permanent"
    assert headers["calsync-error-message"] == "the CRM record does not exist"
    assert headers["calsync-attempts"] == 1
    assert headers["calsync-first-failed-at"] == headers["calsync-last-failed-at"]
    assert (properties["message_id"], properties["type"]) == (envelope.id, envelope.type)
    assert properties["delivery_mode"] == 2
    assert Envelope.from_json(body) == envelope
    assert queue_depth(broker_url, work_queue.name) == 0


@pytest.mark.parametrize(
    "error",
    [
        sa.exc.DataError("INSERT …", None, Exception("text fields cannot contain NUL")),
        UnicodeEncodeError("utf-8", "a\ud800", 1, 2, "surrogates not allowed"),
        sa.exc.StatementError(
            "bind failed", "INSERT …", None, UnicodeEncodeError("utf-8", "\ud800", 0, 1, "no")
        ),
    ],
    ids=["data-error", "unencodable", "unencodable-in-bind"],
)
def test_data_the_store_refuses_is_dead_lettered_after_one_attempt_without_a_traceback(
    broker_url, work_queue, error
) -> None:
    # Given a handler whose store refuses the message's data: it will every time
    handler = ScriptedHandler(error)

    with (
        structlog.testing.capture_logs() as logs,
        running(Worker(broker_url, work_queue, handler, retry_policy=FAST_RETRIES)),
    ):
        publish(broker_url, work_queue.name, hint())
        wait_until(
            lambda: queue_depth(broker_url, topology.DEAD_LETTER_QUEUE) == 1, "the dead letter"
        )

    # Then it was tried once and dead-lettered as permanent, logged in one line
    assert handler.attempts() == [1]
    ((headers, _properties, _body),) = take_all(broker_url, topology.DEAD_LETTER_QUEUE)
    assert (headers["calsync-reason"], headers["calsync-attempts"]) == ("permanent", 1)
    assert headers["calsync-error-class"] == error_class(error)
    assert queue_depth(broker_url, work_queue.retry_queue(RETRY_DELAY)) == 0
    (line,) = [e for e in logs if e["event"] == "permanent failure"]
    assert line["error_class"] == error_class(error)
    assert not any(e.get("exc_info") for e in logs)


def test_an_unreachable_store_is_not_retried_like_refused_data(broker_url, work_queue) -> None:
    # A database that is down may be back for the next attempt
    handler = ScriptedHandler(sa.exc.OperationalError("SELECT 1", None, Exception("refused")), None)

    with running(Worker(broker_url, work_queue, handler, retry_policy=FAST_RETRIES)):
        publish(broker_url, work_queue.name, hint())
        wait_until(lambda: handler.attempts() == [1, 2], "the retry", timeout=15)


def test_an_undecodable_body_is_dead_lettered_and_parked_never_dropped(
    broker_url, work_queue, store
) -> None:
    handler = ScriptedHandler()
    body = b'\xff{"not": "an envelope"'

    with running(Worker(broker_url, work_queue, handler)):
        publish_raw(
            broker_url, work_queue.name, body, message_id="raw-1", headers={"trace_id": "t-raw"}
        )
        wait_until(
            lambda: queue_depth(broker_url, topology.DEAD_LETTER_QUEUE) == 1, "the dead letter"
        )
    (row,) = park_all(broker_url, store, 1)

    assert handler.calls == []
    assert (row["reason"], row["queue"], row["attempts"]) == ("undecodable", work_queue.name, 1)
    assert row["error_class"] == "adapters.broker.envelope.EnvelopeError"
    assert row["body"] == body
    assert (row["message_id"], row["trace_id"], row["account_id"]) == ("raw-1", "t-raw", None)


def test_json_nested_deeper_than_the_stack_is_undecodable_not_a_crash(
    broker_url, work_queue, store
) -> None:
    handler = ScriptedHandler()
    body = b"[" * 100_000

    with running(worker := Worker(broker_url, work_queue, handler)):
        publish_raw(broker_url, work_queue.name, body, message_id="deep-1")
        wait_until(
            lambda: queue_depth(broker_url, topology.DEAD_LETTER_QUEUE) == 1, "the dead letter"
        )
        assert worker.consuming.is_set()  # still running
    (row,) = park_all(broker_url, store, 1)

    assert handler.calls == []
    assert (row["reason"], row["attempts"], row["error_class"]) == (
        "undecodable",
        1,
        "adapters.broker.envelope.EnvelopeError",  # the envelope names what it could not read
    )
    assert row["body"] == body


def test_a_body_that_reached_the_dead_letter_queue_without_headers_is_parked(
    broker_url, store
) -> None:
    publish_raw(broker_url, topology.DEAD_LETTER_QUEUE, b"garbage")

    (row,) = park_all(broker_url, store, 1)

    assert (row["reason"], row["body"], row["message_id"]) == ("undecodable", b"garbage", None)
    assert row["first_failed_at"] == row["last_failed_at"]


def test_a_letter_the_store_refuses_as_it_came_is_parked_reduced_with_its_body(
    broker_url, store
) -> None:
    # Given a dead letter whose account id and headers hold a lone surrogate (no UTF-8 does)
    bad = "acme\ud800"
    envelope = Envelope(type="crm.event", payload={"account_id": bad}, account_id=bad)
    headers = {"account_id": bad, "calsync-reason": "permanent", "calsync-attempts": 1}
    publish_raw(
        broker_url,
        topology.DEAD_LETTER_QUEUE,
        envelope.to_json(),
        message_id=envelope.id,
        headers=headers,
    )

    # When it is parked
    (row,) = park_all(broker_url, store, 1)

    # Then it is one row: the body as it came, the text escaped, and a header saying why
    assert queue_depth(broker_url, topology.DEAD_LETTER_QUEUE) == 0
    assert row["body"] == envelope.to_json()
    assert (row["account_id"], row["headers"]["account_id"]) == ("acme\\ud800", "acme\\ud800")
    assert (row["message_id"], row["reason"], row["attempts"]) == (envelope.id, "permanent", 1)
    assert "UnicodeEncodeError" in row["headers"][dead_letters_module.REDUCED]


def test_a_parker_whose_store_is_down_backs_off_with_one_line_each_time(broker_url) -> None:
    # Given a dead letter and a store that refuses connections
    publish_raw(broker_url, topology.DEAD_LETTER_QUEUE, b"garbage", message_id="m-1")
    down = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", hide_parameters=True)
    parker = DeadLetterParker(broker_url, down)

    # When the parker runs for a few seconds
    with structlog.testing.capture_logs() as logs, running(parker):
        wait_until(lambda: parker.failures >= 3, "three failed attempts", timeout=10)
    down.dispose()

    # Then each failure is one line, no traceback, and the pauses double: 1 s, 2 s, 4 s …
    failed = [e for e in logs if e["event"] == "dead letter not parked; back to the queue"]
    assert [e["retry_in_seconds"] for e in failed][:3] == [1.0, 2.0, 4.0]
    assert all(e["error"].startswith("sqlalchemy.exc.OperationalError: ") for e in failed)
    assert not any(e.get("exc_info") for e in logs)
    # And the letter is kept, back in the queue
    assert queue_depth(broker_url, topology.DEAD_LETTER_QUEUE) == 1


def test_a_duplicate_message_id_has_its_effect_once(broker_url, work_queue, store) -> None:
    # Given a handler whose effect is a row, guarded by the inbox in the same transaction
    effects = sa.Table(
        "worker_test_effects", sa.MetaData(), sa.Column("message_id", sa.String(64), nullable=False)
    )
    effects.create(store, checkfirst=True)

    def effect(envelope: Envelope) -> None:
        with store.begin() as conn:
            if claim_message(conn, "test-consumer", envelope.id, system_clock()):
                conn.execute(effects.insert().values(message_id=envelope.id))

    handler = ScriptedHandler(effect=effect)
    envelope = hint()
    try:
        # When the same message arrives twice
        with running(Worker(broker_url, work_queue, handler)):
            publish(broker_url, work_queue.name, envelope, envelope)
            wait_until(lambda: len(handler.calls) == 2, "both deliveries")
            wait_until(lambda: queue_depth(broker_url, work_queue.name) == 0, "the acks")

        # Then both were acked, and the effect happened once
        with store.connect() as conn:
            assert conn.execute(sa.select(effects.c.message_id)).scalars().all() == [envelope.id]
    finally:
        effects.drop(store)


def test_a_rolled_back_claim_does_not_count(store) -> None:
    with store.connect() as conn:
        with conn.begin() as transaction:
            assert claim_message(conn, "test-consumer", "m-1", system_clock())
            transaction.rollback()
        with conn.begin():
            assert claim_message(conn, "test-consumer", "m-1", system_clock())
            assert not claim_message(conn, "test-consumer", "m-1", system_clock())
        with conn.begin():  # ids longer than the column are kept as their hash
            assert claim_message(conn, "test-consumer", "x" * 255, system_clock())
            assert not claim_message(conn, "test-consumer", "x" * 255, system_clock())


class FlakyRepublisher:
    """The real confirming republisher, except that its first ``failures`` calls fail."""

    def __init__(self, url: str, failures: int) -> None:
        self.real, self.failures = KombuRepublisher(url), failures

    def republish(self, message: OutgoingMessage, queue: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RepublishFailed("broker did not confirm")
        self.real.republish(message, queue)

    def close(self) -> None:
        self.real.close()


def test_a_copy_that_cannot_be_published_leaves_the_message_in_the_queue(
    broker_url, work_queue
) -> None:
    # Given the retry copy of the first failure cannot be published
    envelope = hint()
    handler = ScriptedHandler(Retriable("provider 503"), None)
    worker = Worker(
        broker_url,
        work_queue,
        handler,
        retry_policy=FAST_RETRIES,
        publisher=(republisher := FlakyRepublisher(broker_url, failures=1)),
    )

    try:
        with running(worker):
            publish(broker_url, work_queue.name, envelope)
            wait_until(lambda: handler.attempts()[-1:] == [2], "the retried attempt", timeout=15)
    finally:
        republisher.close()  # the worker leaves a publisher it was given to its owner

    # Then the message came back as attempt 1 (requeued, not lost), then went on as usual
    assert handler.attempts() == [1, 1, 2]
    assert queue_depth(broker_url, work_queue.name) == 0


def test_the_worker_reconnects_after_losing_the_broker(broker_url, work_queue) -> None:
    parts = urlsplit(broker_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
    proxied = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    handler = ScriptedHandler()
    worker = Worker(proxied, work_queue, handler)
    try:
        with running(worker):
            proxy.cut()
            wait_until(lambda: not worker.consuming.is_set(), "the lost connection")
            proxy.restore()
            wait_until(worker.consuming.is_set, "the reconnect", timeout=15)
            publish(broker_url, work_queue.name, hint())
            wait_until(lambda: handler.attempts() == [1], "the message")
    finally:
        proxy.close()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_crash_loop_is_dead_lettered_by_rabbitmq_and_parked(broker_url, store, tmp_path) -> None:
    # Given a message whose handler kills the worker process, before any ack, every time
    envelope = hint()
    publish(broker_url, topology.SYNC.name, envelope)
    dead = topology.DEAD_LETTER_QUEUE

    # When a fresh worker process takes it again and again
    crashes = 0
    while queue_depth(broker_url, dead) == 0:
        wait_until(
            lambda: queue_depth(broker_url, topology.SYNC.name) + queue_depth(broker_url, dead) > 0,
            "the requeued message",
        )
        if queue_depth(broker_url, topology.SYNC.name) == 0:
            continue
        assert crashes <= topology.DELIVERY_LIMIT, "RabbitMQ never gave up on the message"
        process = worker_process("crash", broker_url, topology.SYNC.name, tmp_path)
        assert process.wait(timeout=20) == CRASH_STATUS
        crashes += 1

    # Then RabbitMQ dead-lettered it past the delivery limit, and the parker says so
    assert crashes == topology.DELIVERY_LIMIT + 1
    (row,) = park_all(broker_url, store, 1)
    assert (row["reason"], row["queue"], row["routing_key"]) == ("delivery_limit", "sync", "sync")
    assert (row["message_id"], row["trace_id"]) == (envelope.id, envelope.trace_id)
    assert row["error_class"] is None
    assert row["headers"]["x-death"][0]["reason"] == "delivery_limit"
    assert queue_depth(broker_url, topology.SYNC.name) == 0


def test_sigterm_lets_the_message_in_hand_finish_and_returns_the_rest(
    broker_url, work_queue, tmp_path
) -> None:
    first, second = hint(1), hint(2)
    process = worker_process("slow", broker_url, work_queue.name, tmp_path, "--sleep", "1.5")
    try:
        publish(broker_url, work_queue.name, first, second)
        wait_until(lambda: list(tmp_path.glob("started-*")), "the first message", timeout=15)

        process.send_signal(signal.SIGTERM)

        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert [p.name for p in tmp_path.glob("done-*")] == [f"done-{first.id}"]
    assert [p.name for p in tmp_path.glob("started-*")] == [f"started-{first.id}"]
    assert queue_depth(broker_url, work_queue.name) == 1  # the prefetched one, back, unhandled


def test_sigterm_past_the_grace_period_returns_the_message_in_hand(
    broker_url, work_queue, tmp_path
) -> None:
    envelope = hint()
    process = worker_process(
        "slow", broker_url, work_queue.name, tmp_path, "--sleep", "60", "--grace", "0.5"
    )
    try:
        publish(broker_url, work_queue.name, envelope)
        wait_until(lambda: list(tmp_path.glob("started-*")), "the message", timeout=15)
        stopped = time.monotonic()

        process.send_signal(signal.SIGTERM)

        assert process.wait(timeout=15) == 0
        assert time.monotonic() - stopped < 5
    finally:
        if process.poll() is None:
            process.kill()
    assert list(tmp_path.glob("done-*")) == []
    wait_until(lambda: queue_depth(broker_url, work_queue.name) == 1, "the returned message")


# -- the embedded broker (kombu's SQL transport) -------------------------------------------------


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_embedded_broker_handles_success_retry_and_dead_letters(tmp_path, store) -> None:
    # Given the embedded broker, and three messages: fine, flaky once, doomed
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    queue = WorkQueue("work", "embedded")
    fine, flaky, doomed = hint(1), hint(2), hint(3)
    handler = ScriptedHandler(
        by_id={flaky.id: [Retriable("provider 503"), None], doomed.id: [Permanent("bad")]}
    )
    worker = Worker(url, queue, handler, retry_policy=FAST_RETRIES)

    # When they are handled, and the parker runs alongside
    with running(worker, DeadLetterParker(url, store)):
        publish(url, queue.name, fine, flaky, doomed)
        wait_until(lambda: handler.attempts(flaky.id) == [1, 2], "the retry", timeout=15)
        wait_until(lambda: len(parked(store)) == 1, "the parked dead letter")

    # Then the retry waited out its not-before time, and the doomed one is parked
    assert handler.attempts(fine.id) == [1]
    assert handler.attempts(doomed.id) == [1]
    flaky_calls = [c.at for c in handler.calls if c.message_id == flaky.id]
    assert flaky_calls[1] - flaky_calls[0] >= RETRY_DELAY * 0.9
    (row,) = parked(store)
    assert (row["message_id"], row["reason"], row["queue"]) == (doomed.id, "permanent", "work")
    assert take_all(url, queue.name) == []
    assert take_all(url, topology.DEAD_LETTER_QUEUE) == []


class Crashing:
    queue_name = "crashing"

    def run(self) -> None:
        raise RuntimeError("a bug in the consume loop")

    def stop(self) -> None: ...

    def abort(self) -> None: ...


class Idle:
    queue_name = "idle"

    def __init__(self) -> None:
        self.stopped = threading.Event()

    def run(self) -> None:
        self.stopped.wait(10)

    def stop(self) -> None:
        self.stopped.set()

    def abort(self) -> None: ...


def test_run_workers_stops_everything_and_fails_when_one_worker_dies() -> None:
    idle = Idle()

    status = run_workers([idle, Crashing()], grace_seconds=1)

    assert status == 1
    assert idle.stopped.is_set()


def test_a_copy_to_a_missing_queue_fails_loudly_and_the_next_one_still_works(broker_url) -> None:
    republisher = KombuRepublisher(broker_url, confirm_timeout=2)
    copy = OutgoingMessage(body=b"{}", headers={"calsync-attempt": 2})
    try:
        with pytest.raises(RepublishFailed, match=r"NO_ROUTE|312"):
            republisher.republish(copy, "no-such-queue")

        republisher.republish(copy, topology.DEAD_LETTER_QUEUE)
    finally:
        republisher.close()
    ((headers, _properties, body),) = take_all(broker_url, topology.DEAD_LETTER_QUEUE)
    assert (headers, body) == ({"calsync-attempt": 2}, b"{}")


def test_error_messages_lose_their_secrets_and_their_length() -> None:
    error = RuntimeError(
        "POST https://svc:hunter2@crm.example/api failed: Authorization: Bearer eyJ.abc.def, "
        '{"refresh_token": "1//0gXyz", "client_secret": "s3cr3t"} ' + "x" * 2000
    )

    text = error_message(error)

    for secret in ("hunter2", "eyJ.abc.def", "1//0gXyz", "s3cr3t"):
        assert secret not in text
    assert text.startswith("POST https://svc:[redacted]@crm.example/api failed")
    assert len(text) == MAX_ERROR_MESSAGE
