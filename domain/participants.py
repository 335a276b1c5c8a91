"""Who is who on a provider event: users, colleagues, contacts, externals and rooms (R1-R6)."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.directory import choose_contact
from domain.emails import email_domain, normalise_email
from domain.model import (
    AddressKind,
    Attendee,
    ContactRecord,
    Directory,
    Participant,
    ParticipantKind,
    Response,
    Room,
)


@dataclass(frozen=True)
class Classified:
    """What one normalised address is to the account."""

    kind: AddressKind
    email: str
    user_id: str | None = None
    contact: ContactRecord | None = None


@dataclass(frozen=True)
class Resolution:
    """The people and rooms of one event after R1-R6.

    Attributes:
        participants: users, contacts and externals in attendee order, the organizer first
            if they were not among the attendees.
        rooms: resource attendees (R6).
        organizer: the organizer's participant, or None if there is none or it is a colleague.
        colleagues: normalised addresses left out because they are colleagues (R4).
        invalid: raw addresses that are not e-mails (R1), for the caller to log.
    """

    participants: tuple[Participant, ...]
    rooms: tuple[Room, ...]
    organizer: Participant | None
    colleagues: tuple[str, ...]
    invalid: tuple[str, ...]


def classify_address(email: str, directory: Directory) -> Classified:
    """Classify a normalised address: user (R2), colleague (R4), contact or external (R5)."""
    user_id = directory.user_by_email.get(email)
    if user_id is not None:
        return Classified(AddressKind.USER, email, user_id=user_id)
    if email_domain(email) in directory.colleague_domains:
        return Classified(AddressKind.COLLEAGUE, email)
    contact = choose_contact(directory.contacts_by_email.get(email, ()))
    if contact is not None:
        return Classified(AddressKind.CONTACT, email, contact=contact)
    return Classified(AddressKind.EXTERNAL, email)


def resolve_attendees(
    attendees: Sequence[Attendee], organizer_email: str | None, directory: Directory
) -> Resolution:
    """Turn a provider's attendee list into the appointment's participants and rooms.

    Every address is normalised (R1) and unparseable ones are listed in ``invalid``; this
    never raises. Resources become rooms (R6). A user is matched by username or any alias
    and appears once however many of their addresses are invited (R2); a contact likewise
    appears once. Colleagues are left out (R4). Declined attendees stay, declined (R11).
    The first attendee with a given address wins. The organizer gets the response
    ``organizer`` and is added first if the attendees do not list them.

    Args:
        attendees: the event's attendees in the provider's order.
        organizer_email: raw organizer address; if None, the attendee flagged as organizer.
        directory: the account's users, colleague domains and contacts.
    """
    flagged = (a.email for a in attendees if a.is_organizer and not a.is_resource)
    organizer_raw = organizer_email or next(flagged, None)
    collector = _Collector(directory)
    organizer = collector.classify_organizer(organizer_raw)
    for attendee in attendees:
        collector.add(attendee)
    return collector.finish(organizer)


def _identity(classified: Classified) -> str:
    """The key under which two addresses are the same participant."""
    if classified.user_id is not None:
        return f"user:{classified.user_id}"
    if classified.contact is not None:
        return f"contact:{classified.contact.contact_id}"
    return f"email:{classified.email}"


def _kind(user_id: str | None, contact: ContactRecord | None) -> ParticipantKind:
    if user_id is not None:
        return ParticipantKind.USER
    return ParticipantKind.CONTACT if contact is not None else ParticipantKind.EXTERNAL


def _participant(
    classified: Classified, response: Response, display_name: str | None = None
) -> Participant:
    contact = classified.contact
    return Participant(
        kind=_kind(classified.user_id, contact),
        email=classified.email,
        response=response,
        user_id=classified.user_id,
        contact_id=contact.contact_id if contact else None,
        company_id=contact.company_id if contact else None,
        display_name=display_name,
    )


@dataclass
class _Collector:
    """Accumulates one resolution; lives only inside ``resolve_attendees``."""

    directory: Directory
    organizer_key: str | None = None
    participants: dict[str, Participant] = field(default_factory=dict)
    rooms: dict[str, Room] = field(default_factory=dict)
    colleagues: dict[str, None] = field(default_factory=dict)
    invalid: dict[str, None] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def classify_organizer(self, raw: str | None) -> Classified | None:
        email = self._normalise(raw) if raw is not None else None
        if email is None:
            return None
        organizer = classify_address(email, self.directory)
        if organizer.kind is AddressKind.COLLEAGUE:
            self.colleagues[email] = None
            return None
        self.organizer_key = _identity(organizer)
        return organizer

    def add(self, attendee: Attendee) -> None:
        email = self._normalise(attendee.email)
        if email is None or email in self.seen:
            return
        self.seen.add(email)
        if attendee.is_resource:
            self.rooms[email] = Room(email, attendee.display_name)
            return
        # Inlined classify_address: this loop is resolution's hot path (tests/bench).
        directory = self.directory
        user_id = directory.user_by_email.get(email)
        contact = None
        if user_id is not None:
            key = f"user:{user_id}"
        elif email[email.rfind("@") + 1 :] in directory.colleague_domains:
            self.colleagues[email] = None
            return
        else:
            contact = choose_contact(directory.contacts_by_email.get(email, ()))
            key = f"contact:{contact.contact_id}" if contact else f"email:{email}"
        if key in self.participants:
            return
        response = Response.ORGANIZER if key == self.organizer_key else attendee.response
        self.participants[key] = Participant(
            kind=_kind(user_id, contact),
            email=email,
            response=response,
            user_id=user_id,
            contact_id=contact.contact_id if contact else None,
            company_id=contact.company_id if contact else None,
            display_name=attendee.display_name,
        )

    def finish(self, organizer: Classified | None) -> Resolution:
        participants = tuple(self.participants.values())
        organizer_participant = None
        # A room that organizes its own booking is still a room (R6).
        if organizer is not None and self.organizer_key and organizer.email not in self.rooms:
            organizer_participant = self.participants.get(self.organizer_key)
            if organizer_participant is None:
                organizer_participant = _participant(organizer, Response.ORGANIZER)
                participants = (organizer_participant, *participants)
        return Resolution(
            participants=participants,
            rooms=tuple(self.rooms.values()),
            organizer=organizer_participant,
            colleagues=tuple(self.colleagues),
            invalid=tuple(self.invalid),
        )

    def _normalise(self, raw: str) -> str | None:
        email = normalise_email(raw)
        if email is None:
            self.invalid[raw] = None
        return email
