"""The shared values: timings, versions and events reject what cannot be meant."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from domain.errors import InvalidTimingError, NaiveDatetimeError, UnknownTimeZoneError
from domain.model import AllDay, ContactRecord, EventVersion, Timed, utc_range
from tests.unit.domain.builders import an_event, at


def test_timed_rejects_naive_datetimes() -> None:
    with pytest.raises(NaiveDatetimeError):
        Timed(datetime(2026, 3, 12, 10), at(2026, 3, 12, 11))


def test_timed_rejects_an_end_before_the_start() -> None:
    with pytest.raises(InvalidTimingError):
        Timed(at(2026, 3, 12, 11), at(2026, 3, 12, 10))


def test_all_day_end_is_exclusive_so_it_must_follow_the_start() -> None:
    with pytest.raises(InvalidTimingError):
        AllDay(date(2026, 3, 12), date(2026, 3, 12))


def test_all_day_refuses_datetimes_that_would_lose_their_time() -> None:
    with pytest.raises(InvalidTimingError):
        AllDay(at(2026, 3, 12), at(2026, 3, 13))


def test_timing_kinds_say_whether_they_are_all_day() -> None:
    assert AllDay(date(2026, 3, 12), date(2026, 3, 13)).all_day
    assert not Timed(at(2026, 3, 12), at(2026, 3, 12, 1)).all_day


def test_utc_range_of_timed_is_its_instants_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    timing = Timed(
        datetime(2026, 6, 1, 10, tzinfo=plus_two), datetime(2026, 6, 1, 11, tzinfo=plus_two)
    )

    assert utc_range(timing, "Asia/Tokyo") == (at(2026, 6, 1, 8), at(2026, 6, 1, 9))


def test_utc_range_of_all_day_is_midnights_in_the_given_zone() -> None:
    # Given an all-day event on midsummer's eve, When read in Stockholm (UTC+2 in summer)
    start, end = utc_range(AllDay(date(2026, 6, 19), date(2026, 6, 20)), "Europe/Stockholm")

    # Then it runs from 22:00 UTC the evening before, for 24 hours
    assert (start, end) == (at(2026, 6, 18, 22), at(2026, 6, 19, 22))
    assert start.tzinfo is UTC


def test_utc_range_rejects_an_unknown_zone() -> None:
    with pytest.raises(UnknownTimeZoneError):
        utc_range(AllDay(date(2026, 6, 19), date(2026, 6, 20)), "Mars/Olympus_Mons")


def test_versions_and_contacts_need_aware_times() -> None:
    with pytest.raises(NaiveDatetimeError):
        EventVersion(datetime(2026, 3, 1))
    with pytest.raises(NaiveDatetimeError):
        ContactRecord("c1", None, True, datetime(2026, 3, 1))


def test_r13_a_cancelled_event_says_so() -> None:
    assert an_event(status="cancelled").is_cancelled
    assert not an_event().is_cancelled
