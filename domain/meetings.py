"""One meeting, one appointment: linking provider events to appointments (R15, R19)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from domain.model import (
    EventVersion,
    Participant,
    ParticipantKind,
    Provider,
    ProviderEvent,
    Response,
)


@dataclass(frozen=True)
class EventLink:
    """One provider event that shows an appointment, in one user's calendar.

    ``gone`` records that the event was deleted or cancelled; the appointment stays (R13).
    """

    appointment_id: str
    provider: Provider
    calendar_owner_user_id: str
    event_id: str
    ical_uid: str | None
    instance_start: str | None
    version: EventVersion
    gone: bool = False


class MatchKind(StrEnum):
    """How an incoming event relates to the appointments already linked."""

    SAME_EVENT = "same_event"  # this very event is linked: update its appointment
    SAME_MEETING = "same_meeting"  # another calendar shows the meeting: join it (R15)
    COPY = "copy"  # a new event copying one of this calendar: a new meeting (R19)
    NEW = "new"


@dataclass(frozen=True)
class MeetingMatch:
    """The outcome of ``match_event``.

    Attributes:
        appointment_id: the appointment to update (SAME_EVENT) or join (SAME_MEETING);
            None for COPY and NEW, which make a new appointment.
        link: the link that decided the match: for SAME_EVENT it holds the stored version
            to compare with (R16), for COPY the event that was copied. None for NEW.
    """

    kind: MatchKind
    appointment_id: str | None = None
    link: EventLink | None = None


def match_event(
    event: ProviderEvent, calendar_owner_user_id: str, links: Sequence[EventLink]
) -> MeetingMatch:
    """Find the appointment an event of ``calendar_owner_user_id``'s calendar belongs to.

    A meeting occurrence is its iCalUID plus ``instance_start``: instances of one recurring
    series share the iCalUID but not the instance start, so they are neither copies of each
    other nor one meeting. A calendar is one user's calendar at one provider.

    Args:
        event: the incoming event.
        calendar_owner_user_id: the user whose calendar it came from.
        links: the account's links that carry the event's id or iCalUID, in a stable order;
            when several other calendars show the meeting, the first link wins.
    """
    in_calendar = [link for link in links if _in_calendar(link, calendar_owner_user_id, event)]
    same_event = next((link for link in in_calendar if link.event_id == event.event_id), None)
    if same_event is not None:
        return MeetingMatch(MatchKind.SAME_EVENT, same_event.appointment_id, same_event)
    if event.ical_uid is None:
        return MeetingMatch(MatchKind.NEW)
    copied = next((link for link in in_calendar if _same_occurrence(link, event)), None)
    if copied is not None:
        return MeetingMatch(MatchKind.COPY, link=copied)
    elsewhere = [link for link in links if not _in_calendar(link, calendar_owner_user_id, event)]
    shared = next((link for link in elsewhere if _same_occurrence(link, event)), None)
    if shared is not None:
        return MeetingMatch(MatchKind.SAME_MEETING, shared.appointment_id, shared)
    return MeetingMatch(MatchKind.NEW)


def participants_with_calendar_owners(
    resolution_participants: Sequence[Participant],
    owners: Mapping[str, Response],
    owner_emails: Mapping[str, str] | None = None,
) -> tuple[Participant, ...]:
    """List every user whose calendar shows the meeting as a user participant (R15).

    Owners already among the participants keep their entry; the others are appended in the
    order of ``owners``. That happens when a user sees the meeting through an address the
    event does not list, such as a mailing-list invitation.

    Args:
        resolution_participants: the participants the event's attendees resolved to.
        owners: user id of each calendar showing the meeting, to that user's response.
        owner_emails: user id to the address to list an appended owner under; an owner
            missing from it is listed with an empty e-mail.
    """
    present = {p.user_id for p in resolution_participants if p.kind is ParticipantKind.USER}
    emails = owner_emails or {}
    added = tuple(
        Participant(ParticipantKind.USER, emails.get(user_id, ""), response, user_id=user_id)
        for user_id, response in owners.items()
        if user_id not in present
    )
    return (*resolution_participants, *added)


def _in_calendar(link: EventLink, owner_user_id: str, event: ProviderEvent) -> bool:
    return link.calendar_owner_user_id == owner_user_id and link.provider == event.provider


def _same_occurrence(link: EventLink, event: ProviderEvent) -> bool:
    return link.ical_uid == event.ical_uid and link.instance_start == event.instance_start
