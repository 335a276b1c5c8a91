"""``calendar/getSchedule``: free/busy and working hours of users and rooms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from infra.sandbox import graph_events, graph_instances, graph_times
from infra.sandbox.errors import ApiError
from infra.sandbox.graph_state import GraphState

#: Digit per slot in ``availabilityView``, and which status wins when events overlap.
STATUS_DIGITS = {"free": "0", "tentative": "1", "busy": "2", "oof": "3", "workingElsewhere": "4"}
STATUS_PRIORITY = ("free", "workingElsewhere", "tentative", "busy", "oof")


def get_schedule(state: GraphState, body: dict[str, Any], zone: str | None) -> dict[str, Any]:
    """Schedule information for each address in ``body["schedules"]``.

    Raises:
        ApiError: 400 for a missing window or an interval outside 5..1440 minutes.
    """
    # Graph matches action parameter names case-insensitively; msgraph-sdk sends PascalCase.
    body = {key.lower(): value for key, value in body.items()}
    low = graph_times.parse(body.get("starttime"), "startTime")
    high = graph_times.parse(body.get("endtime"), "endTime")
    interval = int(body.get("availabilityviewinterval") or 30)
    if not 5 <= interval <= 1440:
        raise ApiError(400, "ErrorInvalidParameter", "availabilityViewInterval must be 5 to 1440.")
    label = zone or "UTC"
    return {
        "value": [
            _schedule(state, str(s), (low, high), interval, label)
            for s in body.get("schedules") or []
        ]
    }


def _schedule(
    state: GraphState,
    address: str,
    window: tuple[datetime, datetime],
    interval: int,
    zone: str,
) -> dict[str, Any]:
    low, high = window
    person = state.directory.find_user(address)
    if person is None and state.directory.find_room(address) is None:
        return {
            "scheduleId": address,
            "availabilityView": "",
            "scheduleItems": [],
            "error": {
                "message": "The recipient was not found.",
                "responseCode": "ErrorMailRecipientNotFound",
            },
        }
    items = sorted(_items(state, address, low, high), key=lambda item: item[0])
    info: dict[str, Any] = {
        "scheduleId": address,
        "availabilityView": _view(items, low, high, interval),
        "scheduleItems": [_item(resource, start, end, zone) for start, end, resource in items],
    }
    if person is not None:
        info["workingHours"] = {**person.working_hours, "timeZone": {"name": person.time_zone}}
    return info


def _items(
    state: GraphState, address: str, low: datetime, high: datetime
) -> Iterator[tuple[datetime, datetime, dict[str, Any]]]:
    """Events in the person's own calendar and events they (or the room) are invited to."""
    wanted = address.lower()
    seen: set[tuple[str, datetime]] = set()
    for mailbox in state.mailboxes.values():
        own = mailbox.owner.email.lower() == wanted
        for resource in graph_instances.view(mailbox, low, high):
            if not _blocks(resource, wanted, own):
                continue
            start, end = graph_events.span(resource)
            key = (resource["iCalUId"], start)
            if key not in seen:
                seen.add(key)
                yield start, end, resource


def _blocks(resource: dict[str, Any], address: str, own: bool) -> bool:
    if resource.get("isCancelled") or resource.get("showAs") == "free":
        return False
    for attendee in resource.get("attendees", []):
        if attendee["emailAddress"]["address"].lower() == address:
            return attendee["status"]["response"] != "declined"
    return own


def _view(
    items: list[tuple[datetime, datetime, dict[str, Any]]],
    low: datetime,
    high: datetime,
    interval: int,
) -> str:
    step = timedelta(minutes=interval)
    digits = []
    slot = low
    while slot < high:
        statuses = [r.get("showAs", "busy") for s, e, r in items if s < slot + step and e > slot]
        best = max(statuses, key=_priority, default="free")
        digits.append(STATUS_DIGITS.get(best, "2"))
        slot += step
    return "".join(digits)


def _priority(status: str) -> int:
    return (
        STATUS_PRIORITY.index(status)
        if status in STATUS_PRIORITY
        else STATUS_PRIORITY.index("busy")
    )


def _item(resource: dict[str, Any], start: datetime, end: datetime, zone: str) -> dict[str, Any]:
    return {
        "isPrivate": resource.get("sensitivity") == "private",
        "status": resource.get("showAs", "busy"),
        "subject": resource.get("subject", ""),
        "location": resource["location"].get("displayName", ""),
        "isMeeting": bool(resource.get("attendees")),
        "isRecurring": resource.get("type") in ("occurrence", "exception"),
        "isException": resource.get("type") == "exception",
        "isReminderSet": bool(resource.get("isReminderOn")),
        "start": graph_times.render(start, zone),
        "end": graph_times.render(end, zone),
    }
