"""When a meeting happens: a span between two instants, or a span of whole days."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeAlias

from domain.errors import InvalidTimingError
from domain.zones import load_zone, midnight_utc, require_aware


@dataclass(frozen=True)
class Timed:
    """A meeting from one instant to another.

    ``time_zone`` is the IANA zone the provider shows the meeting in. It labels the meeting
    and never changes which instants ``start`` and ``end`` are.
    """

    start: datetime
    end: datetime
    time_zone: str | None = None

    def __post_init__(self) -> None:
        require_aware(self.start, "start")
        require_aware(self.end, "end")
        if self.end < self.start:
            raise InvalidTimingError(f"meeting ends ({self.end}) before it starts ({self.start})")

    @property
    def all_day(self) -> bool:
        """Always False: a timed meeting is pinned to instants."""
        return False


@dataclass(frozen=True)
class AllDay:
    """Whole days from ``start_date`` up to, but not including, ``end_date``.

    The end is exclusive because both Google and Graph send it that way: a one-day event on
    1 March has ``end_date`` 2 March. The days belong to no time zone until a reader picks one.
    """

    start_date: date
    end_date: date

    def __post_init__(self) -> None:
        # datetime is a subclass of date; a datetime here would silently drop its time.
        if isinstance(self.start_date, datetime) or isinstance(self.end_date, datetime):
            raise InvalidTimingError("an all-day meeting takes dates, not datetimes")
        if self.end_date <= self.start_date:
            raise InvalidTimingError(
                f"all-day end {self.end_date} must be after start {self.start_date} (exclusive end)"
            )

    @property
    def all_day(self) -> bool:
        """Always True."""
        return True


#: Either kind of meeting time; tell them apart with ``isinstance`` or ``.all_day``.
Timing: TypeAlias = Timed | AllDay


def utc_range(timing: Timing, time_zone: str = "UTC") -> tuple[datetime, datetime]:
    """Return the UTC instants at which ``timing`` starts and ends.

    Args:
        timing: a timed or an all-day span.
        time_zone: the IANA zone whose midnights bound an all-day span. Ignored for a timed
            span, whose instants are already fixed.

    Raises:
        UnknownTimeZoneError: ``time_zone`` is unknown (all-day spans only).
    """
    if isinstance(timing, Timed):
        return timing.start.astimezone(UTC), timing.end.astimezone(UTC)
    zone = load_zone(time_zone)
    return midnight_utc(timing.start_date, zone), midnight_utc(timing.end_date, zone)
