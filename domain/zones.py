"""Time zones and instants: the guards every time-based rule shares."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import NaiveDatetimeError, UnknownTimeZoneError


def load_zone(name: str) -> ZoneInfo:
    """Return the IANA zone called ``name``.

    Raises:
        UnknownTimeZoneError: the name is not a zone of the IANA database.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        # OSError: some names, such as "Europe", are directories of the zone database.
        raise UnknownTimeZoneError(f"unknown time zone {name!r}") from error


def require_aware(value: datetime, name: str) -> datetime:
    """Return ``value`` unchanged if it carries a UTC offset.

    Raises:
        NaiveDatetimeError: ``value`` is naive, so it names no single instant.
    """
    if value.utcoffset() is None:
        raise NaiveDatetimeError(f"{name} must carry a UTC offset, got {value!r}")
    return value


def to_utc(value: datetime, name: str) -> datetime:
    """Return the aware ``value`` as the same instant in UTC (see ``require_aware``)."""
    return require_aware(value, name).astimezone(UTC)


def local_to_utc(day: date, wall_clock: time, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of a wall-clock time on ``day`` in ``zone``.

    A wall-clock time skipped by a DST change (02:30 on a spring-forward night) is read
    with the offset in force before the change, as ``zoneinfo`` does for ``fold=0``.
    """
    return datetime.combine(day, wall_clock, tzinfo=zone).astimezone(UTC)


def midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    """Return the UTC instant at which ``day`` begins in ``zone``."""
    return local_to_utc(day, time.min, zone)
