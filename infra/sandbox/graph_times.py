"""Graph ``dateTimeTimeZone`` values, Windows time-zone names and ``Prefer`` headers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from infra.sandbox.errors import ApiError

#: Windows time-zone names Outlook uses, mapped to IANA (the common ones; CLDR has the rest).
WINDOWS_ZONES = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix",
    "Pacific Standard Time": "America/Los_Angeles",
    "Alaskan Standard Time": "America/Anchorage",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Atlantic Standard Time": "America/Halifax",
    "E. South America Standard Time": "America/Sao_Paulo",
    "India Standard Time": "Asia/Kolkata",
    "China Standard Time": "Asia/Shanghai",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Singapore Standard Time": "Asia/Singapore",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "New Zealand Standard Time": "Pacific/Auckland",
    "Arabian Standard Time": "Asia/Dubai",
    "Israel Standard Time": "Asia/Jerusalem",
    "South Africa Standard Time": "Africa/Johannesburg",
}

_PREFER_ITEM = re.compile(r'\s*([\w.\-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,;\s]*))?')


def zone(name: str) -> ZoneInfo:
    """A zone named the Windows or the IANA way; 400 when Graph would not know it."""
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(
            400,
            "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified: {name}",
        ) from None


def parse(value: dict[str, Any] | None, field: str) -> datetime:
    """The moment a ``dateTimeTimeZone`` denotes (a naive ``dateTime`` is in its ``timeZone``)."""
    if not value or not value.get("dateTime"):
        raise ApiError(400, "ErrorInvalidRequest", f"The {field} time must be specified.")
    try:
        moment = datetime.fromisoformat(str(value["dateTime"]))
    except ValueError:
        raise ApiError(400, "ErrorInvalidRequest", f"Invalid {field} dateTime.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(value.get("timeZone") or "UTC"))
    return moment


def wall_clock(moment: datetime) -> str:
    """Graph's seven-digit fractional wall-clock form, e.g. ``2026-05-01T10:00:00.0000000``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0"


def render(moment: datetime, zone_name: str) -> dict[str, str]:
    """A ``dateTimeTimeZone`` showing ``moment`` in ``zone_name``."""
    return {"dateTime": wall_clock(moment.astimezone(zone(zone_name))), "timeZone": zone_name}


def utc_stamp(moment: datetime) -> str:
    """``lastModifiedDateTime`` style: UTC, seven fractional digits, ``Z``."""
    return wall_clock(moment.astimezone(UTC)) + "Z"


def parse_prefer(headers: list[str]) -> dict[str, str]:
    """``Prefer`` preferences by lower-case name, e.g. ``{"outlook.timezone": "UTC"}``."""
    preferences: dict[str, str] = {}
    for header in headers:
        for match in _PREFER_ITEM.finditer(header):
            name, value = match.group(1), match.group(2) or ""
            if name:
                preferences[name.lower()] = value.strip('"')
    return preferences
