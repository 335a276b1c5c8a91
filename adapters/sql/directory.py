"""The account directory in SQL: loading it, and resolving addresses against it in batches."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from adapters.directory_file import AccountEntry
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

Progress = Callable[[int], None]


class SqlDirectory:
    """Users, aliases, colleague domains, companies and contacts of every account."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def load(self, entries: Sequence[AccountEntry], progress: Progress | None = None) -> None:
        """Upsert every record of ``entries`` in one transaction.

        Idempotent: loading the same file twice changes nothing (not even ``updated_at``).
        Each user's and contact's e-mails are replaced by the file's; records absent from
        the file are kept, since the file is an update, not the whole truth.
        """
        tick = progress or (lambda _n: None)
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # The load grows its tables inside its own transaction, where statistics say
                # "empty"; a generic plan of a statement the driver prepared would keep that
                # view for every later chunk (100,000 contacts: minutes instead of seconds).
                conn.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
            for entry in entries:
                now = datetime.now(UTC)
                _load_account(conn, entry, now)
                _load_users(conn, entry, now)
                tick(len(entry.users))
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
                    _load_contacts(conn, entry.id, chunk, now)
                    tick(len(chunk))

    def directory_for(self, account_id: str, emails: Iterable[str]) -> Directory:
        """Everything resolution needs about ``emails`` (normalised), in one query."""
        wanted = sorted(set(emails))
        if not wanted:
            return Directory(user_by_email={}, colleague_domains=frozenset(), contacts_by_email={})
        domains = sorted({email_domain(e) for e in wanted})
        with self._engine.connect() as conn:
            dialect = conn.dialect.name
            parameters = {
                "account_id": account_id,
                "emails": _list_param(dialect, wanted),
                "domains": _list_param(dialect, domains),
            }
            rows = conn.execute(_lookup_query(dialect), parameters).all()
        return _to_directory(rows)


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


def _load_users(conn: sa.Connection, entry: AccountEntry, now: datetime) -> None:
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


def _load_contacts(
    conn: sa.Connection, account_id: str, chunk: Sequence[Any], now: datetime
) -> None:
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
            {"account_id": account_id, "email": e, "contact_id": c.id}
            for c in chunk
            for e in c.emails
        ],
        keys=("account_id", "email", "contact_id"),
        update=(),
    )


def _list_param(dialect: str, values: list[str]) -> Any:
    return json.dumps(values) if dialect == "sqlite" else values


def _one_of(column: sa.ColumnElement[str], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """``column`` is in the list bound as ``name``: one parameter, however long the list.

    Thousands of expanding IN parameters cost more to render and bind than the lookup itself;
    an array (PostgreSQL) or a JSON list (SQLite) keeps one cached statement.
    """
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(sa.String)))
    if dialect == "sqlite":
        values: sa.Select[Any] = sa.select(sa.column("value")).select_from(
            sa.func.json_each(sa.bindparam(name))
        )
        return column.in_(values)
    return column.in_(sa.bindparam(name, expanding=True))


@functools.cache
def _lookup_query(dialect: str) -> sa.CompoundSelect:
    """One round trip: users by address, contacts by address, and colleague domains."""
    # PostgreSQL wants every UNION column typed alike, NULLs included.
    no_text, no_flag = sa.cast(sa.null(), sa.String), sa.cast(sa.null(), sa.Boolean)
    # Contact times bypass UtcDateTime: ``_aware`` attaches the zone for the few that matter,
    # and per-row type processing was a third of the lookup on SQLite (tests/bench).
    plain_time = sa.DateTime(timezone=True)
    no_time = sa.cast(sa.null(), plain_time)
    by_user = (
        sa.select(
            sa.literal("u").label("kind"),
            user_emails.c.email.label("key"),
            user_emails.c.user_id.label("ref"),
            no_text.label("company_id"),
            users.c.active.label("active"),
            no_time.label("updated_at"),
        )
        .join(
            users,
            sa.and_(
                users.c.account_id == user_emails.c.account_id, users.c.id == user_emails.c.user_id
            ),
        )
        .where(
            user_emails.c.account_id == sa.bindparam("account_id"),
            _one_of(user_emails.c.email, "emails", dialect),
        )
    )
    by_contact = (
        sa.select(
            sa.literal("c"),
            contact_emails.c.email,
            contacts.c.id,
            contacts.c.company_id,
            contacts.c.active,
            sa.type_coerce(contacts.c.updated_at, plain_time),
        )
        .join(
            contacts,
            sa.and_(
                contacts.c.account_id == contact_emails.c.account_id,
                contacts.c.id == contact_emails.c.contact_id,
            ),
        )
        .where(
            contact_emails.c.account_id == sa.bindparam("account_id"),
            _one_of(contact_emails.c.email, "emails", dialect),
        )
    )
    user_domains = (
        sa.select(sa.literal("d"), user_emails.c.domain, no_text, no_text, no_flag, no_time)
        .where(
            user_emails.c.account_id == sa.bindparam("account_id"),
            _one_of(user_emails.c.domain, "domains", dialect),
        )
        .distinct()
    )
    extra_domains = sa.select(
        sa.literal("d"), account_domains.c.domain, no_text, no_text, no_flag, no_time
    ).where(
        account_domains.c.account_id == sa.bindparam("account_id"),
        _one_of(account_domains.c.domain, "domains", dialect),
    )
    return sa.union_all(by_user, by_contact, user_domains, extra_domains)


def _to_directory(rows: Iterable[Any]) -> Directory:
    user_by_email: dict[str, str] = {}
    contacts_by_email: dict[str, list[ContactRecord]] = defaultdict(list)
    domains: set[str] = set()
    for kind, key, ref, company_id, active, updated_at in rows:
        if kind == "u":
            if active:
                user_by_email[key] = ref
        elif kind == "c":
            contacts_by_email[key].append(
                ContactRecord(
                    contact_id=ref,
                    company_id=company_id,
                    active=bool(active),
                    updated_at=_aware(updated_at),
                )
            )
        else:
            domains.add(key)
    return Directory(
        user_by_email=user_by_email,
        colleague_domains=frozenset(domains),
        contacts_by_email=dict(contacts_by_email),
    )


def _aware(value: Any) -> datetime:
    # Columns inside a UNION lose their TypeDecorator on some dialects; SQLite gives strings.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
