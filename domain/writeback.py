"""What the CRM writes to a calendar, and when it writes nothing (R20, R21, R24, R25, R27)."""

import hashlib
import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import date, datetime
from enum import Enum
from typing import TypeVar

from domain.emails import normalise_email
from domain.model import Provider
from domain.zones import require_aware, to_utc

_Item = TypeVar("_Item")


@dataclass(frozen=True)
class InvitePlan:
    """How to write an event's attendees for one save.

    Attributes:
        send_updates: Google's ``sendUpdates``: ``"all"`` or ``"none"``.
        attach_attendees: whether the write carries the attendee list at all.
    """

    send_updates: str
    attach_attendees: bool


def plan_invitations(provider: Provider, invite: bool) -> InvitePlan:
    """Plan a save with (R20) or without (R21) invitations.

    Google takes ``sendUpdates`` and so always gets the attendees. Graph has no such switch
    and mails every attendee it is given, so attendees are attached only when inviting; a
    later save with ``invite`` attaches them and the invitations go out then.
    """
    send_updates = "all" if invite else "none"
    if provider is Provider.GOOGLE:
        return InvitePlan(send_updates=send_updates, attach_attendees=True)
    return InvitePlan(send_updates=send_updates, attach_attendees=invite)


def merge_writeback_attendees(
    crm_emails: Sequence[str], provider_emails: Sequence[str], previously_written: Sequence[str]
) -> tuple[str, ...]:
    """Return the attendee addresses to write to the calendar (R24).

    The CRM's list comes first. Addresses on the provider's event that we never wrote were
    added in the calendar, so they stay and receive the update. Addresses we wrote before
    that the CRM no longer lists were removed in the CRM, so they go. Addresses are
    compared normalised (R1), returned normalised and once each; unparseable ones are
    dropped. Pass the provider's people only, not its rooms.
    """
    crm = _normalised(crm_emails)
    written = set(_normalised(previously_written))
    added_in_calendar = (email for email in _normalised(provider_emails) if email not in written)
    return tuple(dict.fromkeys((*crm, *added_in_calendar)))


def merge_writeback_rooms(
    crm_rooms: Sequence[str], provider_rooms: Sequence[str], rooms_written: Sequence[str] | None
) -> tuple[str, ...]:
    """Return the rooms to book on the event (R23, R24).

    As with people: the CRM's rooms, plus rooms booked in the calendar that we never
    booked; a room we booked that the CRM no longer lists is released. ``rooms_written``
    None means the last write's rooms are unknown (it predates their record), so the
    CRM's rooms alone are booked rather than guessing which others to keep.
    """
    if rooms_written is None:
        return merge_writeback_attendees(crm_rooms, (), ())
    return merge_writeback_attendees(crm_rooms, provider_rooms, rooms_written)


def attendees_for_write(
    appointment_created_at: datetime, connected_at: datetime, attendees: Sequence[_Item]
) -> tuple[_Item, ...]:
    """Return the attendees to write for an appointment (R27).

    An appointment created in the CRM before the user connected the calendar is written
    without attendees, so connecting never mails invitations for meetings arranged
    earlier; everything else about it is still written.

    Raises:
        NaiveDatetimeError: either datetime is naive.
    """
    require_aware(appointment_created_at, "appointment_created_at")
    if appointment_created_at < require_aware(connected_at, "connected_at"):
        return ()
    return tuple(attendees)


def writeback_fingerprint(fields: Mapping[str, object]) -> str:
    """Return a stable SHA-256 hex digest of the fields a write would send (R25).

    The digest is over canonical JSON: sorted keys, datetimes as UTC ISO-8601 (so the same
    instant in two offsets is equal), dates as ISO, enums as their values, sets sorted,
    dataclasses as dicts. Lists keep their order, so sort any whose order does not matter.

    Raises:
        TypeError: a value of a type it does not know.
        NaiveDatetimeError: a naive datetime, which names no single instant.
    """
    return hashlib.sha256(_canonical_json(fields).encode("utf-8")).hexdigest()


def needs_write(last_fingerprint: str | None, fields: Mapping[str, object]) -> bool:
    """Return True unless ``fields`` are exactly what was last written (R25)."""
    return last_fingerprint != writeback_fingerprint(fields)


#: The line that introduces the agenda in an event's description.
AGENDA_HEADING = "Agenda:"


def event_body(description: str, agenda: str) -> str:
    """The text of the event a CRM appointment writes: its description, then its agenda.

    Invitations show the event's description, so the agenda goes there, under its heading,
    for the participants to read (R20).
    """
    description, agenda = description.strip(), agenda.strip()
    if not agenda:
        return description
    heading = f"{AGENDA_HEADING}\n{agenda}"
    return f"{description}\n\n{heading}" if description else heading


def description_read_back(event_text: str, description: str, agenda: str) -> tuple[str, str]:
    """The appointment's description and agenda after reading ``event_text`` from the calendar.

    Our own write comes back holding ``event_body(description, agenda)``, perhaps as HTML
    and with the provider's additions around it (Outlook appends the Teams join block):
    that changes nothing (R25). Any other text was edited in the calendar and becomes the
    description; the agenda, which the calendar cannot tell apart, stays.
    """
    ours = _plain(event_body(description, agenda))
    if ours in _plain(event_text):
        return description, agenda
    return event_text, agenda


def _plain(text: str) -> str:
    """Text without markup, entities or runs of white space, for comparing bodies."""
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


_TAG = re.compile(r"<[^>]*>")


def _normalised(emails: Iterable[str]) -> list[str]:
    return [email for raw in emails if (email := normalise_email(raw))]


def _canonical_json(value: object) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_value
    )


def _json_value(value: object) -> object:
    """Turn a value ``json`` cannot encode into one it can (the ``default`` hook)."""
    if isinstance(value, datetime):
        return to_utc(value, "fingerprinted datetime").isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=_canonical_json)
    if isinstance(value, Mapping):
        return dict(value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")
