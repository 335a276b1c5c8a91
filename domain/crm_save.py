"""What an appointment saved in the CRM means, decided without I/O (R5, R14, R18, R25).

The CRM worker loads the organizer, the users and contacts the save names and what the
store already holds, and asks this module whether the save makes sense, who takes part,
and whether the calendar needs a write at all.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from domain.errors import InvalidTimingError
from domain.model import Participant, ParticipantKind, Room
from domain.schedule import check_crm_reschedule
from domain.timing import AllDay, Timed, Timing
from domain.writeback import writeback_fingerprint

#: Longest appointment the CRM may save; anything longer is a typo in a date.
MAX_SPAN = timedelta(days=366)


@dataclass(frozen=True)
class SaveRefused:
    """Why a CRM save cannot be applied; ``reason`` is shown to on-call and to the user."""

    reason: str
    rule: str | None = None


def crm_timing(
    start: datetime | None, end: datetime | None, all_day_date: date | None, time_zone: str
) -> Timing | SaveRefused:
    """The appointment's time from the save's ``start``/``end`` or ``all_day_date``.

    A save has one or the other (the ingest schema checks that); the span must not end
    before it starts nor last longer than ``MAX_SPAN``.
    """
    timing: Timing
    try:
        if all_day_date is not None:
            timing = AllDay(all_day_date, all_day_date + timedelta(days=1))
        elif start is not None and end is not None:
            timing = Timed(start, end, time_zone)
        else:
            return SaveRefused("the appointment has neither a start and end nor an all-day date")
    except InvalidTimingError as exc:
        return SaveRefused(f"the appointment's times make no sense: {exc}")
    if isinstance(timing, Timed) and timing.end - timing.start > MAX_SPAN:
        return SaveRefused(
            f"the appointment lasts {timing.end - timing.start}, longer than {MAX_SPAN.days} days"
        )
    return timing


def check_crm_save(
    existing: Timing | None, requested: Timing, now: datetime, time_zone: str = "UTC"
) -> SaveRefused | None:
    """Refuse a save that moves an appointment which has already ended (R14)."""
    if existing is None:
        return None
    refused = check_crm_reschedule(existing, requested, now, time_zone)
    return None if refused is None else SaveRefused(refused.message, refused.rule)


def participant_identity(participant: Participant) -> str:
    """The key under which two participants are one person (a user, a contact, an address)."""
    if participant.kind is ParticipantKind.USER and participant.user_id:
        return f"user:{participant.user_id}"
    if participant.kind is ParticipantKind.CONTACT and participant.contact_id:
        return f"contact:{participant.contact_id}"
    return f"email:{participant.email}"


def merge_participants(groups: Iterable[Iterable[Participant]]) -> tuple[Participant, ...]:
    """The participants of a save, in order, each person and each address once.

    Pass the organizer first, then the users, the contacts and the resolved e-mails (R2,
    R5): the first occurrence of a person wins, so a user invited by an alias is still one
    participant, and an address already taken by someone earlier is not listed twice.
    """
    seen: set[str] = set()
    emails: set[str] = set()
    merged: list[Participant] = []
    for group in groups:
        for participant in group:
            identity = participant_identity(participant)
            if identity in seen or participant.email in emails:
                continue
            seen.add(identity)
            emails.add(participant.email)
            merged.append(participant)
    return tuple(merged)


def save_fingerprint(
    *,
    subject: str,
    description: str,
    agenda: str,
    location: str,
    timing: Timing,
    time_zone: str,
    organizer_user_id: str,
    participants: Sequence[Participant],
    rooms: Sequence[Room],
    video: str | None,
    invite: bool,
) -> str:
    """The fingerprint of everything a calendar write of this save would send (R25).

    Fields the calendar never sees (outcome, appointment type, the CRM company) are left
    out, so a save that changes only those writes nothing. Attendees and rooms are sorted:
    their order means nothing to a calendar.
    """
    fields: Mapping[str, object] = {
        "subject": subject,
        "description": description,
        "agenda": agenda,
        "location": location,
        "timing": _timing_fields(timing),
        "time_zone": time_zone,
        "organizer": organizer_user_id,
        "attendees": sorted(p.email for p in participants),
        "rooms": sorted(r.email for r in rooms),
        "video": video,
        "invite": invite,
    }
    return writeback_fingerprint(fields)


def _timing_fields(timing: Timing) -> Mapping[str, object]:
    if isinstance(timing, AllDay):
        return {"start_date": timing.start_date, "end_date": timing.end_date}
    return {"start": timing.start, "end": timing.end}
