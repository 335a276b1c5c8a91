"""An ``EventDraft`` as Graph event JSON: the whole event to create, or the PATCH to an event.

Graph mails every attendee it is given and has no switch against it (PROVIDERS.md B6), so
people go on the event only when the draft invites (R20, R21); rooms always go, as
``resource`` attendees (R23). A PATCH carries only the properties that differ from the
event as it is now, so a save that changes nothing sends nothing (R25), the body keeps what
Outlook added to it (``body``), and the attendee objects of people who stay keep
their type and response. An online meeting can be turned on, never off: Graph cannot
remove one, and the join URL already given out stays valid (R22).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from adapters.calendar.graph.body import body_update, html_body
from adapters.calendar.graph.mapping import graph_event
from adapters.calendar.times import iana_zone
from adapters.calendar.writes import EventDraft
from domain.emails import normalise_email
from domain.model import AllDay, Provider, Timed, Timing
from domain.writeback import merge_writeback_attendees, merge_writeback_rooms, plan_invitations

Json = Mapping[str, Any]

#: Graph's provider of Teams meetings for work and school accounts.
TEAMS = "teamsForBusiness"


@dataclass(frozen=True)
class Patch:
    """What to send to bring an event to a draft.

    Attributes:
        fields: the PATCH body; empty when the event already says what the draft says.
        people: the people (normalised) the event has after the PATCH that we wrote.
        rooms: the rooms (normalised) the event has after the PATCH that we booked.
    """

    fields: dict[str, Any]
    people: tuple[str, ...]
    rooms: tuple[str, ...] = ()


def new_event(draft: EventDraft, transaction_id: str) -> dict[str, Any]:
    """The body of ``POST .../calendar/events`` for ``draft``."""
    people = _addresses(draft.attendees) if _attaches_people(draft) else []
    event: dict[str, Any] = {
        "transactionId": transaction_id,
        "subject": draft.subject,
        "body": html_body(draft.body),
        **times(draft.timing, draft.time_zone),
        "location": {"displayName": draft.location},
        "attendees": [_new_attendee(a, "required") for a in people]
        + [_new_attendee(room, "resource") for room in _addresses(draft.rooms)],
    }
    if draft.video:
        event.update(isOnlineMeeting=True, onlineMeetingProvider=TEAMS)
    return event


def patch_for(
    current: Json,
    draft: EventDraft,
    previously_written: Sequence[str] | None,
    rooms_written: Sequence[str] | None = None,
) -> Patch:
    """The PATCH that brings ``current`` (an event as Graph answers it) to ``draft``.

    Args:
        current: the event now, read with ``Prefer: outlook.timezone="UTC"``.
        draft: what the CRM wants the event to say.
        previously_written: the people we wrote last time (R24); None when every person on
            the event counts as ours (a repeated create answered by the first one).
        rooms_written: the rooms we booked last time; None when unknown, and then the
            draft's rooms are the event's.
    """
    fields: dict[str, Any] = {}
    if str(current.get("subject") or "") != draft.subject:
        fields["subject"] = draft.subject
    body = body_update(current.get("body"), draft.body)
    if body is not None:
        fields["body"] = body
    if not _same_timing(current, draft.timing):
        fields.update(times(draft.timing, draft.time_zone))
    if str((current.get("location") or {}).get("displayName") or "") != draft.location:
        fields["location"] = {"displayName": draft.location}
    if draft.video and not current.get("isOnlineMeeting"):
        fields.update(isOnlineMeeting=True, onlineMeetingProvider=TEAMS)
    attendees, people = _attendees(current, draft, previously_written, rooms_written)
    if attendees is not None:
        fields["attendees"] = attendees
    return Patch(fields, people, tuple(_addresses(draft.rooms)))


def times(timing: Timing, time_zone: str) -> dict[str, Any]:
    """``start``, ``end`` and ``isAllDay`` in the draft's zone (Graph takes IANA names)."""
    zone_name = time_zone if iana_zone(time_zone) is not None else "UTC"
    if isinstance(timing, AllDay):
        return {
            "isAllDay": True,
            "start": _midnight(timing.start_date, zone_name),
            "end": _midnight(timing.end_date, zone_name),
        }
    return {
        "isAllDay": False,
        "start": _wall_clock(timing.start, zone_name),
        "end": _wall_clock(timing.end, zone_name),
    }


def _people_of(event: Json) -> list[Json]:
    """The attendee objects of people: not rooms, not the organizer."""
    organizer = _normalised_address(event.get("organizer"))
    return [
        attendee
        for attendee in event.get("attendees") or ()
        if attendee.get("type") != "resource"
        and _normalised_address(attendee) not in (None, organizer)
    ]


def _attendees(
    current: Json,
    draft: EventDraft,
    previously_written: Sequence[str] | None,
    rooms_written: Sequence[str] | None,
) -> tuple[list[dict[str, Any]] | None, tuple[str, ...]]:
    """The new ``attendees`` (None: leave them) and the people on the event that we wrote."""
    attendees = list(current.get("attendees") or ())
    by_address = {_normalised_address(a): a for a in attendees}
    on_event = tuple(dict.fromkeys(str(_normalised_address(p)) for p in _people_of(current)))
    written = on_event if previously_written is None else tuple(previously_written)
    current_rooms = [
        address
        for a in attendees
        if a.get("type") == "resource" and (address := _normalised_address(a))
    ]
    # Rooms booked in the calendar stay like its people (R24); the CRM's are ours.
    rooms = merge_writeback_rooms(draft.rooms, current_rooms, rooms_written)
    rooms_differ = set(rooms) != set(current_rooms)
    room_objects = [by_address.get(room) or _new_attendee(room, "resource") for room in rooms]
    if _attaches_people(draft):
        # Ours are the CRM's people; those added in the calendar stay without becoming ours,
        # so a later update still keeps them (R24).
        ours = tuple(_addresses(draft.attendees))
        people = merge_writeback_attendees(ours, on_event, written)
        if set(people) == set(on_event) and not rooms_differ:
            return None, ours
        others = _others(attendees, current)
        person_objects = [by_address.get(p) or _new_attendee(p, "required") for p in people]
        return [*others, *person_objects, *room_objects], ours
    kept = _ours(on_event, written)
    if not rooms_differ:
        return None, kept
    unchanged = [a for a in attendees if a.get("type") != "resource"]
    return [*unchanged, *room_objects], kept


def _others(attendees: Iterable[Json], current: Json) -> list[dict[str, Any]]:
    """The organizer's own entry among the attendees, if Graph lists one: it stays."""
    organizer = _normalised_address(current.get("organizer"))
    return [
        dict(a)
        for a in attendees
        if organizer and a.get("type") != "resource" and _normalised_address(a) == organizer
    ]


def _ours(on_event: Sequence[str], written: Sequence[str]) -> tuple[str, ...]:
    wanted = {normalise_email(email) for email in written}
    return tuple(email for email in on_event if email in wanted)


def _same_timing(current: Json, timing: Timing) -> bool:
    now = graph_event({"id": "", **current}).timing
    if isinstance(timing, AllDay) or isinstance(now, AllDay):
        return now == timing
    if not isinstance(now, Timed):
        return False
    return (now.start, now.end) == (timing.start.astimezone(UTC), timing.end.astimezone(UTC))


def _new_attendee(address: str, kind: str) -> dict[str, Any]:
    return {"emailAddress": {"address": address}, "type": kind}


def _addresses(emails: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(e for raw in emails if (e := normalise_email(raw))))


def _normalised_address(holder: Json | None) -> str | None:
    address = ((holder or {}).get("emailAddress") or {}).get("address")
    return normalise_email(str(address)) if address else None


def _wall_clock(moment: datetime, zone_name: str) -> dict[str, str]:
    zone = iana_zone(zone_name) or UTC
    local = moment.astimezone(zone).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": zone_name}


def _midnight(day: date, zone_name: str) -> dict[str, str]:
    return {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": zone_name}


def _attaches_people(draft: EventDraft) -> bool:
    # Graph mails every attendee it is given: people only go on when inviting (R21).
    return plan_invitations(Provider.MICROSOFT, draft.invite).attach_attendees
