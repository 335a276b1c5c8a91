"""The pure parts of the live reads (R28 availability, rooms): no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.free_busy_status import FreeBusyStatus
from msgraph.generated.models.schedule_information import ScheduleInformation
from msgraph.generated.models.schedule_item import ScheduleItem

from adapters.calendar.errors import ProviderRejected, ProviderUnavailable
from adapters.calendar.google.availability import busy_intervals as google_busy
from adapters.calendar.google.rooms import directory_endpoint
from adapters.calendar.graph.availability import busy_intervals as graph_busy
from adapters.calendar.graph.availability import view_intervals
from adapters.sql.calendar_users import StoredWorkingHoursError, parse_working_hours
from domain.availability import WorkingHours
from domain.model import Provider
from ingest.calendar_json import availability_json
from ingest.calendar_reads import Availability

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

START = datetime(2026, 10, 26, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("calendar_url", "directory"),
    [
        ("https://www.googleapis.com/calendar/v3/", "https://admin.googleapis.com/"),
        ("https://www.googleapis.com/calendar/v3", "https://admin.googleapis.com/"),
        ("http://127.0.0.1:8080/calendar/v3/", "http://127.0.0.1:8080/"),
        ("https://proxy.example/google/calendar/v3/", "https://proxy.example/google/"),
    ],
)
def test_the_directory_api_is_found_next_to_the_calendar_api(
    calendar_url: str, directory: str
) -> None:
    assert directory_endpoint(calendar_url) == directory


def test_stored_working_hours_are_read() -> None:
    assert parse_working_hours("0,2,4", "08:30", "16:00", "Europe/Stockholm") == WorkingHours(
        frozenset({0, 2, 4}), time(8, 30), time(16), "Europe/Stockholm"
    )


@pytest.mark.parametrize(
    ("days", "start", "end"),
    [
        ("mon", "09:00", "17:00"),
        ("0,7", "09:00", "17:00"),
        ("0", "9", "17"),
        ("0", "17:00", "09:00"),
    ],
)
def test_malformed_stored_working_hours_say_so(days: str, start: str, end: str) -> None:
    with pytest.raises(StoredWorkingHoursError, match="malformed"):
        parse_working_hours(days, start, end, "UTC")


def test_google_busy_periods_become_utc_intervals() -> None:
    answer = {
        "calendars": {
            "primary": {
                "busy": [
                    {"start": "2026-10-26T10:00:00+01:00", "end": "2026-10-26T11:00:00+01:00"},
                    {"start": "2026-10-26T12:00:00Z", "end": "2026-10-26T12:00:00Z"},
                ]
            }
        }
    }

    assert google_busy(answer) == ((START + timedelta(hours=1), START + timedelta(hours=2)),)


def test_google_calendar_errors_are_ours() -> None:
    def answer(reason: str) -> dict[str, object]:
        return {"calendars": {"primary": {"busy": [], "errors": [{"reason": reason}]}}}

    with pytest.raises(ProviderRejected):
        google_busy(answer("notFound"))
    with pytest.raises(ProviderUnavailable):
        google_busy(answer("backendError"))
    with pytest.raises(ProviderUnavailable):
        google_busy({"kind": "calendar#freeBusy"})


def _item(status: FreeBusyStatus, start: str, end: str) -> ScheduleItem:
    return ScheduleItem(
        status=status,
        start=DateTimeTimeZone(date_time=start, time_zone="UTC"),
        end=DateTimeTimeZone(date_time=end, time_zone="UTC"),
    )


def test_graph_items_that_block_time() -> None:
    information = ScheduleInformation(
        schedule_items=[
            _item(
                FreeBusyStatus.Busy, "2026-10-26T08:00:00.0000000", "2026-10-26T09:00:00.0000000"
            ),
            _item(FreeBusyStatus.Tentative, "2026-10-26T10:00:00", "2026-10-26T10:30:00"),
            _item(FreeBusyStatus.Oof, "2026-10-26T11:00:00", "2026-10-26T12:00:00"),
            _item(FreeBusyStatus.Free, "2026-10-26T13:00:00", "2026-10-26T14:00:00"),
            _item(FreeBusyStatus.WorkingElsewhere, "2026-10-26T14:00:00", "2026-10-26T15:00:00"),
        ],
        availability_view="2222",
    )

    blocked = graph_busy(information, START)

    assert [(s.hour, s.minute, e.hour, e.minute) for s, e in blocked] == [
        (8, 0, 9, 0),
        (10, 0, 10, 30),
        (11, 0, 12, 0),
    ]


def test_graph_view_is_the_fallback_when_items_are_withheld() -> None:
    information = ScheduleInformation(schedule_items=[], availability_view="0120340")

    assert graph_busy(information, START) == view_intervals("0120340", START, 5)
    assert view_intervals("0120340", START, 5) == (
        (START + timedelta(minutes=5), START + timedelta(minutes=10)),
        (START + timedelta(minutes=10), START + timedelta(minutes=15)),
        (START + timedelta(minutes=20), START + timedelta(minutes=25)),
    )


def test_a_graph_time_in_an_unknown_zone_is_unreadable() -> None:
    information = ScheduleInformation(
        schedule_items=[
            ScheduleItem(
                status=FreeBusyStatus.Busy,
                start=DateTimeTimeZone(date_time="2026-10-26T08:00:00", time_zone="Nowhere/Land"),
                end=DateTimeTimeZone(date_time="2026-10-26T09:00:00", time_zone="Nowhere/Land"),
            )
        ]
    )

    with pytest.raises(ProviderUnavailable, match="Nowhere/Land"):
        graph_busy(information, START)


def test_slots_are_answered_in_utc_and_in_the_users_wall_clock_time() -> None:
    found = Availability(
        user_id="karl",
        provider=Provider.GOOGLE,
        start=datetime(2026, 10, 23, tzinfo=UTC),
        end=datetime(2026, 10, 27, tzinfo=UTC),
        slot=timedelta(minutes=45),
        working_hours=WorkingHours(frozenset({4, 0}), time(9), time(17), "Europe/Stockholm"),
        slots=(
            (datetime(2026, 10, 23, 7, tzinfo=UTC), datetime(2026, 10, 23, 7, 45, tzinfo=UTC)),
            (datetime(2026, 10, 26, 8, tzinfo=UTC), datetime(2026, 10, 26, 8, 45, tzinfo=UTC)),
        ),
        checked_at=datetime(2026, 10, 22, 12, tzinfo=UTC),
    )

    body = availability_json(found)

    assert body["slot_minutes"] == 45
    assert body["working_hours"] == {"days": ["monday", "friday"], "start": "09:00", "end": "17:00"}
    assert [(s["start"], s["local_start"]) for s in body["slots"]] == [
        ("2026-10-23T07:00:00+00:00", "2026-10-23T09:00:00+02:00"),
        ("2026-10-26T08:00:00+00:00", "2026-10-26T09:00:00+01:00"),
    ]
