"""Building, changing and rendering Graph event resources (no state, no I/O).

Stored events keep timed ``start``/``end`` in UTC; all-day events keep local midnight in
their own zone. :func:`render` applies ``Prefer: outlook.timezone`` on the way out.
"""

from __future__ import annotations

import copy
import html
import re
import secrets
from datetime import datetime, time
from typing import Any

from infra.sandbox import graph_times, recurrence
from infra.sandbox.directory import Directory, Person
from infra.sandbox.errors import ApiError
from infra.sandbox.ids import change_key
from infra.sandbox.recurrence import UnsupportedRule

#: Fields the server owns; a client may send them but they are ignored.
READ_ONLY_FIELDS = frozenset(
    {
        "id",
        "@odata.etag",
        "@odata.context",
        "changeKey",
        "createdDateTime",
        "lastModifiedDateTime",
        "iCalUId",
        "organizer",
        "isOrganizer",
        "responseStatus",
        "type",
        "seriesMasterId",
        "originalStart",
        "webLink",
        "onlineMeeting",
        "transactionId",
        "bodyPreview",
        "hasAttachments",
    }
)

#: Time the API reports for "no response yet".
NO_RESPONSE_TIME = "0001-01-01T00:00:00Z"

#: Changes to these fields make Outlook send an update to attendees.
MEETING_FIELDS = ("subject", "start", "end", "location", "body", "isAllDay", "recurrence")


def writable(body: dict[str, Any]) -> dict[str, Any]:
    """The client-writable part of a request body."""
    return {k: copy.deepcopy(v) for k, v in body.items() if k not in READ_ONLY_FIELDS}


def merge(resource: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """PATCH semantics: each property sent replaces the stored one."""
    merged = copy.deepcopy(resource)
    merged.update(writable(body))
    return merged


def defaults(owner: Person) -> dict[str, Any]:
    """Properties a new event has before the request body is applied."""
    return {
        "subject": "",
        "body": {"contentType": "text", "content": ""},
        "importance": "normal",
        "sensitivity": "normal",
        "showAs": "busy",
        "isAllDay": False,
        "isCancelled": False,
        "isDraft": False,
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 15,
        "responseRequested": True,
        "allowNewTimeProposals": True,
        "hideAttendees": False,
        "hasAttachments": False,
        "categories": [],
        "attendees": [],
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "onlineMeeting": None,
        "recurrence": None,
        "seriesMasterId": None,
        "organizer": {"emailAddress": {"name": owner.display_name, "address": owner.email}},
    }


def finalize(
    resource: dict[str, Any],
    previous: dict[str, Any] | None,
    *,
    owner: Person,
    directory: Directory,
    tenant_id: str,
    now: datetime,
) -> dict[str, Any]:
    """Validate a new or changed event and fill the server-owned properties.

    Raises:
        ApiError: 400 for missing or inconsistent times and attendees without an address.
    """
    _store_times(resource)
    _check_recurrence(resource)
    _fill_people(resource, previous, owner, directory)
    resource["location"] = _location(resource.get("location"))
    resource["locations"] = [resource["location"]] if resource["location"]["displayName"] else []
    resource["bodyPreview"] = _preview(resource.get("body") or {})
    resource["type"] = resource.get("type") or (
        "seriesMaster" if resource.get("recurrence") else "singleInstance"
    )
    _online_meeting(resource, previous, owner, tenant_id)
    key = change_key()
    resource.update(changeKey=key, lastModifiedDateTime=graph_times.utc_stamp(now))
    resource["@odata.etag"] = f'W/"{key}"'
    return resource


def _check_recurrence(resource: dict[str, Any]) -> None:
    if not resource.get("recurrence"):
        return
    try:
        recurrence.parse_graph(resource["recurrence"])
    except (UnsupportedRule, ValueError, KeyError, TypeError) as exc:
        raise ApiError(400, "ErrorInvalidRequest", f"Unsupported recurrence: {exc}") from None


def _fill_people(
    resource: dict[str, Any], previous: dict[str, Any] | None, owner: Person, directory: Directory
) -> None:
    """Attendees with type and status, and the owner's own role and response."""
    old_attendees = (previous or {}).get("attendees", [])
    resource["attendees"] = [_attendee(a, old_attendees, directory) for a in resource["attendees"]]
    organizer = resource["organizer"]["emailAddress"]["address"]
    resource["isOrganizer"] = organizer.lower() == owner.email.lower()
    resource["responseStatus"] = _own_response(resource, previous)


def _store_times(resource: dict[str, Any]) -> None:
    start = graph_times.parse(resource.get("start"), "start")
    end = graph_times.parse(resource.get("end"), "end")
    if end < start:
        raise ApiError(400, "ErrorInvalidRequest", "The end time must be after the start time.")
    start_zone = resource["start"].get("timeZone") or "UTC"
    resource["originalStartTimeZone"] = start_zone
    resource["originalEndTimeZone"] = resource["end"].get("timeZone") or "UTC"
    if resource.get("isAllDay"):
        local_start = start.astimezone(graph_times.zone(start_zone))
        local_end = end.astimezone(graph_times.zone(start_zone))
        if local_start.time() != time() or local_end.time() != time() or local_end <= local_start:
            raise ApiError(
                400,
                "ErrorInvalidRequest",
                "Start and end of an all-day event must be midnight in the same time zone.",
            )
        resource["start"] = {
            "dateTime": graph_times.wall_clock(local_start),
            "timeZone": start_zone,
        }
        resource["end"] = {"dateTime": graph_times.wall_clock(local_end), "timeZone": start_zone}
    else:
        resource["start"] = graph_times.render(start, "UTC")
        resource["end"] = graph_times.render(end, "UTC")


def span(resource: dict[str, Any]) -> tuple[datetime, datetime]:
    """The absolute start and end of a stored event."""
    return graph_times.parse(resource["start"], "start"), graph_times.parse(resource["end"], "end")


def _attendee(
    attendee: dict[str, Any], previous: list[dict[str, Any]], directory: Directory
) -> dict[str, Any]:
    email = (attendee.get("emailAddress") or {}).get("address")
    if not email:
        raise ApiError(400, "ErrorInvalidRequest", "An attendee must have an email address.")
    old = next((a for a in previous if a["emailAddress"]["address"].lower() == email.lower()), None)
    is_room = directory.find_room(email) is not None
    name = attendee["emailAddress"].get("name") or directory.display_name(email) or email
    status = attendee.get("status") or (old or {}).get("status")
    if status is None:
        status = {"response": "accepted" if is_room else "none", "time": NO_RESPONSE_TIME}
    return {
        "type": attendee.get("type") or ("resource" if is_room else "required"),
        "status": status,
        "emailAddress": {"name": name, "address": email},
    }


def _location(location: dict[str, Any] | None) -> dict[str, Any]:
    given = dict(location or {})
    name = given.get("displayName") or ""
    base: dict[str, Any] = {
        "displayName": name,
        "locationType": "default",
        "uniqueIdType": "private" if name else "unknown",
        "address": {},
        "coordinates": {},
    }
    if name:
        base["uniqueId"] = name
    return {**base, **given}


def _preview(body: dict[str, Any]) -> str:
    text = str(body.get("content") or "")
    if body.get("contentType") == "html":
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(text.split())[:255]


def _own_response(resource: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, str]:
    if resource["isOrganizer"]:
        return {"response": "organizer", "time": NO_RESPONSE_TIME}
    old = (previous or {}).get("responseStatus")
    return old or {"response": "notResponded", "time": NO_RESPONSE_TIME}


def _online_meeting(
    resource: dict[str, Any], previous: dict[str, Any] | None, owner: Person, tenant_id: str
) -> None:
    # Once Graph has created the meeting it cannot be changed or removed.
    if previous and previous.get("onlineMeeting"):
        resource["isOnlineMeeting"] = True
        resource["onlineMeetingProvider"] = previous["onlineMeetingProvider"]
        resource["onlineMeeting"] = previous["onlineMeeting"]
        return
    if not resource.get("isOnlineMeeting"):
        resource["onlineMeeting"] = None
        return
    if resource.get("onlineMeetingProvider") in (None, "unknown"):
        resource["onlineMeetingProvider"] = "teamsForBusiness"
    if resource["onlineMeetingProvider"] == "teamsForBusiness":
        resource["onlineMeeting"] = teams_meeting(owner, tenant_id)


def teams_meeting(owner: Person, tenant_id: str) -> dict[str, Any]:
    """An ``onlineMeetingInfo`` with a Teams join URL in the shape Teams uses."""
    thread = secrets.token_hex(24)
    context = f"%7b%22Tid%22%3a%22{tenant_id}%22%2c%22Oid%22%3a%22{owner.id}%22%7d"
    return {
        "joinUrl": f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread}%40thread.v2/0"
        f"?context={context}",
        "conferenceId": str(secrets.randbelow(10**9)).zfill(9),
        "tollNumber": "+1 555-0100",
        "phones": [],
        "quickDial": None,
        "tollFreeNumbers": [],
    }


def render(resource: dict[str, Any], prefer_zone: str | None) -> dict[str, Any]:
    """The event as returned to a client honouring ``Prefer: outlook.timezone``.

    All-day events keep their midnight-to-midnight wall clock and are only relabelled,
    as Graph does.
    """
    rendered = dict(resource)
    label = prefer_zone or "UTC"
    if resource.get("isAllDay"):
        rendered["start"] = {"dateTime": resource["start"]["dateTime"], "timeZone": label}
        rendered["end"] = {"dateTime": resource["end"]["dateTime"], "timeZone": label}
    else:
        start, end = span(resource)
        rendered["start"] = graph_times.render(start, label)
        rendered["end"] = graph_times.render(end, label)
    return rendered


def removed(event_id: str) -> dict[str, Any]:
    """How delta reports an event that is gone."""
    return {
        "@odata.type": "#microsoft.graph.event",
        "id": event_id,
        "@removed": {"reason": "deleted"},
    }


def attendee_emails(resource: dict[str, Any]) -> list[str]:
    """Attendees other than the organizer: the people Outlook mails."""
    organizer = resource["organizer"]["emailAddress"]["address"].lower()
    return [
        a["emailAddress"]["address"]
        for a in resource.get("attendees", [])
        if a["emailAddress"]["address"].lower() != organizer
    ]
