"""The scheduler drives connections through days (freezegun), against the sandbox providers.

Channels and subscriptions are renewed before they expire, with no gap in notifications;
a removed subscription is recreated and resynced; the window slides (R9); a quiet connection
is polled; and several schedulers share the jobs, each run having one owner.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory, StepTickTimeFactory, TickingDateTimeFactory
from prometheus_client import REGISTRY

from adapters.sql.jobs import SqlJobs
from adapters.sql.tables import appointments, calendar_connections, push_channels
from domain.model import Provider
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.conftest import queue_depth
from tests.support.live_world import ACCOUNT, Json, World, live_world
from workers.runner import run_workers
from workers.scheduler import Job, Scheduler

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PROVIDERS = pytest.mark.parametrize(
    "provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"]
)
#: Real time for what keeps connections and queues alive: a jump of days must not look like
#: missed broker heartbeats, and the sandbox's delivery queue waits in real seconds.
REAL_TIME_MODULES = ["pika", "kombu", "amqp", "infra.sandbox.notifications"]
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
Clock = FrozenDateTimeFactory | StepTickTimeFactory | TickingDateTimeFactory


@pytest.fixture
def clock() -> Iterator[Clock]:
    with freeze_time(START, tick=True, real_asyncio=True, ignore=REAL_TIME_MODULES) as frozen:
        yield frozen


@pytest.fixture
def world(
    clock: Clock,
    tmp_path: Path,
    sandbox: SandboxServer,
    admins: dict[Provider, SandboxAdminClient],
    broker_url: str,
) -> Iterator[World]:
    yield from live_world(tmp_path, sandbox, admins, broker_url)


@pytest.fixture
def running(world: World) -> Iterator[None]:
    """The sync and connections workers, consuming in a thread."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_workers,
        args=(world.container.workers(["sync", "connections"]),),
        kwargs={"stop": stop, "grace_seconds": 5},
        daemon=True,
    )
    thread.start()
    yield
    stop.set()
    thread.join(timeout=15)


def _connect(world: World, provider: Provider, user_id: str = "ann") -> Json:
    user = world.admins[provider].create_user(f"{user_id}@example.com")
    result = world.connect(provider, user_id, user["refresh_token"])
    assert result.channel_id, result.channel_error
    return user


def _event(provider: Provider, subject: str, start: datetime) -> Json:
    end = start + timedelta(hours=1)
    if provider is Provider.GOOGLE:
        return {
            "summary": subject,
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": end.isoformat()},
            "attendees": [{"email": "ann@example.com"}, {"email": "eva@kund.se"}],
        }
    return {
        "subject": subject,
        "start": {"dateTime": start.replace(tzinfo=None).isoformat(), "timeZone": "UTC"},
        "end": {"dateTime": end.replace(tzinfo=None).isoformat(), "timeZone": "UTC"},
        "attendees": [
            {"emailAddress": {"address": a}, "type": "required"}
            for a in ("ann@example.com", "eva@kund.se")
        ],
    }


def _subjects(world: World) -> set[str]:
    with world.container.engine.connect() as conn:
        query = sa.select(appointments.c.subject).where(appointments.c.account_id == ACCOUNT)
        return set(conn.execute(query).scalars())


def _wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _settled(world: World) -> bool:
    """Nothing queued for the sync worker and no sync running or wanted."""
    if queue_depth(world.broker_url, "sync"):
        return False
    with world.container.engine.connect() as conn:
        busy = conn.execute(
            sa.select(sa.func.count()).where(
                sa.or_(
                    calendar_connections.c.lease_owner.is_not(None),
                    calendar_connections.c.sync_requested > calendar_connections.c.sync_done,
                )
            )
        ).scalar_one()
    return busy == 0


def _live_channels(world: World) -> list[Any]:
    with world.container.engine.connect() as conn:
        query = sa.select(push_channels).where(push_channels.c.stopped_at.is_(None))
        return list(conn.execute(query))


def _accepted_changes(admin: SandboxAdminClient) -> list[Json]:
    """Change notifications (not Google's ``sync`` hello) our webhook answered with a 2xx."""
    return [
        d
        for d in admin.deliveries()
        if d["outcome"] == "delivered"
        and (
            (d.get("headers") or {}).get("X-Goog-Resource-State") == "exists"
            or "changeType" in (d.get("item") or {})
        )
    ]


@PROVIDERS
def test_channels_are_renewed_before_expiry_with_no_gap_in_notifications(
    world: World, clock: Clock, provider: Provider
) -> None:
    # Given a connected calendar, its channel granted about a week
    admin = world.admins[provider]
    user = _connect(world, provider)
    (first,) = _live_channels(world)
    scheduler = world.container.scheduler()

    # When three weeks pass in half days, the scheduler ticking and the calendar changing
    accepted = len(_accepted_changes(admin))
    for step in range(42):
        clock.tick(timedelta(hours=12))
        scheduler.tick()
        admin.create_event(user["email"], _event(provider, f"Step {step}", START))

        # Then every change reaches our webhook and is accepted: no gap, ever
        assert _wait_until(lambda seen=accepted: len(_accepted_changes(admin)) > seen, 10), (
            f"no accepted notification after {(step + 1) * 12} hours"
        )
        accepted = len(_accepted_changes(admin))

    # And the channel was kept alive by renewals, never allowed to lapse
    (live,) = _live_channels(world)
    assert live.expires_at > datetime.now(UTC)
    if provider is Provider.GOOGLE:  # a new channel each time, the old one stopped
        assert live.id != first.id
        assert [s["id"] for s in admin.subscriptions()] == [live.id]
    else:  # the same subscription, renewed in place
        assert live.id == first.id
        renewals = [
            r for r in admin.requests() if r["method"] == "PATCH" and "subscriptions" in r["path"]
        ]
        assert len(renewals) >= 2


def test_a_removed_subscription_is_recreated_and_resynced(world: World, running: None) -> None:
    # Given a connected Microsoft calendar, synced
    admin = world.admins[Provider.MICROSOFT]
    user = _connect(world, Provider.MICROSOFT)
    admin.create_event(
        user["email"], _event(Provider.MICROSOFT, "Before", START + timedelta(days=1))
    )
    assert _wait_until(lambda: "Before" in _subjects(world))
    (old,) = _live_channels(world)

    # When Graph removes the subscription, and a change made meanwhile is never notified
    admin.drop_notifications(1)
    admin.create_event(
        user["email"], _event(Provider.MICROSOFT, "Meanwhile", START + timedelta(days=2))
    )
    admin.trigger_lifecycle(old.id, "subscriptionRemoved")

    # Then a new subscription replaces it, and the connection is synced again
    assert _wait_until(lambda: [c.id for c in _live_channels(world)] not in ([], [old.id]))
    (new,) = _live_channels(world)
    assert [s["id"] for s in admin.subscriptions()] == [new.id]
    assert _wait_until(lambda: "Meanwhile" in _subjects(world))


def test_missed_notifications_give_a_full_resync(world: World, running: None) -> None:
    # Given a connected Microsoft calendar, synced with a delta link
    admin = world.admins[Provider.MICROSOFT]
    user = _connect(world, Provider.MICROSOFT)
    admin.create_event(
        user["email"], _event(Provider.MICROSOFT, "Known", START + timedelta(days=1))
    )
    assert _wait_until(lambda: "Known" in _subjects(world))
    assert _wait_until(lambda: _settled(world))
    (channel,) = _live_channels(world)
    admin.clear_requests()

    # When Graph says notifications were missed
    admin.drop_notifications(1)
    admin.create_event(user["email"], _event(Provider.MICROSOFT, "Lost", START + timedelta(days=2)))
    admin.trigger_lifecycle(channel.id, "missed")

    # Then the calendar is read again from scratch (no delta token), and nothing is lost
    assert _wait_until(lambda: "Lost" in _subjects(world))
    deltas = [str(r.get("query", "")).lower() for r in admin.requests() if "delta" in r["path"]]
    assert any("deltatoken" not in query and "skiptoken" not in query for query in deltas)
    assert len(_subjects(world)) == 2  # the full read merged, it duplicated nothing


@PROVIDERS
def test_r9_the_window_slides_forward_every_day(
    world: World, clock: Clock, running: None, provider: Provider
) -> None:
    # Given a calendar connected today, fully synced, and a meeting just past its window's end
    admin = world.admins[provider]
    user = _connect(world, provider)
    admin.create_event(user["email"], _event(provider, "Soon", START + timedelta(days=2)))
    beyond = START + timedelta(days=95)  # three months ahead end on 2027-03-02
    admin.create_event(user["email"], _event(provider, "Far ahead", beyond))
    assert _wait_until(lambda: "Soon" in _subjects(world))
    assert "Far ahead" not in _subjects(world)
    scheduler = world.container.scheduler()
    scheduler.tick()  # nothing moved yet: the window of today is the one synced
    time.sleep(1)
    assert "Far ahead" not in _subjects(world)

    # When days pass and the window's end passes the meeting
    clock.tick(timedelta(days=5))
    scheduler.tick()

    # Then the slide syncs the new window, and the meeting comes in, once
    assert _wait_until(lambda: "Far ahead" in _subjects(world))
    assert _subjects(world) == {"Soon", "Far ahead"}


@PROVIDERS
def test_a_quiet_connection_is_polled(
    world: World, clock: Clock, running: None, provider: Provider
) -> None:
    # Given a synced calendar whose next notification is lost
    admin = world.admins[provider]
    user = _connect(world, provider)
    admin.create_event(user["email"], _event(provider, "Heard", START + timedelta(days=1)))
    assert _wait_until(lambda: "Heard" in _subjects(world) and len(_accepted_changes(admin)) > 0)
    assert _wait_until(lambda: _settled(world))  # no notification or sync still under way
    admin.drop_notifications(5)
    admin.create_event(user["email"], _event(provider, "Unheard", START + timedelta(days=2)))
    scheduler = world.container.scheduler()
    scheduler.tick()
    time.sleep(1)
    assert "Unheard" not in _subjects(world)

    # When the connection stays quiet for hours
    clock.tick(timedelta(hours=7))
    scheduler.tick()

    # Then the scheduler syncs it anyway
    assert _wait_until(lambda: "Unheard" in _subjects(world))


def test_each_job_run_has_one_owner_across_schedulers(store: sa.Engine) -> None:
    # Given two schedulers sharing the same jobs, at the same instant
    runs: list[str] = []
    now = START
    jobs = [
        Job("count_a", timedelta(minutes=10), _counting(runs, "a")),
        Job("count_b", timedelta(hours=1), _counting(runs, "b")),
    ]
    schedulers = [Scheduler(SqlJobs(store), jobs, clock=lambda: now) for _ in range(2)]

    # When both tick at once, several times
    def tick_all() -> None:
        threads = [threading.Thread(target=s.tick) for s in schedulers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    tick_all()
    tick_all()

    # Then each job ran once, and not again before its period is over
    assert sorted(runs) == ["a", "b"]
    now = START + timedelta(minutes=12)
    tick_all()
    assert sorted(runs) == ["a", "a", "b"]

    # And each next run is due within the period's jitter
    states = {s.name: s for s in SqlJobs(store).states()}
    waited = states["count_b"].next_run_at - START
    assert timedelta(minutes=54) <= waited <= timedelta(minutes=66)
    assert all(s.owner is None and s.last_error is None for s in states.values())


def test_a_failing_job_is_recorded_and_the_others_still_run(store: sa.Engine) -> None:
    # Given a job that fails and one that works
    runs: list[str] = []

    def broken(_now: datetime) -> int:
        raise RuntimeError("provider down")

    jobs = [
        Job("broken", timedelta(minutes=1), broken),
        Job("fine", timedelta(minutes=1), _counting(runs, "fine")),
    ]
    scheduler = Scheduler(SqlJobs(store), jobs, clock=lambda: START)
    failed = REGISTRY.get_sample_value(
        "calsync_scheduler_job_runs_total", {"job": "broken", "outcome": "failed"}
    )

    # When the scheduler ticks
    assert scheduler.tick() == ["broken", "fine"]
    assert (
        REGISTRY.get_sample_value(
            "calsync_scheduler_job_runs_total", {"job": "broken", "outcome": "failed"}
        )
        == (failed or 0) + 1
    )

    # Then the failure is on the job's row, the claim let go, and the other job ran
    states = {s.name: s for s in SqlJobs(store).states()}
    assert states["broken"].last_error == "RuntimeError: provider down"
    assert states["broken"].owner is None
    assert runs == ["fine"]


def _counting(runs: list[str], name: str) -> Callable[[datetime], int]:
    def work(_now: datetime) -> int:
        runs.append(name)
        return 1

    return work
