"""R1-R6 and R11: who is who on a provider event."""

from dataclasses import fields

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.model import AddressKind, Attendee, Participant, ParticipantKind, Response, Room
from domain.participants import (
    Resolver,
    _Address,
    _new_participant,
    classify_address,
    resolve_attendees,
)
from tests.unit.domain.builders import (
    JOHANNA_EMAILS,
    KARL_EMAILS,
    article_directory,
    at,
    contact,
)

ANNA = "anna@kund.se"


def test_r2_username_and_every_alias_are_the_user() -> None:
    directory = article_directory()
    for email in ("karl.andersson@exempel.se", "karl@exempel.se", "karl@sthlm.exempel.se"):
        classified = classify_address(email, directory)
        assert (classified.kind, classified.user_id) == (AddressKind.USER, "karl")


def test_r2_an_alias_in_any_form_resolves_to_the_user() -> None:
    resolution = resolve_attendees(
        [Attendee("Karl <KARL@Sthlm.Exempel.se>")], ANNA, article_directory()
    )
    assert [p.user_id for p in resolution.participants if p.kind is ParticipantKind.USER] == [
        "karl"
    ]


def test_r2_two_aliases_of_one_user_are_one_participant() -> None:
    # Given Karl invited under two of his addresses
    attendees = [
        Attendee("karl@exempel.se", response=Response.ACCEPTED),
        Attendee("karl@sthlm.exempel.se"),
    ]

    # When resolved
    resolution = resolve_attendees(attendees, ANNA, article_directory())

    # Then Karl is there once, as first listed
    karls = [p for p in resolution.participants if p.user_id == "karl"]
    assert len(karls) == 1
    assert (karls[0].email, karls[0].response) == ("karl@exempel.se", Response.ACCEPTED)


def test_r4_colleague_is_not_a_participant() -> None:
    attendees = [Attendee("karl@exempel.se"), Attendee("Johanna <johanna.svennson@exempel.se>")]

    resolution = resolve_attendees(attendees, ANNA, article_directory())

    assert "johanna.svennson@exempel.se" not in {p.email for p in resolution.participants}
    assert resolution.colleagues == ("johanna.svennson@exempel.se",)


def test_r5_a_known_contact_is_that_contact_with_its_company() -> None:
    directory = article_directory(contacts={ANNA: [contact("c-anna", "kund-ab")]})

    resolution = resolve_attendees([Attendee(ANNA)], None, directory)

    (anna,) = resolution.participants
    assert (anna.kind, anna.contact_id, anna.company_id) == (
        ParticipantKind.CONTACT,
        "c-anna",
        "kund-ab",
    )


def test_r5_several_contacts_resolve_to_the_most_recent_active_one() -> None:
    records = [
        contact("c-old", "old-ab", updated=at(2025, 5, 1)),
        contact("c-new", "new-ab", updated=at(2026, 2, 1)),
        contact("c-gone", "gone-ab", active=False, updated=at(2026, 3, 1)),
    ]
    resolution = resolve_attendees(
        [Attendee(ANNA)], None, article_directory(contacts={ANNA: records})
    )

    assert [(p.contact_id, p.company_id) for p in resolution.participants] == [("c-new", "new-ab")]


def test_r5_unknown_email_is_kept_bare_without_contact_or_company() -> None:
    resolution = resolve_attendees([Attendee("Stranger@Okand.se")], None, article_directory())

    (stranger,) = resolution.participants
    assert stranger.kind is ParticipantKind.EXTERNAL
    assert (stranger.email, stranger.contact_id, stranger.company_id) == (
        "stranger@okand.se",
        None,
        None,
    )


def test_r5_only_inactive_contacts_leave_a_bare_external() -> None:
    directory = article_directory(contacts={ANNA: [contact("c-anna", active=False)]})
    (anna,) = resolve_attendees([Attendee(ANNA)], None, directory).participants
    assert (anna.kind, anna.contact_id) == (ParticipantKind.EXTERNAL, None)


def test_r6_resources_are_rooms_never_participants() -> None:
    attendees = [
        Attendee("karl@exempel.se"),
        Attendee("Room-Ljus@Resource.Calendar.Google.com", "Ljusgården", is_resource=True),
        Attendee(ANNA),
    ]
    resolution = resolve_attendees(attendees, "karl@exempel.se", article_directory())

    assert resolution.rooms == (Room("room-ljus@resource.calendar.google.com", "Ljusgården"),)
    assert "room-ljus@resource.calendar.google.com" not in {
        p.email for p in resolution.participants
    }


def test_r6_a_room_on_a_colleague_domain_is_still_a_room() -> None:
    attendees = [Attendee("stora-rummet@exempel.se", is_resource=True)]
    resolution = resolve_attendees(attendees, None, article_directory())
    assert (resolution.rooms, resolution.colleagues) == ((Room("stora-rummet@exempel.se"),), ())


def test_r6_a_room_that_organizes_its_own_booking_is_not_a_participant() -> None:
    attendees = [Attendee("rum@resurs.se", is_resource=True, is_organizer=True), Attendee(ANNA)]
    resolution = resolve_attendees(attendees, "rum@resurs.se", article_directory())
    assert resolution.organizer is None
    assert [p.email for p in resolution.participants] == [ANNA]


def test_r11_declined_participants_stay_with_status_declined() -> None:
    attendees = [Attendee("karl@exempel.se"), Attendee(ANNA, response=Response.DECLINED)]
    resolution = resolve_attendees(attendees, "karl@exempel.se", article_directory())
    assert [(p.email, p.response) for p in resolution.participants] == [
        ("karl@exempel.se", Response.ORGANIZER),
        (ANNA, Response.DECLINED),
    ]


def test_r1_attendee_order_is_kept_and_the_first_duplicate_wins() -> None:
    attendees = [
        Attendee("c@kund.se", response=Response.TENTATIVE),
        Attendee("a@kund.se"),
        Attendee("C@KUND.SE", response=Response.DECLINED),
        Attendee("b@kund.se"),
    ]
    resolution = resolve_attendees(attendees, None, article_directory())
    assert [(p.email, p.response) for p in resolution.participants] == [
        ("c@kund.se", Response.TENTATIVE),
        ("a@kund.se", Response.NEEDS_ACTION),
        ("b@kund.se", Response.NEEDS_ACTION),
    ]


def test_r5_one_contact_under_two_addresses_is_one_participant() -> None:
    anna = contact("c-anna", "kund-ab")
    directory = article_directory(contacts={ANNA: [anna], "anna.privat@mejl.se": [anna]})

    resolution = resolve_attendees(
        [Attendee(ANNA), Attendee("anna.privat@mejl.se")], None, directory
    )

    assert [p.contact_id for p in resolution.participants] == ["c-anna"]


def test_r17_organizer_missing_from_attendees_is_added_first() -> None:
    resolution = resolve_attendees(
        [Attendee("karl@exempel.se")], "Anna <Anna@Kund.se>", article_directory()
    )

    assert [(p.email, p.response) for p in resolution.participants] == [
        (ANNA, Response.ORGANIZER),
        ("karl@exempel.se", Response.NEEDS_ACTION),
    ]
    assert resolution.organizer == resolution.participants[0]


def test_r17_organizer_listed_among_attendees_keeps_its_place() -> None:
    attendees = [Attendee("karl@exempel.se"), Attendee(ANNA, response=Response.ACCEPTED)]
    resolution = resolve_attendees(attendees, ANNA, article_directory())
    assert [p.response for p in resolution.participants] == [
        Response.NEEDS_ACTION,
        Response.ORGANIZER,
    ]


def test_r2_organizer_under_another_alias_is_the_same_user() -> None:
    attendees = [Attendee("karl.andersson@exempel.se", response=Response.ACCEPTED), Attendee(ANNA)]
    resolution = resolve_attendees(attendees, "karl@sthlm.exempel.se", article_directory())
    assert [(p.user_id, p.response) for p in resolution.participants] == [
        ("karl", Response.ORGANIZER),
        (None, Response.NEEDS_ACTION),
    ]


def test_r4_a_colleague_organizer_is_not_a_participant() -> None:
    resolution = resolve_attendees(
        [Attendee("karl@exempel.se")], "johanna@exempel.se", article_directory()
    )
    assert resolution.organizer is None
    assert [p.user_id for p in resolution.participants] == ["karl"]
    assert resolution.colleagues == ("johanna@exempel.se",)


def test_r17_attendee_flagged_organizer_is_used_when_no_organizer_is_given() -> None:
    attendees = [Attendee("karl@exempel.se"), Attendee(ANNA, is_organizer=True)]
    resolution = resolve_attendees(attendees, None, article_directory())
    assert resolution.organizer is not None
    assert resolution.organizer.email == ANNA


def test_r1_unparseable_addresses_are_listed_and_never_fail_the_event() -> None:
    attendees = [Attendee("not an address"), Attendee("karl@exempel.se"), Attendee("")]
    resolution = resolve_attendees(attendees, "also broken", article_directory())
    assert resolution.invalid == ("also broken", "not an address", "")
    assert [p.user_id for p in resolution.participants] == ["karl"]
    assert resolution.organizer is None


#: Known addresses in any case and wrapping, so duplicates, aliases and colleagues collide.
known_addresses = st.sampled_from(
    [*KARL_EMAILS, *JOHANNA_EMAILS, "anna@kund.se", "rum@resurs.se"]
).flatmap(lambda email: st.sampled_from([email, email.upper(), f"X <{email}>"]))
any_address = st.one_of(st.text(), known_addresses)

attendee_strategy = st.builds(
    Attendee,
    email=any_address,
    response=st.sampled_from(Response),
    is_resource=st.booleans(),
    is_organizer=st.booleans(),
)


@settings(max_examples=200)
@given(st.lists(attendee_strategy, max_size=8), st.one_of(st.none(), any_address))
def test_r1_resolution_never_raises_on_arbitrary_addresses(
    attendees: list[Attendee], organizer: str | None
) -> None:
    # Given any attendees and organizer, When resolved
    resolution = resolve_attendees(attendees, organizer, article_directory())

    # Then nobody is listed twice, colleagues are never participants, rooms never either
    users = [p.user_id for p in resolution.participants if p.user_id]
    emails = [p.email for p in resolution.participants]
    assert len(users) == len(set(users))
    assert len(emails) == len(set(emails))
    assert not set(emails) & set(resolution.colleagues)
    assert not set(emails) & {room.email for room in resolution.rooms}


attendee_with_names = st.builds(
    Attendee,
    email=any_address,
    display_name=st.one_of(st.none(), st.sampled_from(["Karl", "Anna", "Rum"])),
    response=st.sampled_from(Response),
    is_resource=st.booleans(),
    is_organizer=st.booleans(),
)


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.lists(attendee_with_names, max_size=6), st.one_of(st.none(), any_address)),
        max_size=6,
    )
)
def test_r1_r6_one_resolver_for_a_page_resolves_each_event_as_if_alone(
    page: list[tuple[list[Attendee], str | None]],
) -> None:
    # Given a page of events whose addresses repeat in every form and role
    directory = article_directory()
    shared = Resolver(directory)

    # When the page is resolved by one resolver, that remembers addresses and participants
    together = [shared.resolve(attendees, organizer) for attendees, organizer in page]

    # Then every event comes out exactly as it does when resolved on its own
    alone = [resolve_attendees(attendees, organizer, directory) for attendees, organizer in page]
    assert together == alone


def test_the_fast_participant_constructor_sets_every_field_as_the_dataclass_does() -> None:
    # _new_participant bypasses Participant.__init__ for speed; a field added to Participant
    # and not to it would be left unset, so compare every field.
    address = _Address(
        "anna@kund.se", "contact:c-anna", ParticipantKind.CONTACT, None, "c-anna", "co-kund"
    )
    made = _new_participant(address, Response.TENTATIVE, "Anna")
    expected = Participant(
        ParticipantKind.CONTACT,
        "anna@kund.se",
        Response.TENTATIVE,
        None,
        "c-anna",
        "co-kund",
        "Anna",
    )
    assert made == expected
    assert all(getattr(made, f.name) == getattr(expected, f.name) for f in fields(Participant))
