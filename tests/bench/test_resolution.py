"""Participant resolution for events of 10 attendees, against 100,000 contacts and 500 users.

Pure decision: ``Resolver`` on an in-memory directory. SQL-backed: per page of 250 events,
one query for all their addresses, then a fresh ``Resolver`` on what it returned, as the sync
worker does. Baselines measured in the same run: bare dictionary lookups of the same addresses
(pure), and the lookup query alone with no resolution (SQL).

*Per page*: a fresh resolver for each page of 250 events, as the worker makes one per page;
the normalisation cache is warm, as in a worker that has seen these people before (best of
three passes). *Cold*: the same with the normalisation cache emptied first, every address
normalised and classified for the first time. *Memoised* (pure only): one resolver kept for
every pass, so after the first pass each address is a dictionary hit; it shows the cost of
the per-event work that remains, not what a page costs. Nearly every address of a page is
new to it (another organizer, colleague, stranger and six contacts per event), so a
resolver per page saves little over one per event.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from adapters.directory_file import parse_directory
from adapters.sql.directory import SqlDirectory
from domain.directory import colleague_domains
from domain.emails import normalise_email
from domain.model import Attendee, ContactRecord, Directory, Response
from domain.participants import Resolver
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


def settle() -> None:
    """Freeze what the bench holds for the whole run out of the garbage collector's sight.

    The 100,000-record directory (document and in-memory copy) and all 20 pages of events
    would otherwise be walked by every full collection inside the timed loops, though a
    worker holds one page at a time (and a process that holds a directory this size should
    freeze it too). What each page makes is still collected as usual, and each pass keeps
    only the current page's resolutions, as the worker does.
    """
    gc.collect()
    gc.freeze()


def cold(count: int, work: Callable[[], object]) -> float:
    """Throughput of one pass of ``work`` with the normalisation cache emptied first."""
    normalise_email.cache_clear()
    return rate(count, work, repeat=1)


def test_pure_resolution(directory_document: dict) -> None:
    directory = in_memory_directory(directory_document)
    events = make_events(EVENTS)
    pages = [events[i : i + PAGE] for i in range(0, EVENTS, PAGE)]
    memoised = Resolver(directory)

    def resolve_page(page: list[list[Attendee]], resolver: Resolver | None = None) -> list:
        resolver = resolver or Resolver(directory)
        return [resolver.resolve(a, None) for a in page]

    def resolve_pages() -> int:
        return sum(len(resolve_page(page)) for page in pages)

    def resolve_memoised() -> int:
        return sum(len(resolve_page(page, memoised)) for page in pages)

    def look_up_only() -> int:
        hits = 0
        for attendees in events:
            for a in attendees:
                hits += a.email in directory.user_by_email or a.email in directory.contacts_by_email
        return hits

    sample = resolve_page(pages[0])[0]
    assert [p.kind.value for p in sample.participants][:2] == ["user", "user"]
    assert len(sample.participants) == 9
    assert len(sample.colleagues) == 1
    assert all(resolve_page(page, memoised) == resolve_page(page) for page in pages)
    settle()
    baseline = rate(EVENTS, look_up_only)
    for name, value in (
        ("cold", cold(EVENTS, resolve_pages)),
        ("per page", rate(EVENTS, resolve_pages)),
        ("memoised", rate(EVENTS, resolve_memoised)),
    ):
        report(
            f"pure resolution, {name}",
            value,
            "events/s",
            baseline=baseline,
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

    def resolve_page(page: list[list[Attendee]]) -> list:
        resolver = Resolver(store.directory_for("bench", addresses(page)))
        return [resolver.resolve(a, None) for a in page]

    def resolve_pages() -> int:
        return sum(len(resolve_page(page)) for page in pages)

    def query_only() -> None:
        for page in pages:
            store.directory_for("bench", addresses(page))

    try:
        sample = resolve_page(pages[0])[0]
        assert len(sample.participants) == 9
        assert sample.colleagues
        settle()
        baseline = rate(EVENTS, query_only)
        for name, value in (
            ("cold", cold(EVENTS, resolve_pages)),
            ("per page", rate(EVENTS, resolve_pages)),
        ):
            report(
                f"SQL-backed resolution ({backend}), {name}",
                value,
                "events/s",
                baseline=baseline,
                baseline_name="lookup query alone",
                target=10_000,
            )
    finally:
        empty_store(engine)
