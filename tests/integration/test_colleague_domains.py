"""Colleague domains that grow, on SQLite and PostgreSQL: addresses at a new colleague domain
(R3) that are not users leave the appointments still to come (R4), whichever way the domain
came (a CRM ``user.saved``, ``calsync directory load``); the past keeps them (R14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import structlog

from adapters.directory_file import parse_directory
from adapters.sql.appointments import (
    AppointmentRecord,
    ParticipantRow,
    SqlAppointments,
)
from adapters.sql.directory import SqlDirectory
from adapters.sql.tables import appointments, outbox
from tests.factories import article_directory, crm_event
from workers.base import MessageContext
from workers.crm import CrmHandler

ACCOUNT = "exempel"
OTHER = "annat"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
CONTEXT = MessageContext(queue="crm", attempt=1, max_attempts=6, redelivered=False, headers={})
PAST = {"start": "2026-11-20T09:00:00+01:00", "end": "2026-11-20T10:00:00+01:00"}
LUCAS = {
    "id": "lucas",
    "name": "Lucas",
    "email": "lucas@gbg.exempel.se",
    "time_zone": "Europe/Stockholm",
}
KARL = ("user", "karl.andersson@exempel.se", "karl", None, None)
EVA = ("contact", "eva@kund.se", None, "eva", "kund")
SOMEONE = ("external", "someone@elsewhere.com", None, None, None)
JOHANNA = ("external", "johanna@gbg.exempel.se", None, None, None)
JONAS = ("contact", "jonas@gbg.exempel.se", None, "jonas", "gbg-ab")


class World:
    """Karl's account and another one with the same people, and a CRM handler at ``NOW``."""

    def __init__(self, store: sa.Engine) -> None:
        self.store = store
        self.now = NOW
        self.directory = SqlDirectory(store, clock=lambda: self.now)
        self.directory.load(parse_directory(article_directory()))
        self.directory.load(parse_directory(article_directory(account_id=OTHER)))
        self.handler = CrmHandler(store, clock=lambda: self.now)
        self.appointments = SqlAppointments(store)
        self._events = 0
        for account in (ACCOUNT, OTHER):  # Jonas: a contact at gbg.exempel.se
            self.send("company.saved", {"id": "gbg-ab", "name": "Gbg AB"}, account=account)
            self.send(
                "contact.saved",
                {"id": "jonas", "emails": ["jonas@gbg.exempel.se"], "company_id": "gbg-ab"},
                account=account,
            )

    def send(self, kind: str, data: dict[str, Any], *, account: str = ACCOUNT) -> None:
        self._events += 1
        event_id = f"evt-{self._events}"
        occurred_at = f"2026-11-25T11:00:{self._events:02d}+00:00"
        self.handler.handle(crm_event(account, event_id, kind, data, occurred_at), CONTEXT)

    def load(self, document: dict[str, Any]) -> None:
        self.directory.load(parse_directory(document))

    def row(self, crm_id: str, account: str = ACCOUNT) -> Any:
        with self.store.connect() as conn:
            return (
                conn.execute(
                    sa.select(appointments).where(
                        appointments.c.account_id == account, appointments.c.crm_id == crm_id
                    )
                )
                .mappings()
                .one()
            )

    def people(self, crm_id: str, account: str = ACCOUNT) -> list[tuple[Any, ...]]:
        """The participants as the store holds them: kind, e-mail, user, contact, company."""
        record = self.appointments.get(account, self.row(crm_id, account)["id"])
        assert record is not None
        return [
            (p.kind, p.email, p.user_id, p.contact_id, p.company_id) for p in record.participants
        ]

    def outbox_count(self) -> int:
        with self.store.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()


def meeting(crm_id: str, **changes: Any) -> dict[str, Any]:
    """Karl's meeting next week with Jonas (a contact at gbg.exempel.se), Eva, Johanna (a bare
    address at gbg.exempel.se) and someone, all invited by address and resolved by it (R5):
    no user has gbg.exempel.se yet, so neither Jonas nor Johanna is a colleague (R3)."""
    data: dict[str, Any] = {
        "id": crm_id,
        "organizer_user_id": "karl",
        "subject": "Offer review",
        "start": "2026-12-01T09:00:00+01:00",
        "end": "2026-12-01T10:00:00+01:00",
        "time_zone": "Europe/Stockholm",
        "contact_ids": [],
        "emails": [
            "jonas@gbg.exempel.se",
            "eva@kund.se",
            "johanna@gbg.exempel.se",
            "someone@elsewhere.com",
        ],
        "invite": True,
    }
    data.update(changes)
    return data


@pytest.fixture
def world(store: sa.Engine) -> World:
    return World(store)


def test_r4_a_new_colleague_domain_removes_its_addresses_from_coming_appointments(
    world: World,
) -> None:
    world.send("appointment.saved", meeting("coming"))
    assert world.people("coming") == [KARL, JONAS, EVA, JOHANNA, SOMEONE]
    assert world.row("coming")["company_id"] == "gbg-ab"  # R18: Jonas comes first
    writes = world.outbox_count()

    # Lucas becomes a user: gbg.exempel.se is a colleague domain from now on (R3)
    world.now = NOW + timedelta(minutes=5)
    with structlog.testing.capture_logs() as logs:
        world.send("user.saved", LUCAS)

    # R4 before R5: Jonas (a contact) and Johanna (bare) are colleagues, no participants
    assert world.people("coming") == [KARL, EVA, SOMEONE]
    row = world.row("coming")
    assert row["company_id"] == "kund"  # R18: chosen again from the contacts left
    assert row["updated_at"] == world.now
    assert world.outbox_count() == writes  # as relinking: the CRM side requests no write
    (logged,) = [e for e in logs if e["event"] == "colleagues left out of coming appointments"]
    assert (logged["count"], logged["domains"]) == (1, ["gbg.exempel.se"])
    # and a meeting saved now resolves the same way
    world.send("appointment.saved", meeting("later"))
    assert world.people("later") == [KARL, EVA, SOMEONE]


def test_r4_a_colleague_who_organized_a_coming_meeting_is_no_longer_its_organizer(
    world: World,
) -> None:
    # R17: Johanna invited Karl from her calendar, synced before gbg.exempel.se was a colleague
    # domain; she is the organizer and an external participant
    world.appointments.save(
        AppointmentRecord(
            id="imported-1",
            account_id=ACCOUNT,
            origin="calendar",
            start_at=NOW + timedelta(days=2),
            end_at=NOW + timedelta(days=2, hours=1),
            organizer_kind="external",
            organizer_email="johanna@gbg.exempel.se",
            participants=(
                ParticipantRow("external", "johanna@gbg.exempel.se", "organizer"),
                ParticipantRow("user", "karl@exempel.se", "accepted", user_id="karl"),
                ParticipantRow("external", "someone@elsewhere.com", "accepted"),
            ),
        )
    )

    world.send("user.saved", LUCAS)

    record = world.appointments.get(ACCOUNT, "imported-1")
    assert record is not None
    assert [(p.kind, p.email) for p in record.participants] == [
        ("user", "karl@exempel.se"),
        ("external", "someone@elsewhere.com"),
    ]
    # as a sync stores a colleague organizer: none
    assert (record.organizer_kind, record.organizer_email) == (None, None)


def test_r14_past_appointments_keep_addresses_at_a_new_colleague_domain(world: World) -> None:
    world.send("appointment.saved", meeting("past", **PAST))
    starting_now = {"start": "2026-11-25T12:00:00+00:00", "end": "2026-11-25T13:00:00+00:00"}
    world.send("appointment.saved", meeting("starting-now", **starting_now))
    before = world.row("past")["updated_at"]

    world.send("user.saved", LUCAS)

    assert world.people("past") == [KARL, JONAS, EVA, JOHANNA, SOMEONE]
    assert world.row("past")["company_id"] == "gbg-ab"
    assert world.row("past")["updated_at"] == before
    # an appointment starting at the very moment is still to come
    assert world.people("starting-now") == [KARL, EVA, SOMEONE]


def test_r2_a_user_at_a_new_colleague_domain_stays_on_coming_appointments(world: World) -> None:
    world.send(
        "appointment.saved",
        meeting(
            "with-lucas",
            emails=["jonas@gbg.exempel.se", "eva@kund.se", "lucas@gbg.exempel.se"],
        ),
    )
    lucas_bare = ("external", "lucas@gbg.exempel.se", None, None, None)
    assert world.people("with-lucas") == [KARL, JONAS, EVA, lucas_bare]

    world.send("user.saved", LUCAS)

    # Lucas's address is Lucas (R2, linked first); his colleague at the domain goes (R4)
    lucas = ("user", "lucas@gbg.exempel.se", "lucas", None, None)
    assert world.people("with-lucas") == [KARL, EVA, lucas]


def test_r3_a_directory_load_with_a_user_at_a_new_domain_removes_colleagues_from_coming(
    world: World,
) -> None:
    emails = [
        "jonas@gbg.exempel.se",
        "eva@kund.se",
        "johanna@gbg.exempel.se",
        "lucas@gbg.exempel.se",
        "someone@elsewhere.com",
    ]
    world.send("appointment.saved", meeting("coming", emails=emails))
    world.send("appointment.saved", meeting("past", emails=emails, **PAST))
    lucas_bare = ("external", "lucas@gbg.exempel.se", None, None, None)
    assert world.people("past") == [KARL, JONAS, EVA, JOHANNA, lucas_bare, SOMEONE]

    world.now = NOW + timedelta(minutes=5)
    world.load(article_directory(with_lucas=True))

    # Lucas's own address is linked to him first (R2), so it is no colleague's (R4) and
    # stays; Jonas and Johanna go
    lucas = ("user", "lucas@gbg.exempel.se", "lucas", None, None)
    assert world.people("coming") == [KARL, EVA, lucas, SOMEONE]
    assert world.row("coming")["company_id"] == "kund"
    assert world.row("coming")["updated_at"] == world.now
    assert world.people("past") == [KARL, JONAS, EVA, JOHANNA, lucas_bare, SOMEONE]  # R14

    # The same file again grows nothing and changes nothing
    world.now = NOW + timedelta(minutes=10)
    world.load(article_directory(with_lucas=True))
    assert world.row("coming")["updated_at"] == NOW + timedelta(minutes=5)


def test_r3_a_domain_an_administrator_adds_removes_its_addresses_from_coming_appointments(
    world: World,
) -> None:
    world.send("appointment.saved", meeting("coming"))
    world.send("appointment.saved", meeting("past", **PAST))
    document = article_directory()
    document["accounts"][0]["extra_colleague_domains"] = ["GBG.exempel.se"]

    world.load(document)

    assert world.people("coming") == [KARL, EVA, SOMEONE]
    assert world.row("coming")["updated_at"] == NOW
    assert world.people("past") == [KARL, JONAS, EVA, JOHANNA, SOMEONE]  # R14


@pytest.mark.parametrize("how", ["user.saved", "directory load"])
def test_a_new_colleague_domain_leaves_other_accounts_appointments_alone(
    world: World, how: str
) -> None:
    for account in (ACCOUNT, OTHER):
        world.send("appointment.saved", meeting("coming"), account=account)
    before = world.row("coming", OTHER)["updated_at"]

    world.now = NOW + timedelta(minutes=5)
    if how == "user.saved":
        world.send("user.saved", LUCAS, account=ACCOUNT)
    else:
        world.load(article_directory(with_lucas=True, account_id=ACCOUNT))

    assert world.people("coming", ACCOUNT) == [KARL, EVA, SOMEONE]
    # gbg.exempel.se is no colleague domain of the other account: its people stay
    assert world.people("coming", OTHER) == [KARL, JONAS, EVA, JOHANNA, SOMEONE]
    other = world.row("coming", OTHER)
    assert (other["company_id"], other["updated_at"]) == ("gbg-ab", before)
