"""``calsync directory load`` links the appointments still to come, on SQLite and PostgreSQL.

A customer may connect calendars first and load the directory later: the sync then stored its
meetings with bare addresses. Loading the directory does to the appointments starting from now
on what a CRM ``user.saved`` / ``contact.saved`` does: a bare address of an active user becomes
the user, one participant however many of their addresses were invited (R2); one of active
contacts becomes the contact R5 chooses, with its company, and the company of the appointment
is chosen again (R18). Appointments that have started keep their bare addresses (R14), other
accounts are left alone, and loading the same file again changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import structlog

from adapters.directory_file import parse_directory
from adapters.sql import coming_appointments
from adapters.sql.appointments import AppointmentRecord, ParticipantRow, SqlAppointments
from adapters.sql.directory import SqlDirectory
from adapters.sql.tables import appointments
from tests.factories import article_directory

ACCOUNT = "exempel"
OTHER = "annat"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
LINKED = "addresses linked in coming appointments"

KARL = ("user", "karl@exempel.se", "karl", None, None)
EVA = ("contact", "eva@kund.se", None, "eva", "kund")
SOMEONE = ("external", "someone@elsewhere.com", None, None, None)
LUCAS_ALIAS_BARE = ("external", "lucas.l@partner.example", None, None, None)
LUCAS_HOME_BARE = ("external", "lucas@home.example", None, None, None)
NILS_BARE = ("external", "nils@kund2.se", None, None, None)
NILS = ("contact", "nils@kund2.se", None, "nils", "kund2")

LUCAS = {
    "id": "lucas",
    "name": "Lucas",
    "email": "lucas@gbg.exempel.se",
    "aliases": ["lucas.l@partner.example", "Lucas@Home.example"],
    "time_zone": "Europe/Stockholm",
}
NILS_CONTACT = {"id": "nils", "name": "Nils", "emails": ["NILS@kund2.se"], "company_id": "kund2"}


def directory(
    *,
    account_id: str = ACCOUNT,
    users: Sequence[dict[str, Any]] = (),
    contacts: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The article's directory (Karl, Eva at Kund AB) with more users, contacts and Kund 2."""
    document = copy.deepcopy(article_directory(account_id=account_id))
    account = document["accounts"][0]
    account["users"].extend(users)
    account["companies"].append({"id": "kund2", "name": "Kund Två AB"})
    account["contacts"].extend(contacts)
    return document


class World:
    """Two accounts loaded with the article's directory, appointments stored as a sync would
    store them before the directory knew everyone, and a load clock at ``now``."""

    def __init__(self, store: sa.Engine) -> None:
        self.store = store
        self.now = NOW - timedelta(days=30)
        self.directory = SqlDirectory(store, clock=lambda: self.now)
        self.appointments = SqlAppointments(store)
        for account in (ACCOUNT, OTHER):
            self.load(directory(account_id=account))
        self.now = NOW

    def load(self, document: dict[str, Any]) -> list[dict[str, Any]]:
        """Load ``document``; returns the log lines of the load."""
        with structlog.testing.capture_logs() as logs:
            self.directory.load(parse_directory(document))
        return logs

    def store_meeting(
        self,
        appointment_id: str,
        *people: tuple[str, str, str | None, str | None, str | None],
        account: str = ACCOUNT,
        start: datetime = NOW + timedelta(days=3),
        company_id: str | None = None,
        company_set_by_hand: bool = False,
        organizer: tuple[str, str, str | None, str | None, str | None] = KARL,
    ) -> None:
        """A meeting in Karl's calendar, ``organizer`` (Karl unless said) first and ``people``
        after, as the sync stores it."""
        self.appointments.save(
            AppointmentRecord(
                id=appointment_id,
                account_id=account,
                origin="calendar",
                subject="Offer review",
                start_at=start,
                end_at=start + timedelta(hours=1),
                organizer_kind=organizer[0],
                organizer_user_id=organizer[2],
                organizer_contact_id=organizer[3],
                organizer_email=organizer[1],
                company_id=company_id,
                company_set_by_hand=company_set_by_hand,
                participants=tuple(
                    ParticipantRow(
                        kind,
                        email,
                        "organizer" if i == 0 else "accepted",
                        user_id=user_id,
                        contact_id=contact_id,
                        company_id=company,
                    )
                    for i, (kind, email, user_id, contact_id, company) in enumerate(
                        (organizer, *people)
                    )
                ),
            )
        )

    def people(self, appointment_id: str, account: str = ACCOUNT) -> list[tuple[Any, ...]]:
        """The participants as the store holds them: kind, e-mail, user, contact, company."""
        record = self.appointments.get(account, appointment_id)
        assert record is not None
        return [
            (p.kind, p.email, p.user_id, p.contact_id, p.company_id) for p in record.participants
        ]

    def row(self, appointment_id: str, account: str = ACCOUNT) -> Any:
        with self.store.connect() as conn:
            return (
                conn.execute(
                    sa.select(appointments).where(
                        appointments.c.account_id == account, appointments.c.id == appointment_id
                    )
                )
                .mappings()
                .one()
            )


@pytest.fixture
def world(store: sa.Engine) -> World:
    return World(store)


def linked_count(logs: list[dict[str, Any]]) -> int | None:
    found = [e for e in logs if e["event"] == LINKED]
    assert len(found) <= 1
    return found[0]["count"] if found else None


def test_r2_a_directory_load_turns_bare_addresses_of_users_in_coming_appointments_into_the_user(
    world: World,
) -> None:
    # Synced before Lucas and Olle were in the directory: their addresses are bare
    olle_bare = ("external", "olle@partner.example", None, None, None)
    world.store_meeting("coming", LUCAS_ALIAS_BARE, EVA, SOMEONE, olle_bare)
    world.store_meeting("untouched", EVA, SOMEONE)
    untouched = world.row("untouched")["updated_at"]

    olle = {"id": "olle", "name": "Olle", "email": "olle@partner.example", "active": False}
    logs = world.load(directory(users=[LUCAS, olle]))

    # R2: Lucas's alias is Lucas, in its place. Olle is deactivated: his address is no
    # user's, and at partner.example, a colleague domain now (R3), it is a colleague's (R4)
    lucas = ("user", "lucas.l@partner.example", "lucas", None, None)
    assert world.people("coming") == [KARL, lucas, EVA, SOMEONE]
    row = world.row("coming")
    assert (row["updated_at"], row["company_id"]) == (NOW, None)
    assert world.people("untouched") == [KARL, EVA, SOMEONE]
    assert world.row("untouched")["updated_at"] == untouched
    assert linked_count(logs) == 1


def test_r2_a_user_already_present_under_another_address_is_one_participant_after_a_load(
    world: World,
) -> None:
    world.load(directory(users=[{**LUCAS, "aliases": []}]))
    lucas = ("user", "lucas@gbg.exempel.se", "lucas", None, None)
    # Lucas takes part by his username, and was also invited at two addresses nobody knew
    world.store_meeting("present", lucas, LUCAS_ALIAS_BARE, EVA, LUCAS_HOME_BARE)
    # Lucas does not take part yet: invited at the two addresses only
    world.store_meeting("absent", LUCAS_HOME_BARE, SOMEONE, LUCAS_ALIAS_BARE)

    world.now = NOW + timedelta(minutes=5)
    logs = world.load(directory(users=[LUCAS]))

    # One participant per user (R2): the bare addresses go where he is; where he was not,
    # his first address invited becomes him and the others go
    assert world.people("present") == [KARL, lucas, EVA]
    assert world.people("absent") == [
        KARL,
        ("user", "lucas@home.example", "lucas", None, None),
        SOMEONE,
    ]
    assert world.row("present")["updated_at"] == world.now
    assert world.row("absent")["updated_at"] == world.now
    assert linked_count(logs) == 2


def test_r5_a_contact_invited_at_two_bare_addresses_is_one_participant_after_a_load(
    world: World,
) -> None:
    other_bare = ("external", "nils.n@kund2.se", None, None, None)
    world.store_meeting("twice", NILS_BARE, SOMEONE, other_bare)

    world.load(
        directory(contacts=[{**NILS_CONTACT, "emails": ["nils@kund2.se", "nils.n@kund2.se"]}])
    )

    # The first address invited becomes Nils; the other goes, as resolution would have it
    assert world.people("twice") == [KARL, NILS, SOMEONE]


def test_r5_a_bare_organizer_who_becomes_a_contact_is_the_appointments_organizer_contact(
    world: World,
) -> None:
    # Nils invited Karl before the directory knew him
    world.store_meeting("his", KARL, organizer=NILS_BARE)

    world.load(directory(contacts=[NILS_CONTACT]))

    assert world.people("his") == [NILS, KARL]
    row = world.row("his")
    assert (row["organizer_kind"], row["organizer_contact_id"], row["organizer_email"]) == (
        "contact",
        "nils",
        "nils@kund2.se",
    )


def test_r5_r18_a_directory_load_turns_bare_addresses_of_contacts_into_the_contact_and_its_company(
    world: World,
) -> None:
    # Nils was not a contact when the meeting synced: bare, and Eva's company was chosen
    world.store_meeting("coming", NILS_BARE, EVA, SOMEONE, company_id="kund")
    world.store_meeting(
        "by-hand", NILS_BARE, SOMEONE, company_id="chosen-in-crm", company_set_by_hand=True
    )

    logs = world.load(directory(contacts=[NILS_CONTACT]))

    # R5: the contact with its company; R18: the first contact in attendee order is Nils now
    assert world.people("coming") == [KARL, NILS, EVA, SOMEONE]
    coming = world.row("coming")
    assert (coming["company_id"], coming["updated_at"]) == ("kund2", NOW)
    # a company set by hand in the CRM stays (R18); the participant is still the contact
    assert world.people("by-hand") == [KARL, NILS, SOMEONE]
    by_hand = world.row("by-hand")
    assert (by_hand["company_id"], by_hand["updated_at"]) == ("chosen-in-crm", NOW)
    assert linked_count(logs) == 2


def test_r5_a_directory_load_links_the_most_recently_updated_active_contact_of_an_address(
    world: World,
) -> None:
    shared = ("external", "info@partner.example", None, None, None)
    world.store_meeting("coming", shared, SOMEONE)
    # Anna, at an address of her own, is the oldest record
    world.load(directory(contacts=[{"id": "anna", "emails": ["anna@partner.example"]}]))

    world.now = NOW + timedelta(minutes=5)
    world.load(
        directory(
            contacts=[
                # Anna gains the shared address; her record is as old as before (R5)
                {"id": "anna", "emails": ["anna@partner.example", "info@partner.example"]},
                {"id": "bertil", "emails": ["info@partner.example"], "company_id": "kund2"},
                {"id": "aaron", "emails": ["info@partner.example"], "active": False},
            ]
        )
    )

    # the most recently updated active one: Bertil, not the older Anna nor inactive Aaron
    assert world.people("coming") == [
        KARL,
        ("contact", "info@partner.example", None, "bertil", "kund2"),
        SOMEONE,
    ]
    assert world.row("coming")["company_id"] == "kund2"


def test_r14_past_appointments_keep_bare_addresses_after_a_load(world: World) -> None:
    world.store_meeting("past", LUCAS_ALIAS_BARE, NILS_BARE, start=NOW - timedelta(hours=1))
    world.store_meeting("starting-now", LUCAS_ALIAS_BARE, NILS_BARE, start=NOW)
    before = world.row("past")["updated_at"]

    world.load(directory(users=[LUCAS], contacts=[NILS_CONTACT]))

    # an appointment that has started is history: nobody is linked, nothing is touched
    assert world.people("past") == [KARL, LUCAS_ALIAS_BARE, NILS_BARE]
    past = world.row("past")
    assert (past["company_id"], past["updated_at"]) == (None, before)
    # one starting at the very moment of the load is still to come
    lucas = ("user", "lucas.l@partner.example", "lucas", None, None)
    assert world.people("starting-now") == [KARL, lucas, NILS]
    assert world.row("starting-now")["company_id"] == "kund2"


def test_loading_the_same_file_twice_changes_nothing_the_second_time(world: World) -> None:
    pia = {"id": "pia", "emails": ["pia@kund3.se"], "active": False}
    unknown = ("external", "pia@kund3.se", None, None, None)  # a deactivated contact's
    world.store_meeting("coming", LUCAS_HOME_BARE, NILS_BARE, LUCAS_ALIAS_BARE, unknown, SOMEONE)
    document = directory(users=[LUCAS], contacts=[NILS_CONTACT, pia])
    first = world.load(document)
    people = world.people("coming")
    assert people == [
        KARL,
        ("user", "lucas@home.example", "lucas", None, None),
        NILS,
        unknown,
        SOMEONE,
    ]
    assert world.row("coming")["updated_at"] == NOW
    assert linked_count(first) == 1

    world.now = NOW + timedelta(hours=1)
    second = world.load(document)

    assert world.people("coming") == people
    row = world.row("coming")
    assert (row["company_id"], row["updated_at"]) == ("kund2", NOW)
    assert linked_count(second) is None


def test_a_load_for_one_account_leaves_another_accounts_appointments_alone(
    world: World,
) -> None:
    for account in (ACCOUNT, OTHER):
        world.store_meeting("coming-" + account, LUCAS_ALIAS_BARE, NILS_BARE, account=account)
    # the other account knows Lucas and Nils already, under other addresses and ids
    world.load(
        directory(
            account_id=OTHER,
            users=[{**LUCAS, "aliases": []}],
            contacts=[{**NILS_CONTACT, "emails": ["nils@elsewhere.example"]}],
        )
    )
    other_before = world.row("coming-" + OTHER, OTHER)["updated_at"]

    world.now = NOW + timedelta(minutes=5)
    world.load(directory(users=[LUCAS], contacts=[NILS_CONTACT]))

    lucas = ("user", "lucas.l@partner.example", "lucas", None, None)
    assert world.people("coming-" + ACCOUNT) == [KARL, lucas, NILS]
    assert world.people("coming-" + OTHER, OTHER) == [KARL, LUCAS_ALIAS_BARE, NILS_BARE]
    other = world.row("coming-" + OTHER, OTHER)
    assert (other["company_id"], other["updated_at"]) == (None, other_before)


def test_r3_r4_a_load_links_before_it_leaves_out_colleagues_at_a_new_domain(
    world: World,
) -> None:
    # gbg.exempel.se is no colleague domain yet: Lucas and Johanna there are bare, and
    # Jonas, a contact there, was not known when the meeting synced
    johanna = ("external", "johanna@gbg.exempel.se", None, None, None)
    jonas = ("external", "jonas@gbg.exempel.se", None, None, None)
    lucas_bare = ("external", "lucas@gbg.exempel.se", None, None, None)
    world.store_meeting("coming", jonas, lucas_bare, johanna, NILS_BARE)

    logs = world.load(
        directory(
            users=[{**LUCAS, "aliases": []}],
            contacts=[NILS_CONTACT, {"id": "jonas", "emails": ["jonas@gbg.exempel.se"]}],
        )
    )

    # Lucas is Lucas (R2) and stays; at his domain, a colleague now (R3), Jonas is no
    # contact but a colleague and leaves with Johanna (R4 before R5); Nils is linked (R5)
    lucas = ("user", "lucas@gbg.exempel.se", "lucas", None, None)
    assert world.people("coming") == [KARL, lucas, NILS]
    assert world.row("coming")["company_id"] == "kund2"
    events = [e["event"] for e in logs]
    assert events.index(LINKED) < events.index("colleagues left out of coming appointments")


def test_a_load_looks_the_bare_addresses_up_in_batches(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coming_appointments, "LOOKUP_BATCH", 2)
    contacts = [
        {"id": f"k{i}", "emails": [f"k{i}@kund2.se"], "company_id": "kund2"} for i in range(5)
    ]
    bare = [("external", f"k{i}@kund2.se", None, None, None) for i in range(5)]
    world.store_meeting("first", *bare[:3])
    world.store_meeting("second", *bare[2:], SOMEONE)
    lookups: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "contact_emails AS ce" in statement:
            lookups.append(statement)

    sa.event.listen(world.store, "before_cursor_execute", record)
    try:
        world.load(directory(contacts=contacts))
    finally:
        sa.event.remove(world.store, "before_cursor_execute", record)

    assert len(lookups) == 3  # five distinct bare addresses, two at a time
    linked = [("contact", f"k{i}@kund2.se", None, f"k{i}", "kund2") for i in range(5)]
    assert world.people("first") == [KARL, *linked[:3]]
    assert world.people("second") == [KARL, *linked[2:], SOMEONE]


def test_a_load_links_set_wise_whatever_the_number_of_people_found(world: World) -> None:
    contacts = [
        {"id": f"k{i}", "emails": [f"k{i}@kund2.se"], "company_id": "kund2"} for i in range(40)
    ]
    bare = [("external", f"k{i}@kund2.se", None, None, None) for i in range(40)]
    world.store_meeting("first", *bare[:25])
    world.store_meeting("second", *bare[15:], LUCAS_ALIAS_BARE)
    on_participants: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "appointment_participants" in statement:
            on_participants.append(statement)

    sa.event.listen(world.store, "before_cursor_execute", record)
    try:
        world.load(directory(users=[LUCAS], contacts=contacts))
    finally:
        sa.event.remove(world.store, "before_cursor_execute", record)

    assert world.people("second")[-1] == ("user", "lucas.l@partner.example", "lucas", None, None)
    assert {kind for kind, *_ in world.people("first") + world.people("second")} == {
        "user",
        "contact",
    }
    # 40 contacts and a user found: a handful of statements, not a few per person
    assert len(on_participants) <= 10, on_participants
