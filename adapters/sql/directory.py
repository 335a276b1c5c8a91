"""The account directory in SQL: loading it, and resolving addresses against it in batches.

A load that grows an account's colleague domains (R3) also leaves the addresses at the new
domains out of the appointments still to come (R4, R14), with
``adapters.sql.coming_appointments``, as ``workers.crm`` does when a CRM user's save brings a
new domain.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog

from adapters.directory_file import AccountEntry, ContactEntry
from adapters.sql.coming_appointments import leave_out_colleagues_in_future
from adapters.sql.tables import (
    account_domains,
    accounts,
    companies,
    contact_emails,
    contacts,
    user_emails,
    users,
)
from adapters.sql.upsert import CHUNK, chunks, upsert
from domain.emails import email_domain
from domain.model import ContactRecord, Directory

log = structlog.get_logger("calsync.directory")

Progress = Callable[[int], None]

#: The tables a directory load writes.
_DIRECTORY_TABLES = (
    accounts,
    account_domains,
    users,
    user_emails,
    companies,
    contacts,
    contact_emails,
)


class SqlDirectory:
    """Users, aliases, colleague domains, companies and contacts of every account."""

    def __init__(
        self, engine: sa.Engine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._engine = engine
        self._clock = clock

    def load(self, entries: Sequence[AccountEntry], progress: Progress | None = None) -> None:
        """Upsert every record of ``entries`` in one transaction.

        Idempotent: loading the same file twice changes nothing (not even ``updated_at``).
        Each user's and contact's e-mails are replaced by the file's; records absent from
        the file are kept, since the file is an update, not the whole truth. Where an
        account's colleague domains grow (a user's address or an added domain), addresses
        there that are not users leave its appointments starting from now on (R3, R4, R14).
        """
        tick = progress or (lambda _n: None)
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # The load grows its tables inside its own transaction, where statistics say
                # "empty"; a generic plan of a statement the driver prepared would keep that
                # view for every later chunk (100,000 contacts: minutes instead of seconds).
                conn.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
            for entry in entries:
                now = self._clock()
                before = colleague_domains(conn, entry.id)
                _load_account(conn, entry, now)
                load_users(conn, entry, now)
                tick(len(entry.users))
                grown = colleague_domains(conn, entry.id) - before
                if grown:
                    left_out = leave_out_colleagues_in_future(
                        conn, entry.id, domains=grown, now=now
                    )
                    if left_out:
                        log.info(
                            "colleagues left out of coming appointments",
                            account=entry.id,
                            count=len(left_out),
                            domains=sorted(grown),
                        )
                upsert(
                    conn,
                    companies,
                    [
                        {
                            "account_id": entry.id,
                            "id": c.id,
                            "name": c.name,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for c in entry.companies
                    ],
                    keys=("account_id", "id"),
                    update=("name", "updated_at"),
                    only_if_changed=("name",),
                )
                tick(len(entry.companies))
                for chunk in chunks(entry.contacts, CHUNK):
                    load_contacts(conn, entry.id, chunk, now)
                    tick(len(chunk))
        if self._engine.dialect.name == "postgresql":
            _vacuum_analyze(self._engine)

    def directory_for(self, account_id: str, emails: Iterable[str]) -> Directory:
        """Everything resolution needs about ``emails`` (normalised), in one query.

        A contact is looked up only for an address outside the colleague domains, since
        resolution never asks for one there (R4 before R5).
        """
        wanted = sorted(set(emails))  # in index order: the probes walk the index forwards
        if not wanted:
            return Directory(user_by_email={}, colleague_domains=frozenset(), contacts_by_email={})
        domains = sorted({e.rpartition("@")[2] for e in wanted})  # email_domain, inlined
        with self._engine.connect() as conn:
            dialect = conn.dialect.name
            parameters = {
                "account_id": account_id,
                "emails": list_param(dialect, wanted),
                "domains": list_param(dialect, domains),
            }
            rows = conn.execute(lookup_query(dialect), parameters).all()
        return to_directory(rows)


def _vacuum_analyze(engine: sa.Engine) -> None:
    """What PostgreSQL advises after a bulk load, so that the lookups that follow do not wait
    for autovacuum: statistics (without them the planner took 100,000 loaded contacts for an
    empty table and probed a page's addresses by the wrong index, tests/bench: 85 ms a page
    instead of 14) and the visibility map (index-only probes of ``contact_emails``).
    VACUUM cannot run inside a transaction, and skips pages it has seen all-visible before.
    """
    names = ", ".join(table.name for table in _DIRECTORY_TABLES)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"VACUUM (ANALYZE) {names}"))


def _load_account(conn: sa.Connection, entry: AccountEntry, now: datetime) -> None:
    upsert(
        conn,
        accounts,
        [{"id": entry.id, "name": entry.name, "created_at": now, "updated_at": now}],
        keys=("id",),
        update=("name", "updated_at"),
        only_if_changed=("name",),
    )
    conn.execute(account_domains.delete().where(account_domains.c.account_id == entry.id))
    upsert(
        conn,
        account_domains,
        [{"account_id": entry.id, "domain": d} for d in entry.extra_colleague_domains],
        keys=("account_id", "domain"),
        update=(),
    )


def load_users(conn: sa.Connection, entry: AccountEntry, now: datetime) -> None:
    """Upsert ``entry``'s users and make each one's addresses in ``user_emails`` exactly its
    username and aliases; an address given to a user is taken from whoever held it before.
    Used by the load and, one user at a time, by ``adapters.sql.crm_store.save_user``."""
    rows = [
        {
            "account_id": entry.id,
            "id": u.id,
            "name": u.name,
            "email": u.email,
            "time_zone": u.time_zone,
            "active": u.active,
            "created_at": now,
            "updated_at": now,
        }
        for u in entry.users
    ]
    changing = ("name", "email", "time_zone", "active")
    upsert(
        conn,
        users,
        rows,
        keys=("account_id", "id"),
        update=(*changing, "updated_at"),
        only_if_changed=changing,
    )
    ids = [u.id for u in entry.users]
    addresses = [e for u in entry.users for e in u.all_emails]
    # The file wins: an address it gives to a user is taken from whoever held it before.
    for id_chunk in chunks(ids, CHUNK):
        conn.execute(
            user_emails.delete().where(
                user_emails.c.account_id == entry.id, user_emails.c.user_id.in_(id_chunk)
            )
        )
    for email_chunk in chunks(addresses, CHUNK):
        conn.execute(
            user_emails.delete().where(
                user_emails.c.account_id == entry.id, user_emails.c.email.in_(email_chunk)
            )
        )
    upsert(
        conn,
        user_emails,
        [
            {
                "account_id": entry.id,
                "email": e,
                "user_id": u.id,
                "domain": email_domain(e),
                "is_username": e == u.email,
            }
            for u in entry.users
            for e in u.all_emails
        ],
        keys=("account_id", "email"),
        update=(),
    )


def load_contacts(
    conn: sa.Connection, account_id: str, chunk: Sequence[ContactEntry], now: datetime
) -> None:
    """Upsert the contacts of ``chunk`` (at most ``CHUNK``) with exactly their e-mails, and
    the copies of company, state and last change that ``contact_emails`` carries for the
    lookup. Used by the load and, one contact at a time, by
    ``adapters.sql.crm_store.save_contact``."""
    changing = ("name", "company_id", "active")
    upsert(
        conn,
        contacts,
        [
            {
                "account_id": account_id,
                "id": c.id,
                "name": c.name,
                "company_id": c.company_id,
                "active": c.active,
                "created_at": now,
                "updated_at": now,
            }
            for c in chunk
        ],
        keys=("account_id", "id"),
        update=(*changing, "updated_at"),
        only_if_changed=changing,
    )
    conn.execute(
        contact_emails.delete().where(
            contact_emails.c.account_id == account_id,
            contact_emails.c.contact_id.in_([c.id for c in chunk]),
        )
    )
    upsert(
        conn,
        contact_emails,
        [
            {
                "account_id": account_id,
                "email": e,
                "contact_id": c.id,
                "company_id": c.company_id,
                "active": c.active,
            }
            for c in chunk
            for e in c.emails
        ],
        keys=("account_id", "email", "contact_id"),
        update=(),
    )
    # The contact's own time of last change: an unchanged contact keeps its older one.
    ce, co = contact_emails.c, contacts.c
    conn.execute(
        contact_emails.update()
        .where(ce.account_id == account_id, ce.contact_id.in_([entry.id for entry in chunk]))
        .values(
            contact_updated_at=sa.select(co.updated_at)
            .where(co.account_id == ce.account_id, co.id == ce.contact_id)
            .scalar_subquery()
        )
    )


def colleague_domains(
    conn: sa.Connection, account_id: str, among: Iterable[str] | None = None
) -> frozenset[str]:
    """The colleague domains of ``account_id`` (R3), or those of ``among`` that are.

    As the lookup reads them: the domains of every username and alias of the account's
    users, active or not, and the domains an administrator added.
    """
    ue, ad = user_emails.c, account_domains.c
    of_users = sa.select(ue.domain).where(ue.account_id == account_id)
    added = sa.select(ad.domain).where(ad.account_id == account_id)
    if among is not None:
        wanted = sorted(set(among))
        if not wanted:
            return frozenset()
        of_users = of_users.where(ue.domain.in_(wanted))
        added = added.where(ad.domain.in_(wanted))
    return frozenset(conn.execute(sa.union(of_users, added)).scalars())


def list_param(dialect: str, values: list[str]) -> Any:
    """``values`` as one bound parameter of ``lookup_query``: a JSON list on SQLite, one
    string of lines on PostgreSQL (split by the server: cheaper to send than an array of
    thousands of strings, which psycopg quotes one by one). Normalised addresses and domains
    hold no whitespace, so a line break cannot fall inside one."""
    if dialect == "sqlite":
        return json.dumps(values)
    if dialect == "postgresql":
        return "\n".join(values)
    raise ValueError(f"no directory lookup for the {dialect} dialect")


# The lookup of one page of addresses (tests/bench/test_resolution.py). Resolution tries
# user (R2), then colleague domain (R3, R4), then contact (R5), so only an address in a
# colleague domain can be a user and only one outside them a contact: each address is
# looked up in one of the two tables, not both. Rows are (kind, key, ref, company_id,
# active, updated_at), kind "d" for a colleague domain, "u" for a user's address and "c"
# for a contact's, read from ``contact_emails`` alone, which carries what resolution needs of
# the contact (one probe per address instead of two); ``to_directory`` reads them. Contacts
# are probed address by address
# whatever the statistics say: given an ``IN`` list of a page's 2,500 addresses, PostgreSQL
# hashed or scanned all 100,000 contacts (70 ms a page). Users, a few hundred addresses in
# most accounts, are joined as the planner sees fit; ``SqlDirectory.load`` keeps the
# statistics that it needs.
_LOOKUP_SQL = {
    # OFFSET 0 keeps the LATERAL subquery a per-address probe: the planner may not flatten
    # it into a join that it would then hash.
    "postgresql": r"""
WITH colleague AS MATERIALIZED (
    SELECT domain FROM user_emails
    WHERE account_id = :account_id AND domain = ANY (string_to_array(:domains, E'\n'))
    UNION
    SELECT domain FROM account_domains
    WHERE account_id = :account_id AND domain = ANY (string_to_array(:domains, E'\n'))
), wanted AS MATERIALIZED (
    SELECT w.email, split_part(w.email, '@', 2) IN (SELECT domain FROM colleague) AS colleague
    FROM unnest(string_to_array(:emails, E'\n')) AS w (email)
)
SELECT 'd' AS kind, domain AS key, CAST(NULL AS text) AS ref, CAST(NULL AS text) AS company_id,
    CAST(NULL AS boolean) AS active, CAST(NULL AS timestamptz) AS updated_at
FROM colleague
UNION ALL
SELECT 'u', w.email, ue.user_id, NULL, u.active, NULL
FROM wanted AS w
JOIN user_emails AS ue ON ue.account_id = :account_id AND ue.email = w.email
JOIN users AS u ON u.account_id = ue.account_id AND u.id = ue.user_id
WHERE w.colleague
UNION ALL
SELECT 'c', w.email, found.contact_id, found.company_id, found.active, found.contact_updated_at
FROM wanted AS w CROSS JOIN LATERAL (
    SELECT ce.contact_id, ce.company_id, ce.active, ce.contact_updated_at
    FROM contact_emails AS ce
    WHERE ce.account_id = :account_id AND ce.email = w.email
    OFFSET 0
) AS found
WHERE NOT w.colleague
""",
    # SQLite joins a CROSS JOIN in the order written: addresses first, then the probes.
    "sqlite": """
WITH colleague (domain) AS MATERIALIZED (
    SELECT domain FROM user_emails
    WHERE account_id = :account_id AND domain IN (SELECT value FROM json_each(:domains))
    UNION
    SELECT domain FROM account_domains
    WHERE account_id = :account_id AND domain IN (SELECT value FROM json_each(:domains))
), wanted (email, colleague) AS MATERIALIZED (
    SELECT value, substr(value, instr(value, '@') + 1) IN (SELECT domain FROM colleague)
    FROM json_each(:emails)
)
SELECT 'd' AS kind, domain AS key, NULL AS ref, NULL AS company_id, NULL AS active,
    NULL AS updated_at
FROM colleague
UNION ALL
SELECT 'u', w.email, ue.user_id, NULL, u.active, NULL
FROM wanted AS w CROSS JOIN user_emails AS ue CROSS JOIN users AS u
WHERE w.colleague AND ue.account_id = :account_id AND ue.email = w.email
    AND u.account_id = ue.account_id AND u.id = ue.user_id
UNION ALL
SELECT 'c', w.email, ce.contact_id, ce.company_id, ce.active, ce.contact_updated_at
FROM wanted AS w CROSS JOIN contact_emails AS ce
WHERE NOT w.colleague AND ce.account_id = :account_id AND ce.email = w.email
""",
}


@functools.cache
def lookup_query(dialect: str) -> sa.TextClause:
    """One round trip for a page: colleague domains, users and contacts by address.

    Bind ``account_id``, and ``emails`` and ``domains`` (normalised, each through
    ``list_param``). Plain SQL with untyped columns: per-row type processing was a third
    of the lookup on SQLite (tests/bench), and ``to_directory`` does the little needed.
    """
    try:
        return sa.text(_LOOKUP_SQL[dialect])
    except KeyError:
        raise ValueError(f"no directory lookup for the {dialect} dialect") from None


def to_directory(rows: Iterable[Any]) -> Directory:
    """The Directory of ``lookup_query``'s rows: active users by address, colleague domains,
    and every contact found for an address."""
    user_by_email: dict[str, str] = {}
    contacts_by_email: dict[str, list[ContactRecord]] = {}
    domains: set[str] = set()
    for kind, key, ref, company_id, active, updated_at in rows:
        if kind == "c":
            record = ContactRecord(ref, company_id, bool(active), _aware(updated_at))
            found = contacts_by_email.get(key)
            if found is None:
                contacts_by_email[key] = [record]
            else:
                found.append(record)
        elif kind == "u":
            if active:
                user_by_email[key] = ref
        else:
            domains.add(key)
    return Directory(
        user_by_email=user_by_email,
        colleague_domains=frozenset(domains),
        contacts_by_email=contacts_by_email,
    )


def _aware(value: datetime | str) -> datetime:
    """An aware ``updated_at``: PostgreSQL gives one, SQLite naive UTC as text."""
    if not isinstance(value, str):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:  # parsed with its zone in one go: replace(tzinfo=...) costs more than the parse
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:  # the text carries its own offset
        return _aware(datetime.fromisoformat(value))
