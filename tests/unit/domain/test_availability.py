"""R28: free slots respect working hours, busy time and the slot length asked for."""

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.availability import WorkingHours, free_slots, merge_intervals
from domain.errors import NaiveDatetimeError
from tests.unit.domain.builders import at

SWEDEN = ZoneInfo("Europe/Stockholm")
OFFICE = WorkingHours(time_zone="Europe/Stockholm")
HOUR = timedelta(hours=1)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SWEDEN)


def starts(slots: list[tuple[datetime, datetime]]) -> list[datetime]:
    return [start for start, _ in slots]


def test_r28_default_working_hours_are_weekdays_nine_to_five() -> None:
    hours = WorkingHours()
    assert (hours.days, hours.start, hours.end) == (frozenset(range(5)), time(9), time(17))


def test_r28_a_free_day_is_cut_into_consecutive_slots_from_nine() -> None:
    # Given Monday 9 March 2026 with nothing booked
    slots = free_slots([], local(2026, 3, 9), local(2026, 3, 10), OFFICE, HOUR)

    # Then there are eight one-hour slots, 09:00-17:00 Stockholm (08:00-16:00 UTC)
    assert starts(slots) == [at(2026, 3, 9, hour) for hour in range(8, 16)]
    assert all(end - start == HOUR and start.tzinfo is UTC for start, end in slots)


def test_r28_busy_intervals_overlapping_and_unsorted_remove_every_slot_they_touch() -> None:
    busy = [
        (local(2026, 3, 9, 13), local(2026, 3, 9, 14)),
        (local(2026, 3, 9, 10, 30), local(2026, 3, 9, 11, 15)),
        (local(2026, 3, 9, 10), local(2026, 3, 9, 10, 45)),
    ]
    slots = free_slots(busy, local(2026, 3, 9), local(2026, 3, 10), OFFICE, HOUR)

    # 10:00 and 11:00 overlap the merged 10:00-11:15; 13:00 is busy; 12:00 only touches 13:00
    assert [s.astimezone(SWEDEN).hour for s in starts(slots)] == [9, 12, 14, 15, 16]


def test_r28_weekends_are_not_working_days() -> None:
    saturday, monday = local(2026, 3, 14), local(2026, 3, 16)
    assert free_slots([], saturday, monday, OFFICE, HOUR) == []


def test_r28_spring_dst_change_shifts_working_hours_in_utc() -> None:
    # Given a period across Sunday 29 March 2026, when Stockholm moves from UTC+1 to UTC+2
    slots = free_slots([], local(2026, 3, 27), local(2026, 3, 31), OFFICE, 8 * HOUR)

    # Then 09:00 local is 08:00 UTC on the Friday before and 07:00 UTC on the Monday after
    assert slots == [
        (at(2026, 3, 27, 8), at(2026, 3, 27, 16)),
        (at(2026, 3, 30, 7), at(2026, 3, 30, 15)),
    ]


def test_r28_autumn_dst_change_shifts_working_hours_in_utc() -> None:
    # Given a period across Sunday 25 October 2026, when Stockholm moves from UTC+2 to UTC+1
    slots = free_slots([], local(2026, 10, 23), local(2026, 10, 27), OFFICE, 8 * HOUR)

    assert slots == [
        (at(2026, 10, 23, 7), at(2026, 10, 23, 15)),
        (at(2026, 10, 26, 8), at(2026, 10, 26, 16)),
    ]


def test_r28_slots_are_exact_lengths_even_when_the_clock_jumps_inside_working_hours() -> None:
    # Given night-owl hours 01:00-04:00 on the night the clocks jump from 02:00 to 03:00
    night = WorkingHours(
        days=frozenset({6}), start=time(1), end=time(4), time_zone="Europe/Stockholm"
    )

    slots = free_slots([], local(2026, 3, 29), local(2026, 3, 30), night, HOUR)

    # Then the working "three hours" are two real hours, so two one-hour slots
    assert slots == [
        (at(2026, 3, 29, 0), at(2026, 3, 29, 1)),
        (at(2026, 3, 29, 1), at(2026, 3, 29, 2)),
    ]


def test_r28_slots_stay_aligned_to_the_working_day_when_the_period_starts_later() -> None:
    slots = free_slots(
        [], local(2026, 3, 9, 10, 10), local(2026, 3, 9, 12), OFFICE, timedelta(minutes=45)
    )
    # The grid is 09:00, 09:45, 10:30, 11:15 ...; between 10:10 and 12:00 only two fit
    assert [(s.astimezone(SWEDEN).time(), e.astimezone(SWEDEN).time()) for s, e in slots] == [
        (time(10, 30), time(11, 15)),
        (time(11, 15), time(12, 0)),
    ]


def test_r28_a_slot_that_would_run_past_working_hours_is_dropped() -> None:
    slots = free_slots([], local(2026, 3, 9), local(2026, 3, 10), OFFICE, 3 * HOUR)
    assert [s.astimezone(SWEDEN).hour for s in starts(slots)] == [9, 12]


def test_r28_naive_datetimes_are_refused() -> None:
    with pytest.raises(NaiveDatetimeError):
        free_slots([], datetime(2026, 3, 9), local(2026, 3, 10), OFFICE, HOUR)
    with pytest.raises(NaiveDatetimeError):
        free_slots(
            [(datetime(2026, 3, 9, 10), local(2026, 3, 9, 11))],
            local(2026, 3, 9),
            local(2026, 3, 10),
            OFFICE,
            HOUR,
        )


@pytest.mark.parametrize("slot", [timedelta(0), -HOUR])
def test_r28_non_positive_slot_is_refused(slot: timedelta) -> None:
    with pytest.raises(ValueError, match="slot must be longer than zero"):
        free_slots([], local(2026, 3, 9), local(2026, 3, 10), OFFICE, slot)


def test_r28_a_busy_interval_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="busy interval ends"):
        free_slots(
            [(local(2026, 3, 9, 11), local(2026, 3, 9, 10))],
            local(2026, 3, 9),
            local(2026, 3, 10),
            OFFICE,
            HOUR,
        )


def test_r28_working_hours_must_make_sense() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        WorkingHours(start=time(17), end=time(9))
    with pytest.raises(ValueError, match="0 \\(Monday\\) to 6"):
        WorkingHours(days=frozenset({7}))


def test_r28_merge_joins_overlapping_and_touching_intervals_and_drops_empty_ones() -> None:
    merged = merge_intervals(
        [
            (at(2026, 1, 1, 12), at(2026, 1, 1, 13)),
            (at(2026, 1, 1, 9), at(2026, 1, 1, 10)),
            (at(2026, 1, 1, 10), at(2026, 1, 1, 11)),
            (at(2026, 1, 1, 15), at(2026, 1, 1, 15)),
        ]
    )
    assert merged == [
        (at(2026, 1, 1, 9), at(2026, 1, 1, 11)),
        (at(2026, 1, 1, 12), at(2026, 1, 1, 13)),
    ]


WEEK_START = at(2026, 3, 23)  # a week that contains the spring DST change
quarter_hours = st.integers(min_value=0, max_value=7 * 24 * 4).map(
    lambda n: WEEK_START + n * timedelta(minutes=15)
)
busy_intervals = st.lists(
    st.tuples(quarter_hours, quarter_hours).map(lambda pair: tuple(sorted(pair))), max_size=12
)


@settings(max_examples=200)
@given(busy_intervals, st.sampled_from([timedelta(minutes=m) for m in (15, 30, 45, 60, 90)]))
def test_r28_every_slot_is_free_exact_and_inside_working_hours(
    busy: list[tuple[datetime, datetime]], slot: timedelta
) -> None:
    # When free slots are asked for a whole week with random busy time
    slots = free_slots(busy, WEEK_START, WEEK_START + timedelta(days=7), OFFICE, slot)

    # Then each is exactly one slot long, inside local working hours, and overlaps no busy time
    # (an empty busy interval blocks nothing)
    for start, end in slots:
        local_start, local_end = start.astimezone(SWEDEN), end.astimezone(SWEDEN)
        assert end - start == slot
        assert local_start.weekday() < 5
        assert time(9) <= local_start.time()
        assert local_end.time() <= time(17)
        assert not any(
            start < busy_end and busy_start < end
            for busy_start, busy_end in busy
            if busy_start < busy_end
        )
    # And they come in order without overlapping each other
    assert all(previous[1] <= following[0] for previous, following in pairwise(slots))
