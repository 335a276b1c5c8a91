"""Who is who on a provider event: users, colleagues, contacts, externals and rooms (R1-R6)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

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


@dataclass(frozen=True, slots=True)
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


class _Address(NamedTuple):
    """A raw address as resolution needs it, worked out once per resolver.

    ``email`` is None for a raw string that is not an address (R1); ``identity`` is None
    for a colleague (R4), otherwise the key under which two addresses are one participant.
    """

    email: str | None
    identity: str | None = None
    kind: ParticipantKind = ParticipantKind.EXTERNAL
    user_id: str | None = None
    contact_id: str | None = None
    company_id: str | None = None


_NOT_AN_ADDRESS = _Address(None)
# Resolution's hot path builds these with tuple.__new__: the NamedTuple constructor is a
# Python function, and a page of 250 events classifies some 2,500 new addresses.
_new_address = tuple.__new__
_USER, _CONTACT, _EXTERNAL = ParticipantKind.USER, ParticipantKind.CONTACT, ParticipantKind.EXTERNAL
_ORGANIZER = Response.ORGANIZER

# A frozen dataclass's generated __init__ sets each field through object.__setattr__ to
# get past the frozen guard; the slots' own descriptors do the same in two thirds of the
# time, and a page of 250 events makes some 2,000 participants. A unit test keeps
# _new_participant in step with Participant's fields.
_new_object = object.__new__
_slots = vars(Participant)
_set_kind = _slots["kind"].__set__
_set_email = _slots["email"].__set__
_set_response = _slots["response"].__set__
_set_user_id = _slots["user_id"].__set__
_set_contact_id = _slots["contact_id"].__set__
_set_company_id = _slots["company_id"].__set__
_set_display_name = _slots["display_name"].__set__


def _new_participant(
    address: _Address, response: Response, display_name: str | None = None
) -> Participant:
    """The participant for a resolved address, as ``Participant(...)`` makes it but faster."""
    participant = _new_object(Participant)
    _set_kind(participant, address.kind)
    _set_email(participant, address.email)
    _set_response(participant, response)
    _set_user_id(participant, address.user_id)
    _set_contact_id(participant, address.contact_id)
    _set_company_id(participant, address.company_id)
    _set_display_name(participant, display_name)
    return participant


class Resolver:
    """Resolves the events of one page (or any batch) against one directory.

    A page repeats addresses: the calendar's owner is on every event, and the same
    colleagues and customers come back meeting after meeting. Each distinct raw address
    is normalised and classified once per resolver, and the participant made for an address
    serves again while its response and display name repeat (tests/bench/test_resolution.py).
    The directory must not change while a resolver uses it.
    """

    __slots__ = ("_addresses", "_colleague_domains", "_contacts", "_participants", "_users")

    def __init__(self, directory: Directory) -> None:
        self._users = directory.user_by_email
        self._colleague_domains = directory.colleague_domains
        self._contacts = directory.contacts_by_email
        self._addresses: dict[str, _Address] = {}
        # Participants are immutable: the last one made for an address serves every event
        # that repeats its response and display name, as the calendar's owner does.
        self._participants: dict[str, Participant] = {}

    def resolve(self, attendees: Sequence[Attendee], organizer_email: str | None) -> Resolution:
        """Turn a provider's attendee list into the appointment's participants and rooms.

        Every address is normalised (R1) and unparseable ones are listed in ``invalid``;
        this never raises. Resources become rooms (R6). A user is matched by username or
        any alias and appears once however many of their addresses are invited (R2); a
        contact likewise appears once. Colleagues are left out (R4). Declined attendees
        stay, declined (R11). The first attendee with a given address wins. The organizer
        gets the response ``organizer`` and is added first if the attendees do not list them.

        Args:
            attendees: the event's attendees in the provider's order.
            organizer_email: raw organizer address; if None, the attendee flagged as organizer.
        """
        if organizer_email is None:
            for attendee in attendees:  # the first one flagged as organizer
                if attendee.is_organizer and not attendee.is_resource:
                    organizer_email = attendee.email
                    break
        colleagues: dict[str, None] = {}
        invalid: dict[str, None] = {}
        organizer = None
        if organizer_email is not None:
            organizer = self._addresses.get(organizer_email) or self._classify(organizer_email)
            if organizer.email is None:
                invalid[organizer_email] = None
            elif organizer.identity is None:
                colleagues[organizer.email] = None
        organizer_key = organizer.identity if organizer is not None else None
        participants, rooms = self._sort(attendees, organizer_key, colleagues, invalid)

        listed = tuple(participants.values())
        organizer_participant = None
        # A room that organizes its own booking is still a room (R6).
        if organizer is not None and organizer_key is not None and organizer.email not in rooms:
            organizer_participant = participants.get(organizer_key)
            if organizer_participant is None:
                organizer_participant = _new_participant(organizer, _ORGANIZER)
                listed = (organizer_participant, *listed)
        return Resolution(
            participants=listed,
            rooms=tuple(rooms.values()),
            organizer=organizer_participant,
            colleagues=tuple(colleagues),
            invalid=tuple(invalid),
        )

    def _sort(
        self,
        attendees: Sequence[Attendee],
        organizer_key: str | None,
        colleagues: dict[str, None],
        invalid: dict[str, None],
    ) -> tuple[dict[str, Participant], dict[str, Room]]:
        """Participants by identity and rooms by address, in attendee order; colleagues and
        invalid addresses are added to the dictionaries given."""
        participants: dict[str, Participant] = {}
        rooms: dict[str, Room] = {}
        seen: set[str] = set()
        addresses = self._addresses
        made = self._participants
        classify = self._classify
        for attendee in attendees:
            raw = attendee.email
            address = addresses.get(raw) or classify(raw)
            email = address.email
            if email is None:
                invalid[raw] = None
                continue
            if email in seen:
                continue
            seen.add(email)
            if attendee.is_resource:
                rooms[email] = Room(email, attendee.display_name)
                continue
            identity = address.identity
            if identity is None:
                colleagues[email] = None
                continue
            if identity in participants:
                continue
            response = _ORGANIZER if identity == organizer_key else attendee.response
            display_name = attendee.display_name
            participant = made.get(email)
            if (
                participant is None
                or participant.response is not response
                or participant.display_name != display_name
            ):
                participant = made[email] = _new_participant(address, response, display_name)
            participants[identity] = participant
        return participants, rooms

    def _classify(self, raw: str) -> _Address:
        """Normalise and classify ``raw`` (R1-R5), and remember the answer."""
        email = normalise_email(raw)
        if email is None:
            address = _NOT_AN_ADDRESS
        elif (user_id := self._users.get(email)) is not None:
            address = _new_address(_Address, (email, f"user:{user_id}", _USER, user_id, None, None))
        elif email[email.rindex("@") + 1 :] in self._colleague_domains:
            address = _new_address(_Address, (email, None, _EXTERNAL, None, None, None))
        else:
            records = self._contacts.get(email)
            contact = choose_contact(records) if records else None
            if contact is None:
                address = _new_address(
                    _Address, (email, f"email:{email}", _EXTERNAL, None, None, None)
                )
            else:
                address = _new_address(
                    _Address,
                    (
                        email,
                        f"contact:{contact.contact_id}",
                        _CONTACT,
                        None,
                        contact.contact_id,
                        contact.company_id,
                    ),
                )
        self._addresses[raw] = address
        return address


def resolve_attendees(
    attendees: Sequence[Attendee], organizer_email: str | None, directory: Directory
) -> Resolution:
    """Resolve one event on its own; for a page of events, share one ``Resolver``."""
    return Resolver(directory).resolve(attendees, organizer_email)
