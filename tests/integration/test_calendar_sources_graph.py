"""What only the Graph source does: its event mapping, delta rounds and its event loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from adapters.calendar.source import UNKNOWN_VERSION_TIME, Credentials
from domain.model import CANCELLED, AllDay, Attendee, EventVersion, Provider, Response, Timed
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.support.calendar_sandbox import (
    QUICK_RETRY,
    GraphCalendarSource,
    harness_for,
    sync_run,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph")

Json = dict[str, Any]
BEA = "bea@contoso.com"


def daily(zone: str, *, all_day: bool = False, count: int = 3) -> Json:
    """A daily series from 4 May 2026 in ``zone``: 09:00-09:15, or whole days."""
    start, end = ("00:00:00", "00:00:00") if all_day else ("09:00:00", "09:15:00")
    return {
        "subject": "Daily",
        "isAllDay": all_day,
        "start": {"dateTime": f"2026-05-04T{start}", "timeZone": zone},
        "end": {"dateTime": f"2026-05-0{5 if all_day else 4}T{end}", "timeZone": zone},
        "recurrence": {
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": "2026-05-04", "numberOfOccurrences": count},
        },
    }


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Both sandbox providers, for this module."""
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="module")
def admin(sandbox: SandboxServer) -> Iterator[SandboxAdminClient]:
    """The Graph sandbox's admin client."""
    with SandboxAdminClient(sandbox.graph_url) as client:
        yield client


@pytest.fixture
def bea(admin: SandboxAdminClient) -> Json:
    """A fresh sandbox with one user in Berlin."""
    admin.reset()
    return admin.create_user(BEA, display_name="Bea", time_zone="Europe/Berlin")


@pytest.fixture
def credentials(sandbox: SandboxServer, admin: SandboxAdminClient, bea: Json) -> Credentials:
    """Bea's credentials."""
    return harness_for(Provider.MICROSOFT, sandbox, admin).credentials(bea)


@pytest.fixture
def source() -> Iterator[GraphCalendarSource]:
    """A Graph source with quick retries."""
    made = GraphCalendarSource(retry=QUICK_RETRY)
    yield made
    made.close()


def test_a_single_all_day_event_maps_to_its_dates(
    admin: SandboxAdminClient, source: GraphCalendarSource, credentials: Credentials
) -> None:
    # Given an all-day event in Berlin (Graph shows it midnight to midnight, labelled UTC)
    admin.create_event(
        BEA,
        {
            "subject": "Fair",
            "isAllDay": True,
            "start": {"dateTime": "2026-05-04T00:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-05-06T00:00:00", "timeZone": "Europe/Berlin"},
        },
    )

    # When synced
    [event] = sync_run(source, credentials).events

    # Then it is those whole days, not shifted by the zone, and not recurring
    assert event.timing == AllDay(date(2026, 5, 4), date(2026, 5, 6))
    assert not event.is_recurring


@pytest.mark.parametrize("zone", ["Europe/Berlin", "W. Europe Standard Time"])
def test_occurrences_of_an_all_day_series_are_named_by_their_date(
    admin: SandboxAdminClient, source: GraphCalendarSource, credentials: Credentials, zone: str
) -> None:
    # Given a daily all-day series (Graph gives originalStart as Berlin midnight in UTC)
    admin.create_event(BEA, daily(zone, all_day=True))

    # When synced
    events = sync_run(source, credentials).events

    # Then every occurrence is a recurring all-day event named by its own date (R8)
    assert [(e.timing, e.instance_start, e.is_recurring) for e in events] == [
        (AllDay(date(2026, 5, day), date(2026, 5, day + 1)), f"2026-05-{day:02d}", True)
        for day in (4, 5, 6)
    ]


def test_occurrences_of_a_timed_series_carry_their_original_start_in_utc(
    admin: SandboxAdminClient, source: GraphCalendarSource, credentials: Credentials
) -> None:
    # Given a daily series in Berlin whose second occurrence was moved
    series = admin.create_event(BEA, daily("Europe/Berlin"))
    moved = f"{series['id']}_20260505T070000Z"
    admin.update_event(
        BEA,
        moved,
        {
            "start": {"dateTime": "2026-05-05T13:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-05T13:15:00", "timeZone": "UTC"},
        },
    )

    # When synced
    events = sync_run(source, credentials).by_id()

    # Then occurrences and the exception are named by their original UTC start
    assert [(e.instance_start, e.is_recurring) for e in events.values()] == [
        ("2026-05-04T07:00:00Z", True),
        ("2026-05-05T07:00:00Z", True),
        ("2026-05-06T07:00:00Z", True),
    ]
    assert events[moved].timing == Timed(
        datetime(2026, 5, 5, 13, tzinfo=UTC), datetime(2026, 5, 5, 13, 15, tzinfo=UTC), "UTC"
    )
    first = events[f"{series['id']}_20260504T070000Z"]
    assert first.timing == Timed(
        datetime(2026, 5, 4, 7, tzinfo=UTC),
        datetime(2026, 5, 4, 7, 15, tzinfo=UTC),
        "Europe/Berlin",
    )


def test_a_deleted_occurrence_comes_back_removed(
    admin: SandboxAdminClient, source: GraphCalendarSource, credentials: Credentials
) -> None:
    # Given a synced series
    series = admin.create_event(BEA, daily("Europe/Berlin"))
    cursor = sync_run(source, credentials).cursor
    occurrence = f"{series['id']}_20260505T070000Z"

    # When one occurrence is deleted
    admin.delete_event(BEA, occurrence)
    [gone] = sync_run(source, credentials, cursor).events

    # Then it comes back cancelled, known by its id only, with the minimal version
    assert (gone.event_id, gone.status) == (occurrence, CANCELLED)
    assert gone.version == EventVersion(UNKNOWN_VERSION_TIME)


def test_attendees_rooms_declines_and_the_organizer_map(
    admin: SandboxAdminClient, source: GraphCalendarSource, credentials: Credentials
) -> None:
    # Given an invitation from an outside organizer, with a room and a decline
    admin.create_room("room-1@contoso.com", name="Room 1")
    admin.create_event(
        BEA,
        {
            "subject": "Pitch",
            "body": {"contentType": "html", "content": "<b>Agenda</b>"},
            "location": {"displayName": "HQ"},
            "start": {"dateTime": "2026-05-04T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-04T11:00:00", "timeZone": "UTC"},
            "organizer": {"emailAddress": {"address": "olga@partner.example", "name": "Olga"}},
            "attendees": [
                _attendee("olga@partner.example", "organizer", name="Olga"),
                _attendee(BEA, "tentativelyAccepted", name="Bea"),
                _attendee("dan@partner.example", "declined", kind="optional", name="Dan"),
                _attendee("eve@partner.example", "notResponded", name="Eve"),
                {"emailAddress": {"address": "room-1@contoso.com"}},
            ],
        },
    )

    # When synced
    [event] = sync_run(source, credentials).events

    # Then everyone maps, the room as a resource (R6), the decline kept (R11)
    assert event.organizer_email == "olga@partner.example"
    assert (event.subject, event.description, event.location) == ("Pitch", "<b>Agenda</b>", "HQ")
    assert event.attendees == (
        Attendee("olga@partner.example", "Olga", Response.ORGANIZER, is_organizer=True),
        Attendee(BEA, "Bea", Response.TENTATIVE),
        Attendee("dan@partner.example", "Dan", Response.DECLINED, optional=True),
        Attendee("eve@partner.example", "Eve", Response.NEEDS_ACTION),
        Attendee("room-1@contoso.com", "Room 1", Response.ACCEPTED, is_resource=True),
    )


def test_a_teams_meeting_maps_to_the_video_url(
    admin: SandboxAdminClient, source: GraphCalendarSource, credentials: Credentials
) -> None:
    # Given a Teams meeting
    created = admin.create_event(
        BEA,
        {
            "subject": "Teams",
            "start": {"dateTime": "2026-05-04T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-04T11:00:00", "timeZone": "UTC"},
            "isOnlineMeeting": True,
            "onlineMeetingProvider": "teamsForBusiness",
        },
    )

    # When synced, then its join URL is the video URL (R22)
    [event] = sync_run(source, credentials).events
    assert event.video_url == created["onlineMeeting"]["joinUrl"]
    assert (event.video_url or "").startswith("https://teams.microsoft.com/l/meetup-join/")


def test_a_cancelled_meeting_keeps_its_details(
    admin: SandboxAdminClient, source: GraphCalendarSource, credentials: Credentials
) -> None:
    # Given an attendee's copy of a meeting its organizer cancelled
    created = admin.create_event(
        BEA,
        {
            "subject": "Cancelled: Pitch",
            "isCancelled": True,
            "start": {"dateTime": "2026-05-04T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-04T11:00:00", "timeZone": "UTC"},
        },
    )

    # When synced, then it is cancelled, with its version and details
    [event] = sync_run(source, credentials).events
    assert event.status == CANCELLED
    assert event.subject == "Cancelled: Pitch"
    assert event.version.change_key == created["changeKey"]
    assert event.version.updated == datetime.fromisoformat(created["lastModifiedDateTime"])
    assert event.ical_uid == created["iCalUId"]


def test_pages_follow_the_page_size_asked_for(
    admin: SandboxAdminClient, credentials: Credentials
) -> None:
    # Given 25 events and a source asking for pages of 10
    admin.create_events(
        BEA,
        [
            {
                "subject": f"e{n}",
                "start": {"dateTime": f"2026-05-{n + 1:02d}T10:00:00", "timeZone": "UTC"},
                "end": {"dateTime": f"2026-05-{n + 1:02d}T11:00:00", "timeZone": "UTC"},
            }
            for n in range(25)
        ],
    )
    source = GraphCalendarSource(page_size=10)
    try:
        run = sync_run(source, credentials)
    finally:
        source.close()

    # Then the round came in pages of that size, ending with a deltaLink
    assert [len(p.events) for p in run.pages] == [10, 10, 5]
    assert "$deltatoken=" in (run.cursor or "")


def test_the_source_runs_on_one_loop_thread_and_close_ends_it(
    admin: SandboxAdminClient, credentials: Credentials
) -> None:
    # Given a source used from two threads
    source = GraphCalendarSource()
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            sync_run(source, credentials)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    workers = [threading.Thread(target=sync) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    loops = [t for t in threading.enumerate() if t.name == "calsync-graph"]

    # When it is closed
    source.close()

    # Then all calls worked on a single loop thread, which is gone now; it restarts on use
    assert errors == []
    assert len(loops) == 1
    assert not any(t.name == "calsync-graph" for t in threading.enumerate())
    assert sync_run(source, credentials).cursor
    source.close()


def _attendee(address: str, response: str, *, kind: str = "required", name: str) -> Json:
    return {
        "type": kind,
        "status": {"response": response, "time": "2026-04-01T10:00:00Z"},
        "emailAddress": {"address": address, "name": name},
    }
