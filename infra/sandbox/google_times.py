"""Google ``EventDateTime`` values: validation, instants and rendering in a time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from infra.sandbox.errors import ApiError
from infra.sandbox.timeutil import format_with_offset


def zone(name: str) -> ZoneInfo:
    """An IANA zone, or 400 ``invalid`` as Google answers for an unknown ``timeZone``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(400, "invalid", f"Invalid time zone definition: {name}") from None


def is_all_day(value: dict[str, Any]) -> bool:
    """Whether an ``EventDateTime`` is a date (all-day) rather than a date-time."""
    return "date" in value and value.get("date") is not None


def instant(value: dict[str, Any], calendar_zone: str) -> datetime:
    """The absolute moment an ``EventDateTime`` denotes (all-day: midnight in the calendar zone).

    Raises:
        ApiError: 400 when the value is malformed or a naive date-time has no ``timeZone``.
    """
    try:
        if is_all_day(value):
            day = date.fromisoformat(value["date"])
            return datetime.combine(day, time(), zone(calendar_zone))
        moment = datetime.fromisoformat(str(value["dateTime"]).replace("z", "Z"))
    except (KeyError, ValueError):
        raise ApiError(400, "invalid", "Invalid start or end time.") from None
    if moment.tzinfo is None:
        if not value.get("timeZone"):
            raise ApiError(400, "required", "Missing time zone definition for start time.")
        moment = moment.replace(tzinfo=zone(value["timeZone"]))
    return moment


def normalize(value: dict[str, Any], calendar_zone: str) -> dict[str, Any]:
    """The stored form: ``{date}`` or ``{dateTime with offset, timeZone}``."""
    if is_all_day(value):
        instant(value, calendar_zone)
        return {"date": value["date"]}
    tz_name = value.get("timeZone") or calendar_zone
    moment = instant(value, calendar_zone).astimezone(zone(tz_name))
    return {"dateTime": format_with_offset(moment), "timeZone": tz_name}


def render(value: dict[str, Any], tz_name: str | None) -> dict[str, Any]:
    """An ``EventDateTime`` shown in ``tz_name`` (the list ``timeZone`` parameter), if given."""
    if tz_name is None or is_all_day(value):
        return dict(value)
    moment = instant(value, "UTC").astimezone(zone(tz_name))
    return {"dateTime": format_with_offset(moment), "timeZone": value.get("timeZone", tz_name)}


def validate_span(start: dict[str, Any], end: dict[str, Any], calendar_zone: str) -> None:
    """Both ends of one kind, end not before start; 400 as Google answers otherwise."""
    if is_all_day(start) != is_all_day(end):
        raise ApiError(
            400, "invalid", "Start and end times must either both be date or both be dateTime."
        )
    if instant(end, calendar_zone) < instant(start, calendar_zone):
        raise ApiError(
            400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar"
        )


def shift(value: dict[str, Any], delta: timedelta, calendar_zone: str) -> dict[str, Any]:
    """The same ``EventDateTime`` moved by ``delta`` (used to place recurring instances)."""
    if is_all_day(value):
        return {"date": (date.fromisoformat(value["date"]) + delta).isoformat()}
    tz_name = value.get("timeZone") or calendar_zone
    moment = instant(value, calendar_zone).astimezone(zone(tz_name))
    local = (moment.replace(tzinfo=None) + delta).replace(tzinfo=zone(tz_name))
    return {"dateTime": format_with_offset(local), "timeZone": tz_name}
