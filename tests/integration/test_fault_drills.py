"""Fault drills on real RabbitMQ and PostgreSQL: what on-call lives through, rehearsed.

Each drill runs the real worker loop (``workers.base.Worker``) and the real dead-letter parker
on a production-shaped quorum work queue, with a real handler that claims its message in the
inbox and writes one row in the same transaction, and puts dead letters back through the code
``calsync dlq replay`` runs (``infra.dlq.service.replay``).

(a) The database goes away while messages flow: retried, dead-lettered after the limit,
    parked once it is back, replayed to success; the store equals a clean run's.
(b) A poison message is dead-lettered with its reason after N attempts; the rest flow.
(c) A letter replayed twice is applied once (the inbox absorbs the second copy).
(d) A message that kills the worker process every time stops at the quorum delivery limit
    and is parked, not lost: replayed to a fixed worker, it is applied.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog

from adapters.broker import topology
from adapters.broker.envelope import Envelope
from adapters.broker.topology import WorkQueue
from adapters.sql import dead_letters
from adapters.sql.dead_letters import Filters
from adapters.sql.tables import dead_letter_audit, inbox
from domain.clock import system_clock
from infra import db
from infra.dlq import service
from tests.conftest import empty_store, queue_depth
from tests.integration.test_worker_base import (
    FAST_RETRIES,
    RETRY_DELAY,
    hint,
    park_all,
    parked,
    publish,
    publish_raw,
    running,
    wait_until,
    work_queue,  # noqa: F401 - a fixture, used below
    worker_process,
)
from tests.support.tcp_proxy import TcpProxy
from tests.support.worker_process import CRASH_STATUS
from workers.base import MessageContext, Worker
from workers.errors import Permanent
from workers.inbox import claim_message
from workers.parker import DeadLetterParker
from workers.republish import KombuRepublisher

effects = sa.Table(
    "drill_effects",
    sa.MetaData(),
    # No unique key on purpose: an effect applied twice would show as two rows.
    sa.Column("consumer", sa.String(64), nullable=False),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
)


@dataclass
class InboxWriter:
    """A real handler: claims the message in the inbox and writes its row, one transaction.

    ``fail`` may name an exception to raise instead, before any effect (a poison message).
    """

    engine: sa.Engine
    consumer: str
    fail: Callable[[Envelope], Exception | None] = lambda _envelope: None
    calls: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)

    def handle(self, envelope: Envelope, context: MessageContext) -> None:
        self.calls.append((envelope.id, context.attempt, dict(context.headers)))
        error = self.fail(envelope)
        if error is not None:
            raise error
        with self.engine.begin() as conn:
            if claim_message(conn, self.consumer, envelope.id, system_clock()):
                conn.execute(
                    effects.insert().values(
                        consumer=self.consumer, message_id=envelope.id, n=envelope.payload["n"]
                    )
                )

    def attempts(self, message_id: str) -> list[int]:
        return [attempt for mid, attempt, _headers in self.calls if mid == message_id]


def effects_of(engine: sa.Engine, consumer: str) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(effects.c.message_id, effects.c.n)
            .where(effects.c.consumer == consumer)
            .order_by(effects.c.n, effects.c.message_id)
        )
        return [(r.message_id, r.n) for r in rows]


def inbox_of(engine: sa.Engine, consumer: str) -> set[str]:
    with engine.connect() as conn:
        query = sa.select(inbox.c.message_id).where(inbox.c.consumer == consumer)
        return set(conn.execute(query).scalars())


def audit_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = sa.select(dead_letter_audit).order_by(dead_letter_audit.c.id)
        return [dict(r) for r in conn.execute(query).mappings()]


def replay(engine: sa.Engine, url: str, ids: list[int], *, pending_only: bool) -> service.Outcome:
    """What ``calsync dlq replay`` does with these letters (fast, for the drill)."""
    republisher = KombuRepublisher(url)
    try:
        return service.replay(
            engine, republisher, ids, actor="drill", pending_only=pending_only, rate=200
        )
    finally:
        republisher.close()


@pytest.fixture(autouse=True)
def logs() -> Iterator[list[dict[str, Any]]]:
    """Every log line of the drill, captured unrendered: a failing handler logs its traceback,
    and rendering hundreds of them for the console would slow the drill down to a crawl."""
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as captured:
        yield captured


@pytest.fixture
def drill_store(postgres_engine: sa.Engine) -> Iterator[sa.Engine]:
    """The session's PostgreSQL store with the drill handler's table; emptied afterwards."""
    effects.create(postgres_engine, checkfirst=True)
    yield postgres_engine
    effects.drop(postgres_engine)
    empty_store(postgres_engine)


@pytest.fixture
def drill_queue(work_queue: WorkQueue) -> WorkQueue:  # noqa: F811 - the imported fixture
    """A production-shaped quorum work queue (delivery limit, DLX) with a 1 s retry queue."""
    return work_queue


@contextlib.contextmanager
def behind_a_proxy(engine: sa.Engine) -> Iterator[tuple[sa.Engine, TcpProxy]]:
    """An engine on the same database through a TCP proxy the drill can cut."""
    url = engine.url
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = db.create_engine(
        url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        pool_size=2,
        connect_args={"connect_timeout": 2},
    )
    try:
        yield proxied, proxy
    finally:
        proxied.dispose()
        proxy.close()


def drained(url: str, queue: WorkQueue) -> bool:
    return (
        queue_depth(url, queue.name) == 0
        and queue_depth(url, queue.retry_queue(RETRY_DELAY)) == 0
        and queue_depth(url, topology.DEAD_LETTER_QUEUE) == 0
    )


# -- (a) the database goes away while messages flow -----------------------------------------------


def test_database_down_retried_dead_lettered_then_replayed_to_a_clean_result(
    broker_url, drill_queue, drill_store, logs
) -> None:
    messages = [hint(n) for n in range(6)]
    before, during = messages[:3], messages[3:]

    # A clean run of the same messages, for comparison
    clean = InboxWriter(drill_store, "drill-clean")
    with running(Worker(broker_url, drill_queue, clean)):
        publish(broker_url, drill_queue.name, *messages)
        wait_until(lambda: len(effects_of(drill_store, "drill-clean")) == 6, "the clean run")

    # Given a worker and the parker whose database sits behind a proxy
    with behind_a_proxy(drill_store) as (engine, proxy):
        handler = InboxWriter(engine, "drill")
        worker = Worker(broker_url, drill_queue, handler, retry_policy=FAST_RETRIES)
        with running(worker, DeadLetterParker(broker_url, engine)):
            publish(broker_url, drill_queue.name, *before)
            wait_until(lambda: len(effects_of(drill_store, "drill")) == 3, "the first three")

            # When the database goes away while three more messages arrive
            proxy.cut()
            publish(broker_url, drill_queue.name, *during)

            # Then each is tried until its attempts run out, and waits as a dead letter
            wait_until(
                lambda: all(handler.attempts(m.id) == [1, 2, 3] for m in during),
                "every attempt of the messages sent during the outage",
                timeout=20,
            )
            assert parked(drill_store) == []  # the parker cannot store them either

            # When the database is back, the parker stores them
            proxy.restore()
            wait_until(lambda: len(parked(drill_store)) == 3, "the parked letters", timeout=20)
            letters = parked(drill_store)
            assert {row["message_id"] for row in letters} == {m.id for m in during}
            for row in letters:
                assert (row["queue"], row["reason"], row["attempts"]) == (
                    drill_queue.name,
                    "retries_exhausted",
                    3,
                )
                assert row["error_class"] == "sqlalchemy.exc.OperationalError"

            # And replayed (calsync dlq replay --all), they succeed
            outcome = replay(
                drill_store, broker_url, [row["id"] for row in letters], pending_only=True
            )
            assert (len(outcome.done), outcome.skipped, outcome.failure) == (3, [], None)
            wait_until(lambda: len(effects_of(drill_store, "drill")) == 6, "the replays")
            wait_until(lambda: drained(broker_url, drill_queue), "empty queues")

    # Then the store holds exactly what the clean run made: each effect once
    assert effects_of(drill_store, "drill") == effects_of(drill_store, "drill-clean")
    assert inbox_of(drill_store, "drill") == inbox_of(drill_store, "drill-clean")
    assert {m.id for m in messages} == inbox_of(drill_store, "drill")
    for m in during:  # the replayed copy started its attempts afresh
        assert handler.attempts(m.id) == [1, 2, 3, 1]
    # And the letters are kept, marked replayed, with an audit row each
    assert [row["replay_count"] for row in parked(drill_store)] == [1, 1, 1]
    audit = audit_rows(drill_store)
    assert sorted(a["dead_letter_id"] for a in audit) == sorted(row["id"] for row in letters)
    assert {(a["action"], a["actor"], a["queue"]) for a in audit} == {
        ("replay", "drill", drill_queue.name)
    }
    with drill_store.connect() as conn:  # a second --all finds nothing left to replay
        assert dead_letters.matching_ids(conn, Filters(replayed=False)) == []


# -- (b) a poison message -------------------------------------------------------------------------


def test_a_poison_message_is_dead_lettered_with_its_reason_and_the_rest_flow(
    broker_url, drill_queue, drill_store
) -> None:
    # Given five messages, one of which no attempt will ever handle, and an undecodable body
    messages = [hint(n) for n in range(5)]
    poison = messages[2]

    def fail(envelope: Envelope) -> Exception | None:
        return (
            ValueError(f"cannot handle n={envelope.payload['n']}") if envelope == poison else None
        )

    handler = InboxWriter(drill_store, "drill", fail=fail)
    worker = Worker(broker_url, drill_queue, handler, retry_policy=FAST_RETRIES)

    # When they are handled, with the parker running
    with running(worker, DeadLetterParker(broker_url, drill_store)):
        publish(broker_url, drill_queue.name, *messages)
        publish_raw(broker_url, drill_queue.name, b"\x00not json", message_id="garbage-1")
        wait_until(lambda: len(parked(drill_store)) == 2, "two parked letters", timeout=20)
        wait_until(lambda: drained(broker_url, drill_queue), "empty queues")

    # Then the poison was tried N times and parked with its reason and error
    assert handler.attempts(poison.id) == [1, 2, 3]
    by_reason = {row["reason"]: row for row in parked(drill_store)}
    row = by_reason["retries_exhausted"]
    assert (row["message_id"], row["queue"], row["attempts"]) == (poison.id, drill_queue.name, 3)
    assert (row["error_class"], row["error_message"]) == ("ValueError", "cannot handle n=2")
    # The undecodable body needed no retries to be hopeless
    garbage = by_reason["undecodable"]
    assert (garbage["message_id"], garbage["attempts"], garbage["body"]) == (
        "garbage-1",
        1,
        b"\x00not json",
    )
    # And the others were handled once each, without waiting for the poison's retries
    others = [m for m in messages if m != poison]
    assert all(handler.attempts(m.id) == [1] for m in others)
    assert effects_of(drill_store, "drill") == [(m.id, m.payload["n"]) for m in others]
    handled_at = [i for i, call in enumerate(handler.calls) if call[0] != poison.id]
    poison_retries = [i for i, call in enumerate(handler.calls) if call[0] == poison.id][1:]
    assert max(handled_at) < min(poison_retries)


# -- (c) a replay run twice -----------------------------------------------------------------------


def test_a_letter_replayed_twice_is_applied_once(broker_url, drill_queue, drill_store) -> None:
    # Given a message the handler refused for good, parked
    envelope = hint(7)
    refusing = InboxWriter(drill_store, "drill", fail=lambda _e: Permanent("CRM record missing"))
    with running(Worker(broker_url, drill_queue, refusing)):
        publish(broker_url, drill_queue.name, envelope)
        wait_until(lambda: queue_depth(broker_url, topology.DEAD_LETTER_QUEUE) == 1, "the letter")
    ((letter),) = park_all(broker_url, drill_store, 1)
    assert (letter["reason"], letter["message_id"]) == ("permanent", envelope.id)

    # When it is replayed twice (say, two people on call), before any worker takes it
    first = replay(drill_store, broker_url, [letter["id"]], pending_only=True)
    second = replay(drill_store, broker_url, [letter["id"]], pending_only=False)
    again = replay(drill_store, broker_url, [letter["id"]], pending_only=True)  # --all again
    assert (len(first.done), len(second.done), len(again.done)) == (1, 1, 0)
    assert queue_depth(broker_url, drill_queue.name) == 2

    # Then the fixed worker gets both copies, with the original id, and applies it once
    fixed = InboxWriter(drill_store, "drill")
    with running(Worker(broker_url, drill_queue, fixed)):
        wait_until(lambda: len(fixed.calls) == 2, "both copies")
        wait_until(lambda: drained(broker_url, drill_queue), "both acks")
    assert effects_of(drill_store, "drill") == [(envelope.id, 7)]
    assert [(mid, attempt) for mid, attempt, _h in fixed.calls] == [(envelope.id, 1)] * 2
    replay_headers = [headers for _mid, _attempt, headers in fixed.calls]
    assert [h[service.REPLAY_COUNT] for h in replay_headers] == [1, 2]
    assert {h[service.REPLAYED_BY] for h in replay_headers} == {"drill"}
    assert {h[service.REPLAYED_FROM] for h in replay_headers} == {letter["id"]}
    assert not any("calsync-reason" in h or "calsync-attempt" in h for h in replay_headers)
    (row,) = parked(drill_store)
    assert row["replay_count"] == 2
    assert [a["detail"]["replay_count"] for a in audit_rows(drill_store)] == [1, 2]


# -- (d) a message that crashes the worker process ------------------------------------------------


def test_a_crash_loop_stops_at_the_delivery_limit_and_is_parked_not_lost(
    broker_url, drill_queue, drill_store, tmp_path: Path
) -> None:
    # Given a message whose handler kills the worker process every time, before any ack
    envelope = hint(9)
    publish(broker_url, drill_queue.name, envelope)
    dead = topology.DEAD_LETTER_QUEUE

    # When fresh worker processes take it again and again
    crashes = 0
    while queue_depth(broker_url, dead) == 0:
        wait_until(
            lambda: queue_depth(broker_url, drill_queue.name) + queue_depth(broker_url, dead) > 0,
            "the requeued message",
        )
        if queue_depth(broker_url, drill_queue.name) == 0:
            continue
        assert crashes <= topology.DELIVERY_LIMIT, "RabbitMQ never gave up on the message"
        process = worker_process("crash", broker_url, drill_queue.name, tmp_path)
        assert process.wait(timeout=20) == CRASH_STATUS
        crashes += 1

    # Then RabbitMQ gave up past the quorum delivery limit, and the letter is parked
    assert crashes == topology.DELIVERY_LIMIT + 1
    (letter,) = park_all(broker_url, drill_store, 1)
    assert (letter["reason"], letter["queue"], letter["message_id"]) == (
        "delivery_limit",
        drill_queue.name,
        envelope.id,
    )
    assert Envelope.from_json(letter["body"]) == envelope
    assert queue_depth(broker_url, drill_queue.name) == 0

    # And it is not lost: replayed to a fixed worker, it is applied once
    fixed = InboxWriter(drill_store, "drill")
    with running(Worker(broker_url, drill_queue, fixed)):
        outcome = replay(drill_store, broker_url, [letter["id"]], pending_only=True)
        assert outcome.failure is None
        wait_until(lambda: effects_of(drill_store, "drill") == [(envelope.id, 9)], "the effect")
    assert fixed.attempts(envelope.id) == [1]
