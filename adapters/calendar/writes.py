"""Writing CRM appointments to a user's default calendar: what every provider's writer offers.

A writer turns an ``EventDraft`` (what the CRM wants the event to say) into one provider's
requests and answers a ``WrittenEvent`` (what the calendar now holds, as the sync will read
it). Writers decide nothing about *whether* to write: the write-back worker and
``domain.writeback`` do (R20, R21, R25, R27). They do own the provider's way of being
idempotent (Google's client-chosen event id, Graph's ``transactionId``), of keeping
attendees added in the calendar (R24, with ``domain.writeback.merge_writeback_attendees``),
and of waiting for a video link to exist (R22).

Errors are those of ``adapters.calendar.errors``: ``ProviderUnavailable`` (retry later),
``ProviderRejected`` (for good), ``AuthorizationRevoked`` (the user must reconnect), and
``EventGone`` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from adapters.calendar.errors import CalendarSourceError
from adapters.calendar.source import Credentials, RefreshedTokens
from domain.model import EventVersion, Timing

#: Key of our appointment id in Google's ``extendedProperties.private``; Graph carries it as
#: the event's ``transactionId`` (``transaction_id``). The sync reads either back, so an event
#: we wrote is recognised even before the write's commit stored its link (R25).
APPOINTMENT_PROPERTY = "calsyncAppointmentId"
#: Prefix of the ``transactionId`` of events we create on Graph.
TRANSACTION_PREFIX = "calsync-"


class EventGone(CalendarSourceError):
    """The event to update was deleted or cancelled in the calendar (R13: the appointment
    stays, and the event is not brought back)."""


@dataclass(frozen=True)
class EventDraft:
    """What the CRM wants the calendar event to say.

    Attributes:
        appointment_id: our appointment id; the writer derives its idempotency key from it.
        subject: the event's title.
        body: plain text: the description, then the agenda (``domain.writeback.event_body``).
        location: free text; empty for none.
        timing: ``Timed`` (aware start and end) or ``AllDay`` (end date exclusive).
        time_zone: IANA zone the event is written in.
        attendees: the CRM's people, normalised, the organizer left out, already emptied
            for appointments made before the connection (R27). Only written where
            ``invite`` allows it on the provider (Graph mails every attendee it is given).
        rooms: room resource addresses (R23), always written; an update also keeps the
            rooms booked in the calendar (R24).
        video: ask the provider for its own video meeting (Meet, Teams) (R22).
        invite: send invitations (R20) or not (R21).
    """

    appointment_id: str
    subject: str
    body: str
    location: str
    timing: Timing
    time_zone: str
    attendees: tuple[str, ...]
    rooms: tuple[str, ...]
    video: bool
    invite: bool


@dataclass(frozen=True)
class WrittenEvent:
    """The event after a write, read the way the sync reads it.

    Attributes:
        event_id: the provider's id of the event.
        ical_uid: the event's iCalUID.
        version: exactly the ``EventVersion`` the sync's mapping gives this state of the
            event, so the notification our own write causes is recognised as nothing new.
        video_url: the join URL of the provider's video meeting, if it has one.
        attendees: the people (not rooms, not the organizer) now on the event that we wrote,
            normalised: the ``previously_written`` of the next update (R24).
        rooms: the rooms now on the event that we booked, normalised: the
            ``rooms_written`` of the next update.
        calls: HTTP requests to the provider this write made, retries included.
        tokens: tokens the provider refreshed that the caller does not have yet.
    """

    event_id: str
    ical_uid: str | None
    version: EventVersion
    video_url: str | None
    attendees: tuple[str, ...]
    calls: int
    tokens: RefreshedTokens | None = None
    rooms: tuple[str, ...] = ()


class CalendarWriter(Protocol):
    """Writes events to a user's default calendar at one provider."""

    def create(self, credentials: Credentials, draft: EventDraft) -> WrittenEvent:
        """Create the event; repeating it with the same ``appointment_id`` never makes a
        second event (it answers the first one, updated to ``draft``)."""
        ...

    def update(
        self,
        credentials: Credentials,
        event_id: str,
        draft: EventDraft,
        previously_written: tuple[str, ...],
        rooms_written: tuple[str, ...] | None = None,
    ) -> WrittenEvent:
        """Patch the event to ``draft``, keeping attendees and rooms added in the calendar
        (R24): those on the event that the last write did not put there. ``rooms_written``
        None means that write's rooms are unknown, and the draft's rooms are the event's.

        Raises:
            EventGone: the event was deleted or cancelled in the calendar.
        """
        ...

    def close(self) -> None: ...
