"""Building and changing Google event resources (no state, no I/O)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from infra.sandbox import google_times, recurrence
from infra.sandbox.directory import Directory
from infra.sandbox.errors import ApiError
from infra.sandbox.ids import google_etag, is_valid_google_event_id
from infra.sandbox.recurrence import UnsupportedRule
from infra.sandbox.timeutil import format_rfc3339

#: Fields the server owns; clients may send them but they are ignored.
READ_ONLY_FIELDS = frozenset(
    {
        "kind",
        "etag",
        "id",
        "created",
        "updated",
        "creator",
        "organizer",
        "htmlLink",
        "iCalUID",
        "recurringEventId",
        "originalStartTime",
        "hangoutLink",
        "eventType",  # chosen on insert, fixed after it (as Google does)
    }
)

#: Changes to these fields raise ``sequence`` (they matter to attendees' copies).
SEQUENCE_FIELDS = ("start", "end", "recurrence", "location", "status")

#: Fields replaced whole by ``patch`` instead of merged.
REPLACED_ON_PATCH = frozenset({"start", "end"})


def check_client_id(event_id: str) -> None:
    """Reject a client-chosen id that Google would refuse."""
    if not is_valid_google_event_id(event_id):
        raise ApiError(400, "invalid", "Invalid resource id value.")


def writable(body: dict[str, Any]) -> dict[str, Any]:
    """The client-writable part of a request body."""
    return {k: copy.deepcopy(v) for k, v in body.items() if k not in READ_ONLY_FIELDS}


def merge_patch(resource: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Patch semantics: objects merge, arrays and scalars replace, ``null`` deletes."""
    merged = copy.deepcopy(resource)
    _merge_into(merged, writable(body))
    return merged


def _merge_into(target: dict[str, Any], patch: dict[str, Any], top: bool = True) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            if top and key in REPLACED_ON_PATCH:
                target[key] = value
            else:
                _merge_into(target[key], value, top=False)
        else:
            target[key] = value


def replace_update(resource: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Update semantics: writable fields are replaced wholesale; omitted ones are cleared."""
    kept = {k: v for k, v in resource.items() if k in READ_ONLY_FIELDS or k == "conferenceData"}
    return {**copy.deepcopy(kept), **writable(body)}


def finalize(
    resource: dict[str, Any],
    previous: dict[str, Any] | None,
    *,
    calendar_zone: str,
    owner_email: str,
    directory: Directory,
    now: datetime,
) -> dict[str, Any]:
    """Validate a new or changed event and fill the server-owned fields.

    Raises:
        ApiError: 400 for missing or inconsistent times or attendees without email.
    """
    _check_times(resource, calendar_zone)
    organizer_email = resource["organizer"]["email"]
    old_attendees = (previous or {}).get("attendees", [])
    if "attendees" in resource:
        resource["attendees"] = enrich_attendees(
            resource["attendees"], old_attendees, organizer_email, owner_email, directory
        )
    # Google leaves false booleans out, so `self` appears only on the owner's entry.
    resource["organizer"].pop("self", None)
    if organizer_email.lower() == owner_email.lower():
        resource["organizer"]["self"] = True
    resource.setdefault("status", "confirmed")
    resource["etag"] = google_etag()
    resource["updated"] = format_rfc3339(now)
    resource["sequence"] = _next_sequence(resource, previous)
    return resource


def _check_times(resource: dict[str, Any], calendar_zone: str) -> None:
    if "start" not in resource:
        raise ApiError(400, "required", "Missing start time.")
    if "end" not in resource:
        raise ApiError(400, "required", "Missing end time.")
    start = resource["start"]
    if (
        resource.get("recurrence")
        and not google_times.is_all_day(start)
        and not start.get("timeZone")
    ):
        raise ApiError(400, "required", "Missing time zone definition for start time.")
    try:
        recurrence.parse_google(resource.get("recurrence") or [])
    except (UnsupportedRule, ValueError) as exc:
        raise ApiError(400, "invalid", f"Invalid recurrence rule: {exc}") from None
    resource["start"] = google_times.normalize(resource["start"], calendar_zone)
    resource["end"] = google_times.normalize(resource["end"], calendar_zone)
    google_times.validate_span(resource["start"], resource["end"], calendar_zone)


def _next_sequence(resource: dict[str, Any], previous: dict[str, Any] | None) -> int:
    stored = int((previous or {}).get("sequence", 0))
    asked = int(resource.get("sequence", stored))
    sequence = max(stored, asked)
    if previous and any(resource.get(f) != previous.get(f) for f in SEQUENCE_FIELDS):
        sequence += 1
    return sequence


def enrich_attendees(
    attendees: list[dict[str, Any]],
    previous: list[dict[str, Any]],
    organizer_email: str,
    owner_email: str,
    directory: Directory,
) -> list[dict[str, Any]]:
    """Fill ``organizer``, ``self``, ``resource``, ``displayName`` and ``responseStatus``."""
    known = {a["email"].lower(): a for a in previous if a.get("email")}
    enriched = []
    for attendee in attendees:
        email = attendee.get("email")
        if not email:
            raise ApiError(400, "required", "Missing attendee email.")
        enriched.append(
            _enrich(attendee, known.get(email.lower()), organizer_email, owner_email, directory)
        )
    return enriched


def _enrich(
    attendee: dict[str, Any],
    old: dict[str, Any] | None,
    organizer_email: str,
    owner_email: str,
    directory: Directory,
) -> dict[str, Any]:
    email = attendee["email"]
    item = {k: v for k, v in attendee.items() if k not in ("organizer", "self", "resource")}
    is_room = directory.find_room(email) is not None
    # `resource` can only be set when the attendee is first added; later changes are ignored.
    resource = bool(old.get("resource")) if old else bool(attendee.get("resource")) or is_room
    name = directory.display_name(email)
    if name and "displayName" not in item:
        item["displayName"] = name
    if email.lower() == organizer_email.lower():
        item["organizer"] = True
    if email.lower() == owner_email.lower():
        item["self"] = True
    if resource:
        item["resource"] = True
    default = "accepted" if item.get("organizer") or is_room else "needsAction"
    item["responseStatus"] = attendee.get("responseStatus") or (old or {}).get(
        "responseStatus", default
    )
    return item


def guest_emails(resource: dict[str, Any]) -> list[str]:
    """Attendees who receive mail about the event: everyone except the organizer."""
    return [
        a["email"]
        for a in resource.get("attendees", [])
        if not a.get("organizer") and a.get("email")
    ]


def cancelled_view(resource: dict[str, Any]) -> dict[str, Any]:
    """What an incremental sync shows of a deleted event: only what Google guarantees."""
    keys = ("kind", "etag", "id", "status", "updated", "recurringEventId", "originalStartTime")
    return {k: resource[k] for k in keys if k in resource}
