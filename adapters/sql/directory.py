"""The account directory in SQL: loading it, and resolving addresses against it in batches
(the lookup itself is ``adapters.sql.directory_lookup``).

A load makes the appointments still to come follow the directory, as ``workers.crm`` does for
a CRM user's or contact's save, with ``adapters.sql.coming_appointments`` (R14: the past keeps
everyone): bare addresses that now belong to an active user or contact become that user or
contact (R2, R5, R18), and where the account's colleague domains grew (R3) the addresses at
the new domains that are not users leave them (R4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
import structlog

from adapters.directory_file import AccountEntry, ContactEntry
from adapters.sql.coming_appointments import (
    leave_out_colleagues_in_future,
    link_known_addresses_in_future,
)
from adapters.sql.directory_lookup import list_param, lookup_query, to_directory
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
from domain.clock import Clock, system_clock
from domain.emails import email_domain
from domain.model import Directory

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

    def __init__(self, engine: sa.Engine, *, clock: Clock = system_clock) -> None:
        self._engine = engine
        self._clock = clock

    def load(self, entries: Sequence[AccountEntry], progress: Progress | None = None) -> None:
        """Upsert every record of ``entries`` in one transaction.

        Idempotent: loading the same file twice changes nothing (not even ``updated_at``).
        Each user's and contact's e-mails are replaced by the file's; records absent from
        the file are kept, since the file is an update, not the whole truth.

        Once an account is loaded, its appointments starting from now on follow it (R14):
        a bare participant whose address is an active user's or contact's becomes that user
        or contact (R2, R5, R18); then, where the account's colleague domains grew (a
        user's address or an added domain), addresses there that are not users leave them
        (R3, R4).
        """
        tick = progress or (lambda _n: None)
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # The load grows its tables inside its own transaction, where statistics say
                # "empty"; a generic plan of a statement the driver prepared would keep that
                # view for every later chunk (100,000 contacts: minutes instead of seconds).
                conn.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
                # Linking reads the coming appointments; right after a first sync, before
                # autovacuum came by, their tables have no statistics and the planner picks
                # nested loops (10,000 appointments: a 28 s load instead of 14 s).
                conn.execute(sa.text("ANALYZE appointments, appointment_participants"))
            for entry in entries:
                now = self._clock()
                before = colleague_domains(conn, entry.id)
                _load_account(conn, entry, now)
                load_users(conn, entry, now)
                tick(len(entry.users))
                grown = colleague_domains(conn, entry.id) - before
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
                _follow_directory(conn, entry.id, grown, now)
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


def _follow_directory(
    conn: sa.Connection, account_id: str, grown: frozenset[str], now: datetime
) -> None:
    """Make the account's appointments starting at or after ``now`` follow its loaded
    directory. Linking comes first, as in ``workers.crm``'s ``user.saved``: a user's own
    address at a new colleague domain is the user (R2), never a colleague (R4)."""
    linked = link_known_addresses_in_future(conn, account_id, now)
    if linked:
        log.info("addresses linked in coming appointments", account=account_id, count=len(linked))
    if not grown:
        return
    left_out = leave_out_colleagues_in_future(conn, account_id, domains=grown, now=now)
    if left_out:
        log.info(
            "colleagues left out of coming appointments",
            account=account_id,
            count=len(left_out),
            domains=sorted(grown),
        )


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
