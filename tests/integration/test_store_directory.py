"""The directory in SQL: idempotent loads, and batched lookups that feed R2-R5 resolution."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from adapters.directory_file import parse_directory
from adapters.sql.directory import SqlDirectory
from adapters.sql.tables import contacts, user_emails, users
from domain.model import Attendee, ParticipantKind
from domain.participants import resolve_attendees
from tests.factories import article_directory, bulk_directory


@contextmanager
def counting_statements(engine: sa.Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def test_r2_every_alias_of_karl_resolves_to_karl(store: sa.Engine) -> None:
    directory = SqlDirectory(store)
    directory.load(parse_directory(article_directory()))

    found = directory.directory_for(
        "exempel", ["karl.andersson@exempel.se", "karl@exempel.se", "karl@sthlm.exempel.se"]
    )

    assert dict(found.user_by_email) == {
        "karl.andersson@exempel.se": "karl",
        "karl@exempel.se": "karl",
        "karl@sthlm.exempel.se": "karl",
    }


def test_r3_colleague_domains_are_exact_and_come_from_users_and_admins(store: sa.Engine) -> None:
    directory = SqlDirectory(store)
    document = article_directory()
    document["accounts"][0]["extra_colleague_domains"] = ["partner.se"]
    directory.load(parse_directory(document))

    found = directory.directory_for(
        "exempel", ["johanna@exempel.se", "johanna@gbg.exempel.se", "x@partner.se", "eva@kund.se"]
    )

    assert found.colleague_domains == {"exempel.se", "partner.se"}


def test_article_scenario_2_resolved_through_the_store(store: sa.Engine) -> None:
    # Given Karl's account, and no user at gbg.exempel.se
    directory = SqlDirectory(store)
    directory.load(parse_directory(article_directory()))
    attendees = [Attendee("karl@exempel.se", is_organizer=True), Attendee("johanna@gbg.exempel.se")]

    # When the meeting's addresses are looked up and resolved
    snapshot = directory.directory_for("exempel", [a.email for a in attendees])
    resolution = resolve_attendees(attendees, "karl@exempel.se", snapshot)

    # Then Johanna is an external participant (R3, R5)
    kinds = {p.email: p.kind for p in resolution.participants}
    assert kinds == {
        "karl@exempel.se": ParticipantKind.USER,
        "johanna@gbg.exempel.se": ParticipantKind.EXTERNAL,
    }


def test_article_scenario_3_lucas_makes_gbg_a_colleague_domain(store: sa.Engine) -> None:
    directory = SqlDirectory(store)
    directory.load(parse_directory(article_directory(with_lucas=True)))

    snapshot = directory.directory_for("exempel", ["karl@exempel.se", "johanna@gbg.exempel.se"])
    resolution = resolve_attendees(
        [Attendee("karl@exempel.se", is_organizer=True), Attendee("johanna@gbg.exempel.se")],
        "karl@exempel.se",
        snapshot,
    )

    assert resolution.colleagues == ("johanna@gbg.exempel.se",)
    assert [p.user_id for p in resolution.participants] == ["karl"]


def test_r5_contacts_sharing_an_address_are_all_offered(store: sa.Engine) -> None:
    document = article_directory()
    document["accounts"][0]["contacts"].append(
        {"id": "eva2", "name": "Eva (old)", "emails": ["EVA@kund.se"], "active": False}
    )
    SqlDirectory(store).load(parse_directory(document))

    found = SqlDirectory(store).directory_for("exempel", ["eva@kund.se"])

    records = sorted(found.contacts_by_email["eva@kund.se"], key=lambda r: r.contact_id)
    assert [(r.contact_id, r.company_id, r.active) for r in records] == [
        ("eva", "kund", True),
        ("eva2", None, False),
    ]
    assert all(r.updated_at.tzinfo is not None for r in records)


def test_one_account_never_sees_another_accounts_directory(store: sa.Engine) -> None:
    directory = SqlDirectory(store)
    directory.load(parse_directory(article_directory(account_id="a")))

    found = directory.directory_for("b", ["karl@exempel.se", "eva@kund.se"])

    assert not found.user_by_email
    assert not found.contacts_by_email
    assert not found.colleague_domains


def test_loading_twice_changes_nothing(store: sa.Engine) -> None:
    directory = SqlDirectory(store)
    entries = parse_directory(article_directory())
    directory.load(entries)
    with store.connect() as conn:
        before = _timestamps(conn)

    directory.load(entries)

    with store.connect() as conn:
        after = _timestamps(conn)
        addresses = conn.execute(sa.select(sa.func.count()).select_from(user_emails)).scalar()
    assert after == before
    assert addresses == 3


def _timestamps(conn: sa.Connection) -> list[object]:
    return [
        *conn.execute(sa.select(users.c.updated_at)),
        *conn.execute(sa.select(contacts.c.updated_at)),
    ]


def test_reload_replaces_a_users_aliases_and_moves_an_address(store: sa.Engine) -> None:
    directory = SqlDirectory(store)
    directory.load(parse_directory(article_directory(with_lucas=True)))
    document = article_directory(with_lucas=True)
    document["accounts"][0]["users"][0]["aliases"] = ["karl@exempel.se"]
    document["accounts"][0]["users"][1]["aliases"] = ["lucas@sthlm.exempel.se"]

    directory.load(parse_directory(document))

    found = directory.directory_for(
        "exempel", ["karl@sthlm.exempel.se", "karl@exempel.se", "lucas@sthlm.exempel.se"]
    )
    assert dict(found.user_by_email) == {
        "karl@exempel.se": "karl",
        "lucas@sthlm.exempel.se": "lucas",
    }


def test_lookup_for_a_page_of_addresses_is_one_query(store: sa.Engine) -> None:
    directory = SqlDirectory(store)
    directory.load(parse_directory(bulk_directory("big", contacts=3000, users=50)))
    addresses = [f"person{i}@customer{i // 10}.example" for i in range(0, 3000, 3)]
    addresses += [f"user{i}@seller.example" for i in range(50)] + ["nobody@nowhere.example"]

    with counting_statements(store) as statements:
        found = directory.directory_for("big", addresses)

    assert len(statements) == 1
    assert len(found.contacts_by_email) == 1000
    assert len(found.user_by_email) == 50
    assert found.colleague_domains == {"seller.example"}
