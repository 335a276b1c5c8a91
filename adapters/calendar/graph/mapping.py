"""Microsoft Graph event resources (PROVIDERS.md B6) as ``ProviderEvent`` values.

Read from the wire JSON, with ``Prefer: outlook.timezone="UTC"`` applied: timed events come
as UTC wall clock; all-day events as midnight-to-midnight dates, whatever the label says.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
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
from adapters.calendar.writes import TRANSACTION_PREFIX
from domain.model import (
    CANCELLED,
    AllDay,
    Attendee,
    EventKind,
    EventVersion,
    Provider,
    ProviderEvent,
    Response,
    Timing,
)

Json = Mapping[str, Any]

#: Graph ``status.response`` values (lower-cased; the docs spell them in PascalCase) to ours.
RESPONSES = {
    "none": Response.NEEDS_ACTION,
    "notresponded": Response.NEEDS_ACTION,
    "accepted": Response.ACCEPTED,
    "tentativelyaccepted": Response.TENTATIVE,
    "declined": Response.DECLINED,
    "organizer": Response.ORGANIZER,
}

#: Event ``type`` values that belong to a recurring series.
RECURRING_TYPES = frozenset({"seriesMaster", "occurrence", "exception"})

#: Half a day: the nearest midnight to an instant that is midnight in a zone within ±12 h.
HALF_DAY = timedelta(hours=12)


def graph_event(item: Json) -> ProviderEvent:
    """Translate one entry of ``calendarView/delta``.

    An ``@removed`` entry carries only the id: it becomes a cancelled event with the
    minimal version (``UNKNOWN_VERSION_TIME``).
    """
    event_id = str(item["id"])
    if "@removed" in item:
        return ProviderEvent(
            provider=Provider.MICROSOFT,
            event_id=event_id,
            ical_uid=None,
            version=EventVersion(UNKNOWN_VERSION_TIME),
            status=CANCELLED,
        )
    organizer = _address(item.get("organizer"))
    timing = _timing(item)
    return ProviderEvent(
        provider=Provider.MICROSOFT,
        event_id=event_id,
        ical_uid=item.get("iCalUId"),
        version=EventVersion(
            updated=parse_instant(item.get("lastModifiedDateTime")) or UNKNOWN_VERSION_TIME,
            change_key=str(item.get("changeKey") or ""),
        ),
        status=CANCELLED if item.get("isCancelled") else "confirmed",
        subject=str(item.get("subject") or ""),
        description=str((item.get("body") or {}).get("content") or ""),
        location=str((item.get("location") or {}).get("displayName") or ""),
        timing=timing,
        is_recurring=item.get("type") in RECURRING_TYPES or bool(item.get("seriesMasterId")),
        instance_start=_instance_start(item, timing),
        organizer_email=organizer,
        attendees=tuple(
            _attendee(a, organizer) for a in item.get("attendees") or () if _address(a)
        ),
        video_url=(item.get("onlineMeeting") or {}).get("joinUrl")
        or item.get("onlineMeetingUrl")
        or None,
        origin_appointment_id=_origin(item),
        event_kind=_event_kind(item, organizer),
    )


def _event_kind(item: Json, organizer: str | None) -> EventKind:
    """An entry shown as out of office that invites nobody only marks an absence (R34);
    Graph has no event type for it, unlike Google."""
    if str(item.get("showAs") or "").lower() != "oof":
        return EventKind.MEETING
    invited = [a for a in item.get("attendees") or () if _address(a)]
    alone = all(str(_address(a)).lower() == (organizer or "").lower() for a in invited)
    return EventKind.OUT_OF_OFFICE if alone else EventKind.MEETING


def _origin(item: Json) -> str | None:
    # Graph returns transactionId only to whoever set it: our own creates.
    transaction = str(item.get("transactionId") or "")
    if transaction.startswith(TRANSACTION_PREFIX):
        return transaction[len(TRANSACTION_PREFIX) :] or None
    return None


def _address(holder: Json | None) -> str | None:
    return ((holder or {}).get("emailAddress") or {}).get("address") or None


def _timing(item: Json) -> Timing | None:
    start, end = item.get("start"), item.get("end")
    if not start or not end:
        return None
    if item.get("isAllDay"):
        first, last = parse_date(start.get("dateTime")), parse_date(end.get("dateTime"))
        return all_day(first, last or first) if first else None
    begins = _wall_clock(start)
    if begins is None:
        return None
    return timed(begins, _wall_clock(end) or begins, item.get("originalStartTimeZone"))


def _wall_clock(value: Json) -> datetime | None:
    # We ask for UTC; a label we cannot read (a Windows zone name) is taken as UTC too.
    zone = iana_zone(value.get("timeZone")) or UTC
    return parse_instant(value.get("dateTime"), zone)


def _instance_start(item: Json, timing: Timing | None) -> str | None:
    original = parse_instant(item.get("originalStart"))
    if original is None or item.get("type") not in ("occurrence", "exception"):
        return None
    if isinstance(timing, AllDay):
        return _original_day(original, item.get("originalStartTimeZone")).isoformat()
    return canonical_instant(original)


def _original_day(original: datetime, zone_name: str | None) -> date:
    """The day of an all-day instance: Graph gives its midnight, in the series' zone, as UTC.

    With a zone we cannot read (a Windows name), the nearest UTC midnight is that day for
    every zone from UTC-12 to UTC+12.
    """
    zone = iana_zone(zone_name)
    if zone is not None:
        return original.astimezone(zone).date()
    return (original.astimezone(UTC) + HALF_DAY).date()


def _attendee(attendee: Json, organizer: str | None) -> Attendee:
    address = str(_address(attendee))
    response = str((attendee.get("status") or {}).get("response") or "").lower()
    kind = attendee.get("type")
    return Attendee(
        email=address,
        display_name=(attendee.get("emailAddress") or {}).get("name"),
        response=RESPONSES.get(response, Response.NEEDS_ACTION),
        is_resource=kind == "resource",
        is_organizer=response == "organizer"
        or (organizer is not None and address.lower() == organizer.lower()),
        optional=kind == "optional",
    )
