"""Free time slots from busy intervals and working hours (R28)."""

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from domain.zones import load_zone, local_to_utc, to_utc

#: An interval of time, start inclusive, end exclusive, as aware datetimes.
Interval = tuple[datetime, datetime]

#: Monday to Friday, as ``date.weekday()`` numbers them.
WEEKDAYS = frozenset(range(5))


@dataclass(frozen=True)
class WorkingHours:
    """When a user works, as local wall-clock times in ``time_zone``.

    Attributes:
        days: weekdays worked, 0 for Monday to 6 for Sunday.
        start, end: the working day, ``start`` before ``end``; night shifts that cross
            midnight are not supported.
        time_zone: the user's IANA zone.
    """

    days: frozenset[int] = WEEKDAYS
    start: time = time(9)
    end: time = time(17)
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        if not self.days <= frozenset(range(7)):
            raise ValueError(f"working days must be 0 (Monday) to 6 (Sunday), got {self.days}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("working hours are wall-clock times; give the zone in time_zone")
        if self.start >= self.end:
            raise ValueError(f"working day ends ({self.end}) before it starts ({self.start})")


def free_slots(
    busy: Sequence[Interval],
    period_start: datetime,
    period_end: datetime,
    working_hours: WorkingHours,
    slot: timedelta,
) -> list[Interval]:
    """Return the free slots of a user in a period (R28).

    Slots are exactly ``slot`` long and follow each other from the start of each working
    day, whose wall-clock hours are placed in the user's zone day by day, so a DST change
    inside the period moves their UTC instants with it. A slot is kept if it lies wholly
    inside working hours and the period and overlaps no busy interval; busy intervals may
    overlap each other and come in any order, and a slot may touch one at either end.

    Returns:
        The free slots in time order, as aware UTC datetimes.

    Raises:
        NaiveDatetimeError: a naive period bound or busy datetime.
        ValueError: ``slot`` is not positive, or a busy interval ends before it starts.
        UnknownTimeZoneError: the working hours' zone is unknown.
    """
    start, end = to_utc(period_start, "period_start"), to_utc(period_end, "period_end")
    if slot <= timedelta(0):
        raise ValueError(f"slot must be longer than zero, got {slot}")
    merged_busy = merge_intervals(busy)
    return [
        candidate
        for candidate in _slots_in_working_hours(start, end, working_hours, slot)
        if start <= candidate[0] and candidate[1] <= end and not _overlaps(candidate, merged_busy)
    ]


def merge_intervals(intervals: Sequence[Interval]) -> list[Interval]:
    """Return ``intervals`` in UTC, sorted, with overlapping and touching ones merged.

    Empty intervals are dropped: they block nothing.

    Raises:
        NaiveDatetimeError: a naive datetime.
        ValueError: an interval ends before it starts.
    """
    merged: list[Interval] = []
    for busy_start, busy_end in sorted(_utc_intervals(intervals)):
        if merged and busy_start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], busy_end))
        else:
            merged.append((busy_start, busy_end))
    return merged


def _utc_intervals(intervals: Sequence[Interval]) -> Iterator[Interval]:
    for raw_start, raw_end in intervals:
        busy_start, busy_end = to_utc(raw_start, "busy start"), to_utc(raw_end, "busy end")
        if busy_end < busy_start:
            raise ValueError(f"busy interval ends ({raw_end}) before it starts ({raw_start})")
        if busy_end > busy_start:
            yield busy_start, busy_end


def _slots_in_working_hours(
    start: datetime, end: datetime, hours: WorkingHours, slot: timedelta
) -> Iterator[Interval]:
    for day_start, day_end in _working_days(start, end, hours):
        # Step in UTC: adding to a zoned datetime would step wall-clock time across DST.
        slot_start = day_start
        while slot_start + slot <= day_end:
            yield slot_start, slot_start + slot
            slot_start += slot


def _working_days(start: datetime, end: datetime, hours: WorkingHours) -> Iterator[Interval]:
    zone = load_zone(hours.time_zone)
    first_day, last_day = start.astimezone(zone).date(), end.astimezone(zone).date()
    for offset in range((last_day - first_day).days + 1):
        day = first_day + timedelta(days=offset)
        if day.weekday() in hours.days:
            yield local_to_utc(day, hours.start, zone), local_to_utc(day, hours.end, zone)


def _overlaps(candidate: Interval, merged_busy: Sequence[Interval]) -> bool:
    """Whether ``candidate`` overlaps one of the sorted, disjoint ``merged_busy``."""
    slot_start, slot_end = candidate
    # The first busy interval that ends after the slot starts is the only one that can overlap.
    index = bisect_right(merged_busy, slot_start, key=lambda interval: interval[1])
    return index < len(merged_busy) and merged_busy[index][0] < slot_end
