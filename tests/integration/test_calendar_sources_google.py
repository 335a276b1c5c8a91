"""What only the Google source does: its event mapping and request parameters."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from adapters.calendar.google.source import GoogleCalendarSource
from adapters.calendar.source import Credentials
from domain.model import AllDay, Attendee, Provider, Response, Timed
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.support.calendar_sandbox import QUICK_RETRY, WINDOW, harness_for, sync_run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph")

Json = dict[str, Any]
ANN = "ann@example.com"
WEEKLY_IN_BERLIN = {
    "start": {"dateTime": "2026-05-04T09:00:00", "timeZone": "Europe/Berlin"},
    "end": {"dateTime": "2026-05-04T09:30:00", "timeZone": "Europe/Berlin"},
    "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"],
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Both sandbox providers, for this module."""
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="module")
def admin(sandbox: SandboxServer) -> Iterator[SandboxAdminClient]:
    """The Google sandbox's admin client."""
    with SandboxAdminClient(sandbox.google_url) as client:
        yield client


@pytest.fixture
def ann(admin: SandboxAdminClient) -> Json:
    """A fresh sandbox with one user in Berlin."""
    admin.reset()
    return admin.create_user(ANN, display_name="Ann", time_zone="Europe/Berlin")


@pytest.fixture
def credentials(sandbox: SandboxServer, admin: SandboxAdminClient, ann: Json) -> Credentials:
    """Ann's credentials."""
    return harness_for(Provider.GOOGLE, sandbox, admin).credentials(ann)


@pytest.fixture
def source() -> Iterator[GoogleCalendarSource]:
    """A Google source with quick retries."""
    made = GoogleCalendarSource(retry=QUICK_RETRY)
    yield made
    made.close()


def test_a_single_all_day_event_maps_to_whole_days(
    admin: SandboxAdminClient, source: GoogleCalendarSource, credentials: Credentials
) -> None:
    # Given a two-day all-day event
    body = {"summary": "Fair", "start": {"date": "2026-05-04"}, "end": {"date": "2026-05-06"}}
    admin.create_event(ANN, body)

    # When synced
    [event] = sync_run(source, credentials).events

    # Then it is whole days with the exclusive end, and not recurring (R8)
    assert event.timing == AllDay(date(2026, 5, 4), date(2026, 5, 6))
    assert not event.is_recurring
    assert event.instance_start is None


def test_instances_of_an_all_day_series_are_recurring_all_day_events(
    admin: SandboxAdminClient, source: GoogleCalendarSource, credentials: Credentials
) -> None:
    # Given a weekly all-day series
    series = admin.create_event(
        ANN,
        {
            "summary": "Standup day",
            "start": {"date": "2026-05-04"},
            "end": {"date": "2026-05-05"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"],
        },
    )

    # When synced
    events = sync_run(source, credentials).events

    # Then each instance is an all-day day of a series, named by its original date (R8)
    assert [(e.event_id, e.instance_start) for e in events] == [
        (f"{series['id']}_20260504", "2026-05-04"),
        (f"{series['id']}_20260511", "2026-05-11"),
        (f"{series['id']}_20260518", "2026-05-18"),
    ]
    assert all(e.is_recurring for e in events)
    assert events[1].timing == AllDay(date(2026, 5, 11), date(2026, 5, 12))


def test_instances_of_a_timed_series_carry_their_original_start_in_utc(
    admin: SandboxAdminClient, source: GoogleCalendarSource, credentials: Credentials
) -> None:
    # Given a weekly series in Berlin whose second instance was moved to the afternoon
    series = admin.create_event(ANN, {"summary": "Weekly", **WEEKLY_IN_BERLIN})
    moved = f"{series['id']}_20260511T070000Z"
    admin.update_event(
        ANN,
        moved,
        {
            "start": {"dateTime": "2026-05-11T15:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-05-11T15:30:00", "timeZone": "Europe/Berlin"},
        },
    )

    # When synced
    events = sync_run(source, credentials).by_id()

    # Then instances are named by their original start, in UTC, even the moved one
    assert events[moved].instance_start == "2026-05-11T07:00:00Z"
    assert events[moved].timing == Timed(
        datetime(2026, 5, 11, 13, tzinfo=UTC),
        datetime(2026, 5, 11, 13, 30, tzinfo=UTC),
        "Europe/Berlin",
    )
    assert events[f"{series['id']}_20260504T070000Z"].instance_start == "2026-05-04T07:00:00Z"
    assert all(e.is_recurring and e.ical_uid == series["iCalUID"] for e in events.values())


def test_a_cancelled_instance_keeps_its_place_in_the_series(
    admin: SandboxAdminClient, source: GoogleCalendarSource, credentials: Credentials
) -> None:
    # Given a synced series
    series = admin.create_event(ANN, {"summary": "Weekly", **WEEKLY_IN_BERLIN})
    cursor = sync_run(source, credentials).cursor

    # When one instance is deleted
    admin.delete_event(ANN, f"{series['id']}_20260511T070000Z")
    [gone] = sync_run(source, credentials, cursor).events

    # Then it comes back cancelled, with only its identity in the series
    assert gone.is_cancelled
    assert gone.is_recurring
    assert gone.instance_start == "2026-05-11T07:00:00Z"
    assert (gone.subject, gone.timing) == ("", None)


def test_attendees_rooms_declines_and_the_organizer_map(
    admin: SandboxAdminClient, source: GoogleCalendarSource, credentials: Credentials
) -> None:
    # Given an invitation from an outside organizer, with a room and a decline
    admin.create_room("room-1@example.com", name="Room 1")
    admin.create_event(
        ANN,
        {
            "summary": "Pitch",
            "description": "<b>Agenda</b>",
            "location": "HQ",
            "start": {"dateTime": "2026-05-04T10:00:00Z"},
            "end": {"dateTime": "2026-05-04T11:00:00Z"},
            "organizer": {"email": "olga@partner.example"},
            "attendees": [
                {"email": "olga@partner.example", "responseStatus": "accepted"},
                {"email": ANN, "responseStatus": "tentative"},
                {"email": "dan@partner.example", "responseStatus": "declined", "optional": True},
                {"email": "room-1@example.com"},
            ],
        },
    )

    # When synced
    [event] = sync_run(source, credentials).events

    # Then everyone maps, the room as a resource (R6), the decline kept (R11)
    assert event.organizer_email == "olga@partner.example"
    assert (event.subject, event.description, event.location) == ("Pitch", "<b>Agenda</b>", "HQ")
    assert event.attendees == (
        Attendee("olga@partner.example", None, Response.ACCEPTED, is_organizer=True),
        Attendee(ANN, "Ann", Response.TENTATIVE),
        Attendee("dan@partner.example", None, Response.DECLINED, optional=True),
        Attendee("room-1@example.com", "Room 1", Response.ACCEPTED, is_resource=True),
    )


def test_a_meet_link_maps_to_the_video_url(
    admin: SandboxAdminClient, source: GoogleCalendarSource, credentials: Credentials
) -> None:
    # Given an event whose Meet conference was created, and one with another video solution
    admin.configure(meet_delay_seconds=0)
    meet = admin.create_event(
        ANN,
        {
            "summary": "Meet",
            "start": {"dateTime": "2026-05-04T10:00:00Z"},
            "end": {"dateTime": "2026-05-04T11:00:00Z"},
            "conferenceData": {
                "createRequest": {
                    "requestId": "req-1",
                    "conferenceSolutionKey": {"type": "hangoutsMeet"},
                }
            },
        },
    )
    other = admin.create_event(
        ANN,
        {
            "summary": "Other",
            "start": {"dateTime": "2026-05-05T10:00:00Z"},
            "end": {"dateTime": "2026-05-05T11:00:00Z"},
            "conferenceData": {
                "entryPoints": [
                    {"entryPointType": "phone", "uri": "tel:+15550100"},
                    {"entryPointType": "video", "uri": "https://video.example/j/42"},
                ]
            },
        },
    )
    hangout = _wait_for_meet(admin, meet["id"])

    # When synced
    events = sync_run(source, credentials).by_id()

    # Then the join URLs are the video URLs (R22)
    assert hangout.startswith("https://meet.google.com/")
    assert events[meet["id"]].video_url == hangout
    assert events[other["id"]].video_url == "https://video.example/j/42"


def test_versions_carry_updated_sequence_and_etag(
    admin: SandboxAdminClient, source: GoogleCalendarSource, credentials: Credentials
) -> None:
    # Given an event moved once (which raises its sequence)
    created = admin.create_event(
        ANN,
        {
            "start": {"dateTime": "2026-05-04T10:00:00Z"},
            "end": {"dateTime": "2026-05-04T11:00:00Z"},
        },
    )
    moved = admin.update_event(
        ANN,
        created["id"],
        {
            "start": {"dateTime": "2026-05-04T12:00:00Z"},
            "end": {"dateTime": "2026-05-04T13:00:00Z"},
        },
    )

    # When synced
    [event] = sync_run(source, credentials).events

    # Then its version is Google's updated, sequence and etag
    assert event.version.sequence == moved["sequence"] == 1
    assert event.version.change_key == moved["etag"]
    assert event.version.updated == datetime.fromisoformat(moved["updated"])


def test_the_window_goes_on_full_syncs_only_and_single_events_on_every_request(
    admin: SandboxAdminClient, source: GoogleCalendarSource, credentials: Credentials
) -> None:
    # Given a full sync and an incremental one
    cursor = sync_run(source, credentials).cursor
    sync_run(source, credentials, cursor)

    # Then the window went only with the first, singleEvents with both (PROVIDERS.md A2)
    full, incremental = [r["query"] for r in admin.requests() if r["path"].endswith("/events")]
    assert full["timeMin"] == "2026-05-01T00:00:00Z"
    assert full["timeMax"] == "2026-06-01T00:00:00Z"
    assert "timeMin" not in incremental
    assert "timeMax" not in incremental
    assert incremental["syncToken"] == cursor
    assert full["singleEvents"] == incremental["singleEvents"] == "true"
    assert full["maxResults"] == incremental["maxResults"] == "250"


def test_a_rate_limit_403_is_retried_like_a_429(
    admin: SandboxAdminClient, source: GoogleCalendarSource, credentials: Credentials
) -> None:
    # Given a 403 rateLimitExceeded on the next call
    admin.fail_next(403, path="/events$")

    # When synced, then the source retried and succeeded
    assert sync_run(source, credentials).events == []
    statuses = [r["status"] for r in admin.requests() if r["path"].endswith("/events")]
    assert statuses == [403, 200]


def test_a_reconnect_with_a_new_refresh_token_replaces_the_session(
    admin: SandboxAdminClient, source: GoogleCalendarSource, credentials: Credentials
) -> None:
    # Given a source that synced with a grant the user then revoked, and a new grant
    sync_run(source, credentials)
    admin.revoke_refresh_tokens(user=ANN)
    admin.expire_access_tokens(ANN)
    fresh = admin.issue_refresh_token(ANN)

    # When the source is given the new grant, then it works with it
    page = source.changes(
        replace(credentials, refresh_token=fresh), cursor=None, page=None, window=WINDOW
    )
    assert page.tokens is not None
    assert page.tokens.refresh_token == fresh


def _wait_for_meet(admin: SandboxAdminClient, event_id: str) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        stored = next(e for e in admin.events(ANN) if e["id"] == event_id)
        if stored.get("hangoutLink"):
            return str(stored["hangoutLink"])
        time.sleep(0.02)
    raise AssertionError("the Meet conference was never created")
