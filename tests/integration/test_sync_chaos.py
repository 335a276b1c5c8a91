"""Chaos acceptance of the sync workers, on real RabbitMQ, PostgreSQL and worker processes.

Hints travel from the sandboxes' push notifications (or posts made like them) through our
webhooks and RabbitMQ to ``calsync worker --queue sync`` subprocesses, which read the
sandbox providers through google-api-python-client and msgraph-sdk and write PostgreSQL.
Each property is checked on what ends up in the store, compared with a clean run of the
same script, and on the sandbox's request log. Harness: ``tests/support/sync_cluster.py``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from domain.model import Provider
from infra.sandbox.server import SandboxServer
from tests.support.sync_cluster import (
    LIST_PATH,
    Calendar,
    Meeting,
    SyncCluster,
    overlapping,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

KARL = "karl.andersson@exempel.se"
LUCAS = "lucas@gbg.exempel.se"
EVA = "eva@kund.se"
BOSS = "boss@kund.se"
PARTNER = "anna@partner.example"

#: The workers' ``CALSYNC_SYNC_LEASE_SECONDS`` (60 s by default). A killed worker's
#: connection is taken over once its lease runs out, by the hint RabbitMQ redelivers, which
#: waits in the retry queues (5 s, 30 s, 300 s ...) while the lease lives: no longer than
#: the first delay keeps test (b) within seconds. Still far longer than any page takes here,
#: so a live holder never loses its lease.
LEASE_SECONDS = 5.0


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with SandboxServer() as server:
            yield server


@pytest.fixture(scope="module")
def sync_cluster(
    postgres_engine: sa.Engine,
    rabbitmq_vhost: str,
    sandbox: SandboxServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SyncCluster]:
    """Ingest and the worker processes of this module; every worker is killed at the end."""
    made = SyncCluster(
        database_url=postgres_engine.url.render_as_string(hide_password=False),
        broker_url=rabbitmq_vhost,
        sandbox=sandbox,
        workdir=tmp_path_factory.mktemp("sync-cluster"),
        lease_seconds=LEASE_SECONDS,
    )
    try:
        yield made.start()
    finally:
        made.close()


@pytest.fixture
def cluster(sync_cluster: SyncCluster) -> Iterator[SyncCluster]:
    """The module's cluster. Idle workers carry over to the next test; after a test that
    left work behind (it failed half-way), they are stopped, so the next one starts afresh."""
    yield sync_cluster
    if not sync_cluster.idle():
        sync_cluster.stop_workers(sync_cluster.workers)


# -- (a) notification faults and provider errors -------------------------------------------


def play_script(cluster: SyncCluster, karl: Calendar, *, chaos: bool) -> None:
    """Creates, edits and cancellations in Karl's calendar, each notified by the provider.

    With ``chaos`` the sandbox also duplicates, reorders and drops notifications, and
    answers change listings with 500 and 429 (four 500s: a whole sync fails and its hint
    goes through the retry queue while the script goes on). The last change is notified
    cleanly, and an incremental sync from the stored cursor reads everything a dropped
    notification announced.
    """
    admin, list_path = karl.admin, LIST_PATH[karl.provider]
    if chaos:
        admin.duplicate_notifications(2)
        admin.fail_next(500, count=4, path=list_path)
    kickoff = karl.create(Meeting("Kick-off", day=3, attendees=(KARL, EVA)))
    demo = karl.create(Meeting("Demo", day=4, attendees=(KARL, EVA, BOSS)))
    karl.create(Meeting("Offer", day=4, hour=14, organizer=BOSS, attendees=(KARL, BOSS)))
    if chaos:
        admin.fail_next(429, count=1, path=list_path)
        admin.reorder_notifications(3)
    lunch = karl.create(Meeting("Lunch", day=5, attendees=(KARL, PARTNER)))
    karl.edit(kickoff["id"], subject="Kick-off (moved)", moved_to=(6, 13))
    cluster.wait_stored("Demo")  # a meeting cancelled before any sync saw it never shows
    karl.cancel(demo["id"])
    if chaos:
        admin.drop_notifications(2)
    review = karl.create(Meeting("Review", day=7, attendees=(KARL, EVA)))
    karl.edit(lunch["id"], attendees=(KARL, PARTNER, EVA))
    karl.edit(review["id"], location="Room 4")
    call = karl.create(Meeting("Call", day=8, attendees=(KARL, BOSS)))
    cluster.wait_stored("Call")
    karl.cancel(call["id"])
    if chaos:
        admin.clear_faults()  # and notifications still held for reordering go out
    karl.create(Meeting("Wrap-up", day=9, attendees=(KARL, EVA)))


def run_script(cluster: SyncCluster, provider: Provider, *, chaos: bool) -> list[dict[str, Any]]:
    """The store after the script, from an empty store and an empty sandbox calendar."""
    cluster.reset()
    karl = cluster.connect(provider, "karl", cluster.person(provider, KARL))
    if chaos:
        cluster.wait_settled()  # the initial sync, before any fault is armed
    play_script(cluster, karl, chaos=chaos)
    cluster.wait_settled()
    return cluster.dump()


def repeated(deliveries: list[dict[str, Any]]) -> int:
    """Delivered notifications that had been delivered before, the very same message."""
    seen, again = set(), 0
    for delivery in deliveries:
        key = repr((sorted(delivery["headers"].items()), delivery["item"]))
        again += delivery["outcome"] == "delivered" and key in seen
        seen.add(key)
    return again


@pytest.mark.parametrize(
    "provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "microsoft"]
)
def test_duplicated_reordered_dropped_notifications_and_429_500_leave_the_clean_runs_store(
    cluster: SyncCluster, provider: Provider
) -> None:
    (worker,) = cluster.run_workers(1)

    # Given the store a clean run of the script leaves
    clean = run_script(cluster, provider, chaos=False)
    assert sorted((a["subject"], [link["gone"] for link in a["links"]]) for a in clean) == [
        ("Call", [True]),
        ("Demo", [True]),
        ("Kick-off (moved)", [False]),
        ("Lunch", [False]),
        ("Offer", [False]),
        ("Review", [False]),
        ("Wrap-up", [False]),
    ]

    # When the same script runs with notifications duplicated, reordered and dropped,
    # and change listings answered 429 and 500
    mark = worker.mark()
    chaotic = run_script(cluster, provider, chaos=True)

    # Then the faults did happen: two notifications lost, two sent twice, a sync failed
    # by 500s and retried through the retry queue, a 429
    deliveries = cluster.admins[provider].deliveries()
    assert [d["outcome"] for d in deliveries].count("dropped") == 2
    assert repeated(deliveries) >= 2
    listings = [
        r["status"]
        for r in cluster.admins[provider].requests()
        if re.search(LIST_PATH[provider], r["path"])
    ]
    assert listings.count(429) == 1
    assert listings.count(500) == 4
    assert "message scheduled for retry" in worker.events(since=mark)
    # And the store is the clean run's, with nothing dead-lettered
    assert chaotic == clean
    assert cluster.dead_letters() == 0


# -- (b) SIGKILL in the middle of a page ----------------------------------------------------

#: Seconds each change listing takes while the kill is aimed.
PAGE_LATENCY = 1.0
#: Karl's calendar: 300 meetings, two pages of Google's 250 (three of Graph's 100).
VISITS = [
    Meeting(f"Visit {i:03d}", day=1 + i % 60, hour=8 + i % 8, attendees=(KARL, EVA))
    for i in range(300)
]
#: Delayed listings armed; when this many are left, the second page's listing has started.
DELAYED = 20


def delayed_left(cluster: SyncCluster, provider: Provider) -> int:
    """Delayed listings still to come: each listing takes one as it starts."""
    (fault,) = cluster.admins[provider].faults()["latency"]
    return int(fault["remaining"])


def test_a_worker_killed_mid_page_loses_nothing_and_duplicates_nothing(
    cluster: SyncCluster,
) -> None:
    provider = Provider.GOOGLE
    admin = cluster.admins[provider]
    (doomed,) = cluster.run_workers(1)

    # Given the store a clean initial sync of Karl's 300 meetings leaves
    cluster.reset()
    cluster.connect(provider, "karl", cluster.person(provider, KARL, *VISITS))
    cluster.wait_settled()
    clean = cluster.dump()
    assert len(clean) == len(VISITS)

    # And the same calendar connected again from scratch, every change listing slowed down
    cluster.reset()
    person = cluster.person(provider, KARL, *VISITS)
    admin.add_latency(PAGE_LATENCY, count=DELAYED, path=LIST_PATH[provider])
    cluster.connect(provider, "karl", person)

    # When the worker gets SIGKILL once the first page is stored and the second page's
    # listing has started at the sandbox
    # (The worker reads the next page while it writes the current one, so the second
    # listing may start before the first page is stored: wait for both.)
    wait_for(
        lambda: (delayed_left(cluster, provider), len(cluster.subjects())),
        lambda progress: progress[0] <= DELAYED - 2 and progress[1] > 0,
        30,
        "the first page stored and the second page's listing started",
    )
    stored_before = len(cluster.subjects())
    ((_id, requested, done, holder),) = cluster.sync_state()
    killed_at = cluster.kill_worker(doomed)
    admin.clear_faults()

    # Then the kill landed mid-sync: the first page stored, the sync held and unfinished,
    # a page listed before the kill and the next one in flight at it
    assert 0 < stored_before < len(VISITS)
    assert holder is not None
    assert done < requested
    listings = wait_for(
        lambda: [r for r in admin.requests() if re.search(LIST_PATH[provider], r["path"])],
        lambda found: any(r["finished"] > killed_at for r in found),
        30,
        "the listing in flight at the kill finished",
    )
    assert any(r["finished"] < killed_at and r["status"] == 200 for r in listings)
    assert any(r["started"] < killed_at < r["finished"] for r in listings)

    # When a fresh worker starts and everything settles
    cluster.start_worker()
    cluster.wait_settled()

    # Then the store is the clean run's: every meeting exactly once, one link each
    assert cluster.dump() == clean
    assert cluster.link_count() == len(VISITS)
    assert cluster.dead_letters() == 0


# -- (c) two workers, one burst of hints ---------------------------------------------------

#: Seconds each change listing takes during the burst, so that syncs last a while.
BURST_LATENCY = 0.2


def test_two_workers_never_sync_one_calendar_at_once_under_a_burst_of_hints(
    cluster: SyncCluster,
) -> None:
    workers = cluster.run_workers(2)

    # Given Karl's Google calendar and Lucas's Microsoft one, connected and synced
    cluster.reset(with_lucas=True)
    meetings = {
        "karl": [Meeting(f"Karl {i}", day=2 + i, attendees=(KARL, EVA)) for i in range(5)],
        "lucas": [Meeting(f"Lucas {i}", day=2 + i, attendees=(LUCAS, EVA)) for i in range(5)],
    }
    karl = cluster.connect(
        Provider.GOOGLE, "karl", cluster.person(Provider.GOOGLE, KARL, *meetings["karl"])
    )
    lucas = cluster.connect(
        Provider.MICROSOFT, "lucas", cluster.person(Provider.MICROSOFT, LUCAS, *meetings["lucas"])
    )
    cluster.wait_settled()
    for calendar in (karl, lucas):
        calendar.admin.add_latency(BURST_LATENCY, path=LIST_PATH[calendar.provider])
    marks = [worker.mark() for worker in workers]

    # When 50 hints for Karl and 10 for Lucas arrive at once, while both add meetings
    burst = [lucas if i % 6 == 5 else karl for i in range(60)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = pool.map(cluster.hint, burst)
        for i in range(3):
            for calendar, owner in ((karl, KARL), (lucas, LUCAS)):
                subject = f"{calendar.user_id.title()} new {i}"
                added = Meeting(subject, day=10 + i, attendees=(owner, EVA))
                calendar.create(added)
                meetings[calendar.user_id].append(added)
        assert set(statuses) <= {200, 202}
    cluster.wait_settled()

    # Then no two change listings of one calendar ever ran at the same time
    for calendar in (karl, lucas):
        listings = calendar.list_requests()
        assert len(listings) >= 2
        assert overlapping(listings) == []
    # And the burst was coalesced, not synced hint by hint, by both workers taking hints
    assert len(karl.list_requests()) < 50
    for worker, mark in zip(workers, marks, strict=True):
        assert "message handled" in worker.events(since=mark)
    # And the store has every meeting exactly once, with one link each
    subjects = [m.subject for calendar in meetings.values() for m in calendar]
    assert cluster.subjects() == sorted(subjects)
    assert cluster.link_count() == len(subjects)
    assert cluster.dead_letters() == 0
