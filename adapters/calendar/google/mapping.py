"""Google Calendar v3 event resources (PROVIDERS.md A3) as ``ProviderEvent`` values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.calendar.source import UNKNOWN_VERSION_TIME
from adapters.calendar.times import (
    all_day,
    canonical_instant,
    iana_zone,
    parse_date,
    parse_instant,
    timed,
)
from adapters.calendar.writes import APPOINTMENT_PROPERTY
from domain.model import (
    Attendee,
    EventKind,
    EventVersion,
    Provider,
    ProviderEvent,
    Response,
    Timing,
)

Json = Mapping[str, Any]

#: Google ``responseStatus`` values (lower-cased) to ours.
RESPONSES = {
    "needsaction": Response.NEEDS_ACTION,
    "accepted": Response.ACCEPTED,
    "tentative": Response.TENTATIVE,
    "declined": Response.DECLINED,
}

#: Google ``eventType`` values of entries that are no meetings (R34); any other
#: (``default``, ``fromGmail``, one Google adds later) is read as a meeting.
EVENT_KINDS = {
    "outOfOffice": EventKind.OUT_OF_OFFICE,
    "focusTime": EventKind.FOCUS_TIME,
    "workingLocation": EventKind.WORKING_LOCATION,
    "birthday": EventKind.BIRTHDAY,
}


def google_event(item: Json) -> ProviderEvent:
    """Translate one item of ``events.list``.

    Cancelled items may carry only ``id`` (deleted events), or ``id``, ``recurringEventId``
    and ``originalStartTime`` (a cancelled instance): absent fields stay empty.
    """
    return ProviderEvent(
        provider=Provider.GOOGLE,
        event_id=str(item["id"]),
        ical_uid=item.get("iCalUID"),
        version=EventVersion(
            updated=parse_instant(item.get("updated")) or UNKNOWN_VERSION_TIME,
            sequence=int(item.get("sequence") or 0),
            change_key=str(item.get("etag") or ""),
        ),
        status=str(item.get("status") or "confirmed"),
        subject=str(item.get("summary") or ""),
        description=str(item.get("description") or ""),
        location=str(item.get("location") or ""),
        timing=_timing(item.get("start"), item.get("end")),
        is_recurring=bool(item.get("recurrence") or item.get("recurringEventId")),
        instance_start=_instance_start(item.get("originalStartTime")),
        organizer_email=(item.get("organizer") or {}).get("email"),
        attendees=tuple(_attendee(a) for a in item.get("attendees") or () if a.get("email")),
        video_url=_video_url(item),
        origin_appointment_id=_origin(item),
        event_kind=EVENT_KINDS.get(str(item.get("eventType") or ""), EventKind.MEETING),
    )


def _timing(start: Json | None, end: Json | None) -> Timing | None:
    if not start or not end:
        return None
    if start.get("date"):
        first, last = parse_date(start.get("date")), parse_date(end.get("date"))
        return all_day(first, last or first) if first else None
    begins = _instant(start)
    if begins is None:
        return None
    return timed(begins, _instant(end) or begins, start.get("timeZone"))


def _instant(value: Json) -> datetime | None:
    # A dateTime without an offset is in its timeZone (Google sends the offset, though).
    return parse_instant(value.get("dateTime"), iana_zone(value.get("timeZone")) or UTC)


def _instance_start(original: Json | None) -> str | None:
    if not original:
        return None
    if original.get("date"):
        day = parse_date(original["date"])
        return day.isoformat() if day else None
    moment = _instant(original)
    return canonical_instant(moment) if moment else None


def _attendee(attendee: Json) -> Attendee:
    status = str(attendee.get("responseStatus") or "").lower()
    return Attendee(
        email=str(attendee["email"]),
        display_name=attendee.get("displayName"),
        response=RESPONSES.get(status, Response.NEEDS_ACTION),
        is_resource=bool(attendee.get("resource")),
        is_organizer=bool(attendee.get("organizer")),
        optional=bool(attendee.get("optional")),
    )


def _origin(item: Json) -> str | None:
    private = (item.get("extendedProperties") or {}).get("private") or {}
    value = private.get(APPOINTMENT_PROPERTY)
    return str(value) if value else None


def _video_url(item: Json) -> str | None:
    entry_points = (item.get("conferenceData") or {}).get("entryPoints") or ()
    video = next((e.get("uri") for e in entry_points if e.get("entryPointType") == "video"), None)
    return video or item.get("hangoutLink") or None
