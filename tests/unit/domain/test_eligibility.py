"""R7-R9 and R13: which events become appointments."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.eligibility import (
    Ineligible,
    SyncWindow,
    add_months,
    decide_eligibility,
    overlaps_window,
    sync_window,
)
from domain.errors import UnknownTimeZoneError
from domain.model import AllDay, Attendee, Provider, Timed
from domain.participants import resolve_attendees
from tests.unit.domain.builders import (
    CONNECTED_ON,
    STOCKHOLM,
    TODAY,
    an_event,
    article_directory,
    at,
    karls_window,
    meeting_time,
)

SWEDEN = ZoneInfo(STOCKHOLM)


def test_r9_window_starts_at_midnight_of_the_connection_day_in_the_users_zone() -> None:
    window = sync_window(date(2026, 3, 2), STOCKHOLM, date(2026, 3, 10))
    # Stockholm is UTC+1 in March, so local midnight is 23:00 UTC the day before
    assert window.start == at(2026, 3, 1, 23)
    assert window.start.astimezone(SWEDEN) == datetime(2026, 3, 2, tzinfo=SWEDEN)


def test_r9_window_ends_after_the_whole_day_three_months_ahead() -> None:
    window = sync_window(date(2026, 3, 2), STOCKHOLM, date(2026, 3, 10))
    # 10 June is synced whole; the window ends at local midnight starting 11 June (UTC+2)
    assert window.end == at(2026, 6, 10, 22)


def test_r9_window_end_moves_forward_every_day() -> None:
    today, tomorrow = (
        sync_window(CONNECTED_ON, STOCKHOLM, day) for day in (TODAY, TODAY + timedelta(1))
    )
    assert tomorrow.start == today.start
    assert tomorrow.end - today.end == timedelta(days=1)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 30), date(2027, 2, 28)),
        (date(2027, 11, 30), date(2028, 2, 29)),
        (date(2026, 10, 31), date(2027, 1, 31)),
        (date(2026, 3, 31), date(2026, 6, 30)),
        (date(2026, 1, 15), date(2026, 4, 15)),
    ],
)
def test_r9_three_calendar_months_clamp_to_the_month_end(day: date, expected: date) -> None:
    assert add_months(day, 3) == expected


def test_r9_unknown_zone_is_refused() -> None:
    with pytest.raises(UnknownTimeZoneError):
        sync_window(CONNECTED_ON, "Europe/Atlantis", TODAY)


def test_r9_window_needs_aware_bounds_in_order() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        SyncWindow(at(2026, 3, 2), at(2026, 3, 1))


def test_r9_events_before_the_connection_day_are_outside() -> None:
    window = karls_window()
    assert not overlaps_window(Timed(at(2026, 3, 1, 21), at(2026, 3, 1, 22)), window)
    assert overlaps_window(Timed(at(2026, 3, 1, 22, 30), at(2026, 3, 1, 23, 30)), window)


def test_r9_all_day_event_on_the_connection_day_is_read_in_the_users_zone() -> None:
    window = karls_window()
    assert overlaps_window(AllDay(CONNECTED_ON, CONNECTED_ON + timedelta(1)), window)
    assert not overlaps_window(AllDay(date(2026, 3, 1), CONNECTED_ON), window)


def test_r9_an_event_starting_at_the_window_end_is_outside() -> None:
    window = karls_window()
    assert not overlaps_window(Timed(window.end, window.end + timedelta(hours=1)), window)
    assert overlaps_window(Timed(window.end - timedelta(hours=1), window.end), window)


def test_r9_zero_length_meetings_count_when_their_instant_is_inside() -> None:
    window = karls_window()
    assert overlaps_window(Timed(window.start, window.start), window)
    assert not overlaps_window(Timed(window.end, window.end), window)


def _decide(
    event_attendees: list[Attendee], organizer: str | None, **event_fields: Any
) -> Ineligible | None:
    event = an_event(event_attendees, organizer, **event_fields)
    resolution = resolve_attendees(event.attendees, event.organizer_email, article_directory())
    return decide_eligibility(event, resolution, "karl", karls_window())


def test_r7_event_without_attendees_is_not_synced() -> None:
    assert _decide([], None) is Ineligible.NO_PARTICIPANTS


def test_r7_the_owner_alone_is_not_a_participant_besides_the_owner() -> None:
    assert (
        _decide([Attendee("karl@exempel.se")], "karl.andersson@exempel.se")
        is Ineligible.NO_PARTICIPANTS
    )


def test_r7_owner_and_colleague_only_is_not_synced() -> None:
    attendees = [Attendee("karl@exempel.se"), Attendee("johanna@exempel.se")]
    assert _decide(attendees, "karl@exempel.se") is Ineligible.NO_PARTICIPANTS


def test_r7_another_user_counts_as_a_participant() -> None:
    event = an_event(
        [Attendee("karl@exempel.se"), Attendee("lucas@gbg.exempel.se")], "karl@exempel.se"
    )
    directory = article_directory(with_lucas=True)
    resolution = resolve_attendees(event.attendees, event.organizer_email, directory)
    assert decide_eligibility(event, resolution, "karl", karls_window()) is None


def test_r7_an_external_counts_as_a_participant() -> None:
    assert (
        _decide([Attendee("karl@exempel.se"), Attendee("anna@kund.se")], "karl@exempel.se") is None
    )


def test_r8_google_all_day_recurring_event_is_not_synced() -> None:
    timing = AllDay(date(2026, 3, 12), date(2026, 3, 13))
    attendees = [Attendee("anna@kund.se")]
    assert (
        _decide(attendees, "karl@exempel.se", timing=timing, is_recurring=True)
        is Ineligible.ALL_DAY_RECURRING
    )


def test_r8_single_all_day_and_timed_recurring_google_events_are_synced() -> None:
    all_day = AllDay(date(2026, 3, 12), date(2026, 3, 13))
    attendees = [Attendee("anna@kund.se")]
    assert _decide(attendees, "karl@exempel.se", timing=all_day) is None
    assert _decide(attendees, "karl@exempel.se", timing=meeting_time(), is_recurring=True) is None


def test_r8_microsoft_all_day_recurring_event_is_synced() -> None:
    timing = AllDay(date(2026, 3, 12), date(2026, 3, 13))
    attendees = [Attendee("anna@kund.se")]
    decision = _decide(
        attendees, "karl@exempel.se", timing=timing, is_recurring=True, provider=Provider.MICROSOFT
    )
    assert decision is None


def test_r9_event_three_months_and_a_day_ahead_is_not_synced() -> None:
    late = Timed(datetime(2026, 6, 11, 9, tzinfo=SWEDEN), datetime(2026, 6, 11, 10, tzinfo=SWEDEN))
    assert (
        _decide([Attendee("anna@kund.se")], "karl@exempel.se", timing=late)
        is Ineligible.OUTSIDE_WINDOW
    )


def test_r13_cancelled_event_creates_no_appointment() -> None:
    assert (
        _decide([Attendee("anna@kund.se")], "karl@exempel.se", status="cancelled")
        is Ineligible.CANCELLED
    )


def test_an_event_without_time_cannot_be_placed_in_the_window() -> None:
    event = an_event([Attendee("anna@kund.se")], "karl@exempel.se")
    timeless = replace(event, timing=None)
    resolution = resolve_attendees(
        timeless.attendees, timeless.organizer_email, article_directory()
    )
    assert decide_eligibility(timeless, resolution, "karl", karls_window()) is Ineligible.NO_TIME


def test_r9_window_bounds_are_utc_instants() -> None:
    window = karls_window()
    assert window.start.tzinfo is UTC
    assert window.end.tzinfo is UTC
