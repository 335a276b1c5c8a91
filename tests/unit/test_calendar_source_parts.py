"""The calendar sources' parts on their own, without a sandbox: mapping edge cases the
sandbox does not produce, retries, the session cache and the event loop thread."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import pytest

from adapters.calendar.errors import AuthorizationRevoked, CursorExpired
from adapters.calendar.fake import FakeCalendarSource
from adapters.calendar.google.mapping import google_event
from adapters.calendar.graph.event_loop import LoopThread
from adapters.calendar.graph.mapping import graph_event
from adapters.calendar.retry import RetryPolicy, parse_retry_after
from adapters.calendar.sessions import SessionCache
from adapters.calendar.source import UNKNOWN_VERSION_TIME, Credentials
from domain.model import CANCELLED, AllDay, EventVersion, Provider, ProviderEvent, Timed
from tests.support.calendar_sandbox import WINDOW


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Fri, 01 May 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Fri, 01 May 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


class Flaky(Exception):
    """A transient failure, with an optional wait hint."""

    def __init__(self, hint: float | None = None) -> None:
        super().__init__(hint)
        self.hint = hint


def test_retries_honour_the_hint_and_stop_after_the_attempts() -> None:
    # Given a call that always fails, once with a hint
    waits: list[float] = []
    failures = iter([Flaky(2.0), Flaky(), Flaky()])

    def call() -> None:
        raise next(failures)

    policy = RetryPolicy(attempts=3, initial_backoff=0.1, max_backoff=0.4)

    # When it runs under the policy, then the last failure surfaces after three tries
    with pytest.raises(Flaky):
        policy.call(
            call,
            is_transient=lambda e: isinstance(e, Flaky),
            retry_after_of=lambda e: e.hint if isinstance(e, Flaky) else None,
            sleep=waits.append,
        )
    assert waits[0] == 2.0
    assert len(waits) == 2
    assert 0 <= waits[1] <= 0.4


def test_a_hint_beyond_the_bound_is_not_waited_for() -> None:
    waits: list[float] = []

    def call() -> None:
        raise Flaky(600.0)

    with pytest.raises(Flaky):
        RetryPolicy(max_retry_after=30).call(
            call,
            is_transient=lambda e: True,
            retry_after_of=lambda e: e.hint if isinstance(e, Flaky) else None,
            sleep=waits.append,
        )
    assert waits == []


def test_google_items_without_times_or_versions_map_to_empty_fields() -> None:
    event = google_event({"id": "gone", "status": "cancelled"})

    assert event.is_cancelled
    assert event.version == EventVersion(UNKNOWN_VERSION_TIME)
    assert (event.timing, event.attendees, event.is_recurring) == (None, (), False)


def test_google_odd_times_are_read_safely() -> None:
    event = google_event(
        {
            "id": "odd",
            "start": {"dateTime": "2026-05-04T09:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-05-04T08:00:00+02:00"},  # ends before it starts
            "hangoutLink": "https://meet.google.com/abc-defg-hij",
            "conferenceData": {"entryPoints": [{"entryPointType": "phone", "uri": "tel:1"}]},
            "attendees": [{"displayName": "no address"}, {"email": "a@example.com"}],
        }
    )

    assert event.timing == Timed(
        datetime(2026, 5, 4, 7, tzinfo=UTC), datetime(2026, 5, 4, 7, tzinfo=UTC), "Europe/Berlin"
    )
    assert event.video_url == "https://meet.google.com/abc-defg-hij"
    assert [a.email for a in event.attendees] == ["a@example.com"]


def test_google_all_day_with_a_bad_end_is_one_day() -> None:
    event = google_event(
        {"id": "x", "start": {"date": "2026-05-04"}, "end": {"date": "2026-05-04"}}
    )
    assert event.timing == AllDay(date(2026, 5, 4), date(2026, 5, 5))


def test_graph_removed_entries_carry_only_the_id() -> None:
    event = graph_event({"id": "AAMk", "@removed": {"reason": "deleted"}})

    assert (event.provider, event.event_id, event.status) == (Provider.MICROSOFT, "AAMk", CANCELLED)
    assert event.version == EventVersion(UNKNOWN_VERSION_TIME)


@pytest.mark.parametrize(
    ("original_start", "zone", "day"),
    [
        ("2026-05-03T22:00:00Z", "W. Europe Standard Time", "2026-05-04"),  # UTC+2
        ("2026-05-04T04:00:00Z", "Eastern Standard Time", "2026-05-04"),  # UTC-4
        ("2026-05-03T12:00:00Z", "New Zealand Standard Time", "2026-05-04"),  # UTC+12
        ("2026-05-03T15:00:00Z", "Asia/Tokyo", "2026-05-04"),
    ],
)
def test_graph_all_day_occurrences_are_named_by_their_local_date(
    original_start: str, zone: str, day: str
) -> None:
    event = graph_event(
        {
            "id": "occ",
            "type": "occurrence",
            "isAllDay": True,
            "originalStart": original_start,
            "originalStartTimeZone": zone,
            "start": {"dateTime": f"{day}T00:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-05T00:00:00.0000000", "timeZone": "UTC"},
        }
    )
    assert event.instance_start == day
    assert event.is_recurring


def test_graph_times_in_a_zone_other_than_utc_are_still_read_right() -> None:
    event = graph_event(
        {
            "id": "x",
            "start": {"dateTime": "2026-05-04T09:00:00.0000000", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-05-04T10:00:00.0000000", "timeZone": "Europe/Berlin"},
            "originalStartTimeZone": "W. Europe Standard Time",
        }
    )
    assert event.timing == Timed(
        datetime(2026, 5, 4, 7, tzinfo=UTC), datetime(2026, 5, 4, 8, tzinfo=UTC), None
    )


@dataclass
class FakeSession:
    refresh_tokens: set[str]
    disposed: bool = False
    built_from: list[str] = field(default_factory=list)


def credentials(user: str, refresh_token: str = "rt-1") -> Credentials:
    return Credentials(Provider.GOOGLE, refresh_token, "cid", "secret", "t", "a", user)


def test_sessions_are_reused_per_user_rebuilt_on_a_new_grant_and_evicted_when_old() -> None:
    cache: SessionCache[FakeSession] = SessionCache(
        lambda c: FakeSession({c.refresh_token}), lambda s: setattr(s, "disposed", True), 2
    )

    first = cache.get(credentials("ann"))
    first.refresh_tokens.add("rt-rotated")
    assert cache.get(credentials("ann", "rt-rotated")) is first
    assert cache.get(credentials("ann")) is first

    reconnected = cache.get(credentials("ann", "rt-new"))
    assert reconnected is not first
    assert first.disposed

    bob, cid = cache.get(credentials("bob")), cache.get(credentials("cid"))
    assert reconnected.disposed
    assert not bob.disposed
    assert not cid.disposed


def test_the_loop_thread_runs_coroutines_and_surfaces_their_errors() -> None:
    loop = LoopThread("test-loop")

    async def double(n: int) -> int:
        await asyncio.sleep(0)
        return 2 * n

    async def fail() -> None:
        raise KeyError("boom")

    try:
        assert loop.run(double(21)) == 42
        with pytest.raises(KeyError):
            loop.run(fail())
        with pytest.raises(TimeoutError):
            loop.run(asyncio.sleep(5), timeout=0.05)
    finally:
        loop.close()
    assert loop.run(double(1), timeout=timedelta(seconds=1).total_seconds()) == 2
    loop.close()


def test_the_fake_source_keeps_the_port_contract() -> None:
    # Given a fake calendar with three events in the window and one outside it
    fake = FakeCalendarSource(page_size=2)
    ann = credentials("ann")
    for day in (4, 5, 6, 30):
        fake.put("ann", _fake_event(f"e{day}", day if day < 30 else 1, month=5 if day < 30 else 7))

    # When synced from scratch, then pages come with the cursor on the last only
    first = fake.changes(ann, cursor=None, page=None, window=WINDOW)
    second = fake.changes(ann, cursor=None, page=first.next_page, window=WINDOW)
    assert [e.event_id for e in first.events + second.events] == ["e4", "e5", "e6"]
    assert (first.sync_cursor, second.next_page) == (None, None)
    assert second.sync_cursor

    # And a change, then a deletion, come back from the cursor
    fake.put("ann", replace(_fake_event("e5", 5), subject="renamed"))
    fake.put(
        "ann",
        ProviderEvent(Provider.GOOGLE, "e6", None, EventVersion(UNKNOWN_VERSION_TIME), "cancelled"),
    )
    changes = fake.changes(ann, cursor=second.sync_cursor, page=None, window=WINDOW)
    assert [(e.event_id, e.subject, e.status) for e in changes.events] == [
        ("e5", "renamed", "confirmed"),
        ("e6", "", "cancelled"),
    ]

    # And expired cursors and queued failures surface as the real sources' errors
    fake.expire_cursors("ann")
    with pytest.raises(CursorExpired):
        fake.changes(ann, cursor=changes.sync_cursor, page=None, window=WINDOW)
    fake.fail_next(AuthorizationRevoked("revoked"))
    with pytest.raises(AuthorizationRevoked):
        fake.changes(ann, cursor=None, page=None, window=WINDOW)
    assert len(fake.changes(ann, cursor=None, page=None, window=WINDOW).events) == 2


def _fake_event(event_id: str, day: int, month: int = 5) -> ProviderEvent:
    start = datetime(2026, month, day, 10, tzinfo=UTC)
    return ProviderEvent(
        Provider.GOOGLE,
        event_id,
        f"{event_id}@fake",
        EventVersion(start),
        subject=event_id,
        timing=Timed(start, start + timedelta(hours=1)),
    )
