"""Participant resolution for events of 10 attendees, against 100,000 contacts and 500 users.

Pure decision: ``resolve_attendees`` on an in-memory directory. SQL-backed: per page of 250
events, one query for all their addresses, then the same decision. Baselines measured in the
same run: bare dictionary lookups of the same addresses (pure), and the lookup query alone
with no resolution (SQL).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from adapters.directory_file import parse_directory
from adapters.sql.directory import SqlDirectory
from domain.directory import colleague_domains
from domain.emails import normalise_email
from domain.model import Attendee, ContactRecord, Directory, Response
from domain.participants import resolve_attendees
from tests.bench.conftest import rate, report
from tests.conftest import empty_store
from tests.factories import bulk_directory

CONTACTS, USERS, EVENTS, PAGE = 100_000, 500, 5_000, 250


def make_events(count: int) -> list[list[Attendee]]:
    """Ten attendees: organizer user, another user, a colleague, six contacts, one stranger."""
    events = []
    for n in range(count):
        picks = [(n * 7 + k * 131) % CONTACTS for k in range(6)]
        contacts = [f"person{p}@customer{p // 10}.example" for p in picks]
        events.append(
            [
                Attendee(
                    f"user{n % USERS}@seller.example", is_organizer=True, response=Response.ACCEPTED
                ),
                Attendee(f"U{(n + 1) % USERS}@Sales.Seller.example"),
                Attendee(f"colleague{n}@seller.example"),
                *(Attendee(f"Person <{c}>", response=Response.TENTATIVE) for c in contacts),
                Attendee(f"stranger{n}@elsewhere.example", response=Response.DECLINED),
            ]
        )
    return events


@pytest.fixture(scope="module")
def directory_document() -> dict:
    return bulk_directory("bench", contacts=CONTACTS, users=USERS)


def in_memory_directory(document: dict) -> Directory:
    (account,) = parse_directory(document)
    user_by_email = {e: u.id for u in account.users for e in u.all_emails}
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    contacts: dict[str, list[ContactRecord]] = defaultdict(list)
    for c in account.contacts:
        for email in c.emails:
            contacts[email].append(ContactRecord(c.id, c.company_id, c.active, stamp))
    return Directory(
        user_by_email=user_by_email,
        colleague_domains=colleague_domains(user_by_email, ()),
        contacts_by_email=dict(contacts),
    )


def test_pure_resolution(directory_document: dict) -> None:
    directory = in_memory_directory(directory_document)
    events = make_events(EVENTS)

    def resolve_all() -> list:
        return [resolve_attendees(a, None, directory) for a in events]

    def look_up_only() -> int:
        hits = 0
        for attendees in events:
            for a in attendees:
                hits += a.email in directory.user_by_email or a.email in directory.contacts_by_email
        return hits

    sample = resolve_all()[0]
    assert [p.kind.value for p in sample.participants][:2] == ["user", "user"]
    assert len(sample.participants) == 9
    assert len(sample.colleagues) == 1
    report(
        "pure resolution",
        rate(EVENTS, resolve_all),
        "events/s",
        baseline=rate(EVENTS, look_up_only),
        baseline_name="bare dict lookups",
        target=50_000,
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sql_backed_resolution(
    request: pytest.FixtureRequest, directory_document: dict, backend: str
) -> None:
    engine: sa.Engine = request.getfixturevalue(
        "postgres_engine" if backend == "postgresql" else "sqlite_engine"
    )
    store = SqlDirectory(engine)
    store.load(parse_directory(directory_document))
    pages = [make_events(EVENTS)[i : i + PAGE] for i in range(0, EVENTS, PAGE)]

    def addresses(page: list[list[Attendee]]) -> set[str]:
        return {e for attendees in page for a in attendees if (e := normalise_email(a.email))}

    def resolve_pages() -> list:
        resolved = []
        for page in pages:
            directory = store.directory_for("bench", addresses(page))
            resolved.extend(resolve_attendees(a, None, directory) for a in page)
        return resolved

    def query_only() -> None:
        for page in pages:
            store.directory_for("bench", addresses(page))

    try:
        sample = resolve_pages()[0]
        assert len(sample.participants) == 9
        assert sample.colleagues
        report(
            f"SQL-backed resolution ({backend})",
            rate(EVENTS, resolve_pages),
            "events/s",
            baseline=rate(EVENTS, query_only),
            baseline_name="lookup query alone",
            target=10_000,
        )
    finally:
        empty_store(engine)
