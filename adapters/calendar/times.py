"""Reading provider times into domain values, the same way for Google and Graph."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.timing import AllDay, Timed

#: The one form of ``ProviderEvent.instance_start`` for a timed series: UTC, whole seconds.
INSTANCE_START_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def parse_instant(text: str | None, zone: tzinfo = UTC) -> datetime | None:
    """An aware datetime from RFC 3339 / ISO 8601 text (up to 7 fractional digits).

    A value without an offset is read in ``zone``. Returns None for missing or unreadable
    text rather than failing a whole page over one field.
    """
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def parse_date(text: str | None) -> date | None:
    """A date from ``YYYY-MM-DD`` (any time part after it is ignored); None if unreadable."""
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def iana_zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone called ``name``; None for Windows names and anything else unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: names such as "Europe" are directories of the zone database.
        return None


def canonical_instant(moment: datetime) -> str:
    """``instance_start`` of a timed instance: its UTC instant, e.g. ``2026-05-04T07:00:00Z``."""
    return moment.astimezone(UTC).strftime(INSTANCE_START_FORMAT)


def timed(start: datetime, end: datetime, time_zone: str | None) -> Timed:
    """A ``Timed`` in UTC; an end before the start (bad provider data) is read as the start."""
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    zone = time_zone if iana_zone(time_zone) is not None else None
    return Timed(start_utc, max(start_utc, end_utc), zone)


def all_day(start: date, end: date) -> AllDay:
    """An ``AllDay`` with exclusive end; an end not after the start is read as one day."""
    return AllDay(start, max(end, start + timedelta(days=1)))
