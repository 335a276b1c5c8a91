"""The values the rules work on: provider events as they arrive, and who takes part in them.

Timing lives in ``domain.timing`` and is re-exported here, so ``from domain.model import
Timing`` works like every other shared value.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.timing import AllDay, Timed, Timing, utc_range
from domain.zones import require_aware

__all__ = [
    "CANCELLED",
    "AddressKind",
    "AllDay",
    "Attendee",
    "ContactRecord",
    "Directory",
    "EventKind",
    "EventVersion",
    "Participant",
    "ParticipantKind",
    "Provider",
    "ProviderEvent",
    "Response",
    "Room",
    "Timed",
    "Timing",
    "utc_range",
]

#: The value of ``ProviderEvent.status`` for an event deleted or cancelled in the calendar.
CANCELLED = "cancelled"


class Provider(StrEnum):
    """The calendar services a user can connect."""

    GOOGLE = "google"
    MICROSOFT = "microsoft"


class Response(StrEnum):
    """A participant's answer to an invitation; ``ORGANIZER`` marks whoever sent it."""

    NEEDS_ACTION = "needs_action"
    ACCEPTED = "accepted"
    TENTATIVE = "tentative"
    DECLINED = "declined"
    ORGANIZER = "organizer"


class ParticipantKind(StrEnum):
    """What a participant of an appointment is in the CRM (R2, R5)."""

    USER = "user"
    CONTACT = "contact"
    EXTERNAL = "external"


class AddressKind(StrEnum):
    """What an e-mail address is to an account (R2-R5); colleagues never become participants."""

    USER = "user"
    COLLEAGUE = "colleague"
    CONTACT = "contact"
    EXTERNAL = "external"


class EventKind(StrEnum):
    """What a calendar entry is; only meetings can become appointments (R34)."""

    MEETING = "meeting"
    OUT_OF_OFFICE = "out_of_office"  # Google outOfOffice; Graph absence (showAs oof, alone)
    FOCUS_TIME = "focus_time"
    WORKING_LOCATION = "working_location"
    BIRTHDAY = "birthday"


@dataclass(frozen=True, slots=True)
class Attendee:
    """An attendee as the provider lists it; ``email`` is raw, not yet normalised (R1)."""

    email: str
    display_name: str | None = None
    response: Response = Response.NEEDS_ACTION
    is_resource: bool = False
    is_organizer: bool = False
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Participant:
    """One participant of an appointment: a user, a contact, or a bare external e-mail.

    ``email`` is normalised (R1). ``user_id`` is set for users, ``contact_id`` and
    ``company_id`` for contacts; an external participant has only its e-mail (R5).
    """

    kind: ParticipantKind
    email: str
    response: Response
    user_id: str | None = None
    contact_id: str | None = None
    company_id: str | None = None
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class Room:
    """A room or other resource booked for a meeting (R6, R23)."""

    email: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """One contact of the account that carries a given e-mail address."""

    contact_id: str
    company_id: str | None
    active: bool
    updated_at: datetime

    def __post_init__(self) -> None:
        require_aware(self.updated_at, "updated_at")


@dataclass(frozen=True, slots=True)
class Directory:
    """What one account knows about e-mail addresses; every key is normalised (R1).

    Attributes:
        user_by_email: the username and every alias of each *active* user, to its user id.
        colleague_domains: the account's colleague domains (R3), normalised.
        contacts_by_email: every contact record that carries the address (R5).
    """

    user_by_email: Mapping[str, str] = field(default_factory=dict)
    colleague_domains: frozenset[str] = frozenset()
    contacts_by_email: Mapping[str, Sequence[ContactRecord]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventVersion:
    """Which edit of an event this is, ordered by ``domain.versions`` (R16).

    Attributes:
        updated: the provider's last-modification time (Google ``updated``,
            Graph ``lastModifiedDateTime``).
        sequence: the iCalendar SEQUENCE (Google); 0 where the provider has none.
        change_key: Graph ``changeKey`` or an etag. Opaque: it only breaks ties.
    """

    updated: datetime
    sequence: int = 0
    change_key: str = ""

    def __post_init__(self) -> None:
        require_aware(self.updated, "updated")


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """An event of one calendar as the provider adapter translated it.

    Attributes:
        status: ``"confirmed"``, ``"tentative"`` or ``"cancelled"``.
        timing: None only for cancelled events, which providers send without times.
        is_recurring: True for a recurring series and for every instance of one (R8).
        instance_start: for an instance of a recurring series, its *original* start, which
            identifies it within the series even after it is moved. Adapters must write it in
            one canonical form (UTC ISO-8601, or an ISO date for all-day series) so that
            the same instance compares equal across calendars and providers.
        organizer_email: raw, as the provider gives it.
        origin_appointment_id: the appointment id our write-back tagged the event with
            (R25); whose account it belongs to is for the caller to check.
        event_kind: a meeting, or an entry that only blocks the owner's time (R34).
    """

    provider: Provider
    event_id: str
    ical_uid: str | None
    version: EventVersion
    status: str = "confirmed"
    subject: str = ""
    description: str = ""
    location: str = ""
    timing: Timing | None = None
    is_recurring: bool = False
    instance_start: str | None = None
    organizer_email: str | None = None
    attendees: tuple[Attendee, ...] = ()
    video_url: str | None = None
    origin_appointment_id: str | None = None
    event_kind: EventKind = EventKind.MEETING

    @property
    def is_cancelled(self) -> bool:
        """True when the event was deleted or cancelled in the calendar (R13)."""
        return self.status == CANCELLED
