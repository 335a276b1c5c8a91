"""``freebusy.query``: busy intervals of users and rooms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any

from infra.sandbox import google_instances, google_times
from infra.sandbox.errors import ApiError
from infra.sandbox.google_state import GoogleCalendar, GoogleState
from infra.sandbox.timeutil import format_with_offset, parse_rfc3339

#: Google answers at most this many calendars per query.
CALENDAR_EXPANSION_MAX = 50

Interval = tuple[datetime, datetime]


def query(state: GoogleState, body: dict[str, Any], actor: str | None) -> dict[str, Any]:
    """Busy intervals for each requested calendar id within ``timeMin``..``timeMax``."""
    window = _window(body)
    tz = google_times.zone(body.get("timeZone") or "UTC")
    calendars: dict[str, Any] = {}
    for position, item in enumerate(body.get("items") or []):
        calendar_id = str(item.get("id", ""))
        email = (actor or "") if calendar_id == "primary" else calendar_id
        if position >= CALENDAR_EXPANSION_MAX:
            calendars[calendar_id] = _error("tooManyCalendarsRequested")
        elif not _known(state, email):
            calendars[calendar_id] = _error("notFound")
        else:
            calendars[calendar_id] = {"busy": _busy_periods(state, email, window, tz)}
    return {
        "kind": "calendar#freeBusy",
        "timeMin": body["timeMin"],
        "timeMax": body["timeMax"],
        "calendars": calendars,
    }


def _window(body: dict[str, Any]) -> Interval:
    for name in ("timeMin", "timeMax"):
        if not body.get(name):
            raise ApiError(400, "required", f"Missing {name} parameter.")
    try:
        low, high = parse_rfc3339(body["timeMin"]), parse_rfc3339(body["timeMax"])
    except ValueError:
        raise ApiError(400, "badRequest", "Bad Request") from None
    if high <= low:
        raise ApiError(
            400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar"
        )
    return low, high


def _busy_periods(
    state: GoogleState, email: str, window: Interval, tz: tzinfo
) -> list[dict[str, str]]:
    merged = _merge(sorted(_busy(state, email, *window)))
    return [
        {"start": format_with_offset(s.astimezone(tz)), "end": format_with_offset(e.astimezone(tz))}
        for s, e in merged
    ]


def _error(reason: str) -> dict[str, Any]:
    return {"busy": [], "errors": [{"domain": "global", "reason": reason}]}


def _known(state: GoogleState, email: str) -> bool:
    return email.lower() in state.calendars or state.directory.find_room(email) is not None


def _busy(state: GoogleState, email: str, low: datetime, high: datetime) -> Iterator[Interval]:
    """Intervals from the person's own calendar and from every event they are invited to."""
    wanted = email.lower()
    for calendar in state.calendars.values():
        own = calendar.id.lower() == wanted
        for event in _events_in(calendar, high):
            if not _blocks(event, wanted, own):
                continue
            start = google_times.instant(event["start"], calendar.zone)
            end = google_times.instant(event["end"], calendar.zone)
            if end > low and start < high:
                yield max(start, low), min(end, high)


def _events_in(calendar: GoogleCalendar, high: datetime) -> Iterator[dict[str, Any]]:
    for stored in calendar.events.values():
        resource = stored.resource
        if google_instances.is_series(resource):
            yield from google_instances.expand(calendar, resource, high)
        elif "recurringEventId" not in resource:
            yield resource


def _blocks(event: dict[str, Any], email: str, own: bool) -> bool:
    if event.get("status") == "cancelled" or event.get("transparency") == "transparent":
        return False
    attendees = {a.get("email", "").lower(): a for a in event.get("attendees", [])}
    entry = attendees.get(email)
    if entry is not None:
        return entry.get("responseStatus") != "declined"
    return own


def _merge(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
