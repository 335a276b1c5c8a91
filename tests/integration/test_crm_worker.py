"""The ``crm`` queue's handler on SQLite and PostgreSQL: CRM saves stored with their calendar
write request in the outbox, exactly once; deletions and the directory kept current."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.broker.envelope import Envelope, MessageType
from adapters.directory_file import parse_directory
from adapters.sql.appointments import SqlAppointments
from adapters.sql.directory import SqlDirectory
from adapters.sql.tables import (
    appointments,
    companies,
    contacts,
    crm_appointments,
    outbox,
    user_emails,
)
from domain.schedule import PAST_RESCHEDULE_MESSAGE
from tests.factories import article_directory, crm_event
from workers.base import MessageContext
from workers.crm import CrmHandler
from workers.errors import Permanent

ACCOUNT = "exempel"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
CONTEXT = MessageContext(queue="crm", attempt=1, max_attempts=6, redelivered=False, headers={})


class World:
    def __init__(self, store: sa.Engine) -> None:
        self.store = store
        SqlDirectory(store).load(parse_directory(article_directory()))
        self.now = NOW
        self.handler = CrmHandler(store, clock=lambda: self.now)
        self.appointments = SqlAppointments(store)
        self._events = 0

    def send(self, kind: str, data: dict[str, Any], *, event_id: str | None = None) -> Envelope:
        self._events += 1
        event_id = event_id or f"evt-{self._events}"
        occurred_at = f"2026-11-25T12:00:{self._events:02d}+00:00"
        envelope = crm_event(ACCOUNT, event_id, kind, data, occurred_at)
        self.handler.handle(envelope, CONTEXT)
        return envelope

    def outbox_rows(self) -> list[Any]:
        with self.store.connect() as conn:
            return list(conn.execute(sa.select(outbox).order_by(outbox.c.id)).mappings())

    def appointment_for(self, crm_id: str) -> Any:
        with self.store.connect() as conn:
            found = conn.execute(
                sa.select(appointments.c.id).where(appointments.c.crm_id == crm_id)
            ).scalar_one()
        record = self.appointments.get(ACCOUNT, found)
        assert record is not None
        return record


def meeting(crm_id: str = "crm-1", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": crm_id,
        "organizer_user_id": "karl",
        "subject": "Offer review",
        "description": "",
        "agenda": "Prices",
        "location": "Kund AB",
        "start": "2026-12-01T09:00:00+01:00",
        "end": "2026-12-01T10:00:00+01:00",
        "time_zone": "Europe/Stockholm",
        "user_ids": [],
        "contact_ids": ["eva"],
        "emails": ["Someone <someone@elsewhere.com>", "karl@sthlm.exempel.se"],
        "company_id": None,
        "room_emails": [],
        "video": "meet",
        "invite": True,
        "appointment_type_id": "type-meeting",
        "outcome": None,
    }
    data.update(changes)
    return data


@pytest.fixture
def world(store: sa.Engine) -> World:
    return World(store)


def test_r20_a_saved_appointment_is_stored_with_one_write_request(world: World) -> None:
    world.send("appointment.saved", meeting())

    record = world.appointment_for("crm-1")
    assert (record.origin, record.crm_id, record.sync_state) == ("crm", "crm-1", "pending")
    assert record.start_at == datetime(2026, 12, 1, 8, tzinfo=UTC)
    # R2: Karl's alias is Karl, listed once, as organizer; R5: Eva with her company; bare kept
    people = [(p.kind, p.email, p.user_id, p.contact_id, p.company_id) for p in record.participants]
    assert people == [
        ("user", "karl.andersson@exempel.se", "karl", None, None),
        ("contact", "eva@kund.se", None, "eva", "kund"),
        ("external", "someone@elsewhere.com", None, None, None),
    ]
    assert record.participants[0].response == "organizer"
    assert record.company_id == "kund"  # R18: the first contact's company
    (row,) = world.outbox_rows()
    assert (row["routing_key"], row["exchange"], row["published_at"]) == ("writeback", "", None)
    assert row["ordering_key"] == f"appointment:{record.id}"
    request = Envelope.from_json(row["body"])
    assert request.id == row["message_id"]
    assert request.type == MessageType.WRITEBACK_REQUESTED
    assert request.payload["appointment_id"] == record.id
    assert (request.payload["invite"], request.payload["video"]) == (True, "meet")


def test_the_same_event_twice_requests_one_write(world: World) -> None:
    world.send("appointment.saved", meeting(), event_id="evt-same")
    world.send("appointment.saved", meeting(subject="changed"), event_id="evt-same")

    assert len(world.outbox_rows()) == 1
    assert world.appointment_for("crm-1").subject == "Offer review"


def test_r25_a_save_that_changes_nothing_requests_no_write(world: World) -> None:
    world.send("appointment.saved", meeting())
    world.send("appointment.saved", meeting())
    # Fields the calendar never sees are stored, and still write nothing
    world.send("appointment.saved", meeting(outcome="completed"))
    assert len(world.outbox_rows()) == 1
    assert world.appointment_for("crm-1").outcome == "completed"

    world.send("appointment.saved", meeting(location="Teams"))
    world.send("appointment.saved", meeting(location="Teams", invite=False))  # R21
    rows = world.outbox_rows()
    assert len(rows) == 3
    assert len({row["ordering_key"] for row in rows}) == 1


def test_r13_a_deleted_appointment_writes_no_provider_delete(world: World) -> None:
    world.send("appointment.saved", meeting())
    world.send("appointment.deleted", {"id": "crm-1"})

    assert len(world.outbox_rows()) == 1
    record = world.appointment_for("crm-1")  # the appointment stays, marked deleted
    with world.store.connect() as conn:
        deleted_at = conn.execute(
            sa.select(crm_appointments.c.deleted_at).where(
                crm_appointments.c.appointment_id == record.id
            )
        ).scalar_one()
    assert deleted_at is not None
    # A late save of the deleted appointment changes nothing and writes nothing
    world.send("appointment.saved", meeting(subject="resurrected?"))
    assert len(world.outbox_rows()) == 1
    assert world.appointment_for("crm-1").subject == "Offer review"


def test_r14_moving_an_appointment_that_has_ended_is_refused_and_shown(world: World) -> None:
    past = {"start": "2026-11-20T09:00:00+01:00", "end": "2026-11-20T10:00:00+01:00"}
    world.send("appointment.saved", meeting(**past))
    world.send("appointment.saved", meeting(**past, subject="notes added"))  # other fields: fine

    with pytest.raises(Permanent, match="R14") as refused:
        world.send("appointment.saved", meeting(start="2026-11-27T09:00:00+01:00"))
    assert PAST_RESCHEDULE_MESSAGE in refused.value.reason

    record = world.appointment_for("crm-1")
    assert record.sync_state == "refused"
    assert record.sync_error == PAST_RESCHEDULE_MESSAGE
    assert record.start_at == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert len(world.outbox_rows()) == 2


def test_an_organizer_who_is_not_a_user_is_refused(world: World) -> None:
    with pytest.raises(Permanent, match="organizer 'johanna' is not an active user"):
        world.send("appointment.saved", meeting(organizer_user_id="johanna"))
    with pytest.raises(Permanent, match="not contacts of the account: nobody"):
        world.send("appointment.saved", meeting(contact_ids=["nobody"]))
    assert world.outbox_rows() == []


def test_a_company_of_another_account_is_refused_as_contacts_are(world: World) -> None:
    # Given another account with a company of its own
    SqlDirectory(world.store).load(parse_directory(article_directory(account_id="other")))
    other_company = "kund"
    with pytest.raises(Permanent, match="not a company of the account: nowhere"):
        world.send("appointment.saved", meeting(company_id="nowhere"))

    # When a save of this account names that id only the other account has, it is refused
    with world.store.begin() as conn:
        conn.execute(
            companies.update()
            .where(companies.c.account_id == ACCOUNT, companies.c.id == other_company)
            .values(id="kund-here")
        )
    with pytest.raises(Permanent, match=f"not a company of the account: {other_company}"):
        world.send("appointment.saved", meeting("crm-2", company_id=other_company))

    # Then nothing is stored or written; the account's own company is taken
    assert world.outbox_rows() == []
    world.send("appointment.saved", meeting("crm-3", company_id="kund-here"))
    assert world.appointment_for("crm-3").company_id == "kund-here"


def test_r2_an_alias_added_by_user_saved_resolves_as_the_user(world: World) -> None:
    world.send(
        "user.saved",
        {
            "id": "anna",
            "name": "Anna",
            "email": "Anna@Exempel.se",
            "aliases": ["anna@gbg.exempel.se"],
            "time_zone": "Europe/Stockholm",
        },
    )
    world.send(
        "user.saved",
        {
            "id": "karl",
            "name": "Karl Andersson",
            "email": "karl.andersson@exempel.se",
            "aliases": ["karl@exempel.se", "karl@new.example"],
        },
    )
    with world.store.connect() as conn:
        karl = set(
            conn.execute(
                sa.select(user_emails.c.email).where(user_emails.c.user_id == "karl")
            ).scalars()
        )
    # The event's aliases replace the old ones, as `calsync directory load` does
    assert karl == {"karl.andersson@exempel.se", "karl@exempel.se", "karl@new.example"}

    world.send(
        "appointment.saved",
        meeting(
            organizer_user_id="anna",
            contact_ids=[],
            emails=["karl@new.example", "someone@gbg.exempel.se", "karl@sthlm.exempel.se"],
        ),
    )
    people = [(p.kind, p.email, p.user_id) for p in world.appointment_for("crm-1").participants]
    # R2: the new alias is Karl; R3/R4: gbg.exempel.se became a colleague domain (Anna's alias)
    # and its non-user is left out; karl@sthlm.exempel.se is no alias any more: external
    assert people == [
        ("user", "anna@exempel.se", "anna"),
        ("user", "karl@new.example", "karl"),
        ("external", "karl@sthlm.exempel.se", None),
    ]


def test_r5_r18_a_contact_gaining_an_address_takes_over_coming_appointments(world: World) -> None:
    bare = {"contact_ids": [], "emails": ["new@kund.se"]}
    world.send("appointment.saved", meeting("future", **bare))
    past = {"start": "2026-11-20T09:00:00+01:00", "end": "2026-11-20T10:00:00+01:00"}
    world.send("appointment.saved", meeting("past", **bare, **past))
    assert world.appointment_for("future").company_id is None

    world.send("company.saved", {"id": "kund2", "name": "Kund Två AB"})
    world.send(
        "contact.saved",
        {"id": "nils", "name": "Nils", "emails": ["NEW@kund.se"], "company_id": "kund2"},
    )

    future = world.appointment_for("future")
    (_organizer, nils) = future.participants
    assert (nils.kind, nils.email, nils.contact_id, nils.company_id) == (
        "contact",
        "new@kund.se",
        "nils",
        "kund2",
    )
    assert future.company_id == "kund2"
    history = world.appointment_for("past")
    assert [p.kind for p in history.participants] == ["user", "external"]
    assert history.company_id is None
    assert len(world.outbox_rows()) == 2  # relinking the CRM side writes nothing


def test_r2_a_user_gaining_an_alias_takes_over_coming_appointments(world: World) -> None:
    lucas = {"id": "lucas", "name": "Lucas", "email": "lucas@gbg.exempel.se"}
    world.send("appointment.saved", meeting("with-lucas", emails=["lucas.l@partner.example"]))
    world.send("user.saved", {**lucas, "aliases": ["lucas.l@partner.example"]})

    people = world.appointment_for("with-lucas").participants
    assert [(p.kind, p.email, p.user_id) for p in people] == [
        ("user", "karl.andersson@exempel.se", "karl"),
        ("contact", "eva@kund.se", None),
        ("user", "lucas.l@partner.example", "lucas"),
    ]


def test_r2_an_alias_of_a_user_already_taking_part_is_not_listed_twice(world: World) -> None:
    world.send("user.saved", {"id": "lucas", "name": "Lucas", "email": "lucas@gbg.exempel.se"})
    world.send(
        "appointment.saved",
        meeting("both", user_ids=["lucas"], emails=["lucas.l@partner.example"]),
    )
    past = {"start": "2026-11-20T09:00:00+01:00", "end": "2026-11-20T10:00:00+01:00"}
    world.send("appointment.saved", meeting("history", emails=["lucas.l@partner.example"], **past))
    assert ("external", "lucas.l@partner.example") in [
        (p.kind, p.email) for p in world.appointment_for("both").participants
    ]

    world.send(
        "user.saved",
        {
            "id": "lucas",
            "name": "Lucas",
            "email": "lucas@gbg.exempel.se",
            "aliases": ["lucas.l@partner.example"],
        },
    )

    both = [(p.kind, p.email, p.user_id) for p in world.appointment_for("both").participants]
    assert both == [
        ("user", "karl.andersson@exempel.se", "karl"),
        ("user", "lucas@gbg.exempel.se", "lucas"),
        ("contact", "eva@kund.se", None),
    ]
    history = world.appointment_for("history").participants
    assert ("external", "lucas.l@partner.example") in [(p.kind, p.email) for p in history]


def test_r5_a_deleted_contact_no_longer_stands_for_its_address(world: World) -> None:
    world.send("contact.deleted", {"id": "eva"})
    with world.store.connect() as conn:
        active = conn.execute(sa.select(contacts.c.active).where(contacts.c.id == "eva"))
        assert active.scalar_one() is False
    world.send("appointment.saved", meeting(contact_ids=[], emails=["eva@kund.se"]))
    record = world.appointment_for("crm-1")
    assert [(p.kind, p.email) for p in record.participants][1] == ("external", "eva@kund.se")
    assert record.company_id is None


def test_the_write_request_body_is_an_envelope(world: World) -> None:
    world.send("appointment.saved", meeting())
    (row,) = world.outbox_rows()
    assert json.loads(row["body"])["schema_version"] == 1
