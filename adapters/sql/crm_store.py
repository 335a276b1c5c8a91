"""The CRM's side of the store: appointments saved in the CRM, directory records, the outbox.

Every function works in the caller's transaction, so the CRM worker commits an event's
effects, its outbox row and its inbox record together (RELIABILITY.md §5.2, §5.3).
Directory writes follow ``calsync directory load`` (``adapters.sql.directory``) one record
at a time: a user's aliases in ``user_emails``, a contact's addresses in ``contact_emails``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from adapters.directory_file import AccountEntry, CompanyEntry, ContactEntry, UserEntry
from adapters.sql.directory import load_contacts, load_users
from adapters.sql.directory_lookup import list_param, lookup_query, to_directory
from adapters.sql.tables import (
    accounts,
    appointments,
    companies,
    contact_emails,
    contacts,
    crm_appointments,
    outbox,
    user_emails,
    users,
)
from adapters.sql.upsert import dialect_insert, upsert
from domain.emails import email_domain
from domain.model import Directory
from domain.timing import AllDay, Timed, Timing


@dataclass(frozen=True)
class UserInfo:
    email: str
    time_zone: str
    active: bool


@dataclass(frozen=True)
class ContactInfo:
    emails: tuple[str, ...]
    company_id: str | None
    active: bool


@dataclass(frozen=True)
class CrmSide:
    """What the store holds of an appointment the CRM saves again or deletes."""

    appointment_id: str
    origin: str
    timing: Timing | None
    time_zone: str | None
    video_url: str | None
    sync_state: str
    fingerprint: str | None
    occurred_at: datetime | None
    deleted_at: datetime | None


@dataclass(frozen=True)
class OutboxMessage:
    message_id: str
    account_id: str | None
    routing_key: str
    ordering_key: str | None
    headers: dict[str, Any]
    body: str
    exchange: str = ""


# -- appointments -------------------------------------------------------------------------


def find_crm_appointment(conn: sa.Connection, account_id: str, crm_id: str) -> CrmSide | None:
    """The appointment the CRM calls ``crm_id``: by its CRM id, else by our own id (the CRM
    may refer to an appointment imported from a calendar by the id we gave it)."""
    a, c = appointments.c, crm_appointments.c
    query = (
        sa.select(
            a.id,
            a.origin,
            a.start_at,
            a.end_at,
            a.all_day,
            a.start_date,
            a.end_date,
            a.time_zone,
            a.video_url,
            a.sync_state,
            c.fingerprint,
            c.occurred_at,
            c.deleted_at,
        )
        .outerjoin(crm_appointments, c.appointment_id == a.id)
        .where(a.account_id == account_id)
    )
    row = conn.execute(query.where(a.crm_id == crm_id)).first()
    if row is None and len(crm_id) <= 36:
        row = conn.execute(query.where(a.id == crm_id)).first()
    if row is None:
        return None
    return CrmSide(
        appointment_id=row.id,
        origin=row.origin,
        timing=_timing(row.all_day, row.start_at, row.end_at, row.start_date, row.end_date),
        time_zone=row.time_zone,
        video_url=row.video_url,
        sync_state=row.sync_state,
        fingerprint=row.fingerprint,
        occurred_at=row.occurred_at,
        deleted_at=row.deleted_at,
    )


def record_crm_side(
    conn: sa.Connection,
    *,
    appointment_id: str,
    account_id: str,
    crm_id: str,
    occurred_at: datetime,
    now: datetime,
    fingerprint: str | None = None,
    deleted_at: datetime | None = None,
) -> None:
    """Upsert the CRM side of an appointment; a None ``fingerprint`` keeps the stored one."""
    update = ["occurred_at", "updated_at", "crm_id"]
    if fingerprint is not None:
        update.append("fingerprint")
    if deleted_at is not None:
        update.append("deleted_at")
    stmt = dialect_insert(conn, crm_appointments).values(
        appointment_id=appointment_id,
        account_id=account_id,
        crm_id=crm_id,
        fingerprint=fingerprint,
        occurred_at=occurred_at,
        deleted_at=deleted_at,
        created_at=now,
        updated_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[crm_appointments.c.appointment_id],
        set_={name: stmt.excluded[name] for name in update},
    )
    conn.execute(stmt)


def set_sync_state(
    conn: sa.Connection, appointment_id: str, state: str, error: str | None, now: datetime
) -> None:
    conn.execute(
        appointments.update()
        .where(appointments.c.id == appointment_id)
        .values(sync_state=state, sync_error=error, updated_at=now)
    )


def enqueue(conn: sa.Connection, message: OutboxMessage, now: datetime) -> bool:
    """Put ``message`` in the outbox; False if a row with its id is already there."""
    stmt = (
        dialect_insert(conn, outbox)
        .values(
            message_id=message.message_id,
            account_id=message.account_id,
            exchange=message.exchange,
            routing_key=message.routing_key,
            ordering_key=message.ordering_key,
            headers=message.headers,
            body=message.body,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[outbox.c.message_id])
        .returning(outbox.c.id)
    )
    return conn.execute(stmt).first() is not None


# -- directory reads ----------------------------------------------------------------------


def users_by_id(conn: sa.Connection, account_id: str, ids: Iterable[str]) -> dict[str, UserInfo]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(
        sa.select(users.c.id, users.c.email, users.c.time_zone, users.c.active).where(
            users.c.account_id == account_id, users.c.id.in_(wanted)
        )
    )
    return {row.id: UserInfo(row.email, row.time_zone, bool(row.active)) for row in rows}


def contacts_by_id(
    conn: sa.Connection, account_id: str, ids: Iterable[str]
) -> dict[str, ContactInfo]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    emails: dict[str, list[str]] = defaultdict(list)
    for row in conn.execute(
        sa.select(contact_emails.c.contact_id, contact_emails.c.email)
        .where(contact_emails.c.account_id == account_id, contact_emails.c.contact_id.in_(wanted))
        .order_by(contact_emails.c.email)
    ):
        emails[row.contact_id].append(row.email)
    rows = conn.execute(
        sa.select(contacts.c.id, contacts.c.company_id, contacts.c.active).where(
            contacts.c.account_id == account_id, contacts.c.id.in_(wanted)
        )
    )
    return {
        row.id: ContactInfo(tuple(emails[row.id]), row.company_id, bool(row.active)) for row in rows
    }


def has_company(conn: sa.Connection, account_id: str, company_id: str) -> bool:
    """Whether ``company_id`` is a company of this account (never of another)."""
    found = conn.execute(
        sa.select(companies.c.id).where(
            companies.c.account_id == account_id, companies.c.id == company_id
        )
    ).first()
    return found is not None


def directory_in(conn: sa.Connection, account_id: str, emails: Iterable[str]) -> Directory:
    """``SqlDirectory.directory_for`` inside the caller's transaction."""
    wanted = sorted(set(emails))
    if not wanted:
        return Directory()
    dialect = conn.dialect.name
    parameters = {
        "account_id": account_id,
        "emails": list_param(dialect, wanted),
        "domains": list_param(dialect, sorted({email_domain(e) for e in wanted})),
    }
    return to_directory(conn.execute(lookup_query(dialect), parameters).all())


# -- directory writes ---------------------------------------------------------------------


def ensure_account(conn: sa.Connection, account_id: str, now: datetime) -> None:
    """Make the account if the CRM speaks of one nobody created yet (no name, no key)."""
    conn.execute(
        dialect_insert(conn, accounts)
        .values(id=account_id, name="", created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=[accounts.c.id])
    )


def save_user(
    conn: sa.Connection, account_id: str, user: UserEntry, now: datetime
) -> tuple[str, ...]:
    """Upsert one user and make its username and aliases exactly ``user``'s (the load's rule:
    an address given to this user is taken from whoever held it before); returns the
    addresses it gained."""
    before = set(
        conn.execute(
            sa.select(user_emails.c.email).where(
                user_emails.c.account_id == account_id, user_emails.c.user_id == user.id
            )
        ).scalars()
    )
    load_users(conn, _entry(account_id, users=(user,)), now)
    return tuple(e for e in user.all_emails if e not in before)


def deactivate_user(conn: sa.Connection, account_id: str, user_id: str, now: datetime) -> bool:
    """A deleted user stops matching (R2) but keeps its rows: connections and history stay."""
    result = conn.execute(
        users.update()
        .where(users.c.account_id == account_id, users.c.id == user_id, users.c.active)
        .values(active=False, updated_at=now)
    )
    return result.rowcount > 0


def save_company(
    conn: sa.Connection, account_id: str, company: CompanyEntry, now: datetime
) -> None:
    upsert(
        conn,
        companies,
        [
            {
                "account_id": account_id,
                "id": company.id,
                "name": company.name,
                "created_at": now,
                "updated_at": now,
            }
        ],
        keys=("account_id", "id"),
        update=("name", "updated_at"),
        only_if_changed=("name",),
    )


def delete_company(conn: sa.Connection, account_id: str, company_id: str) -> bool:
    """Contacts and appointments keep the id, as they may hold one announced later."""
    result = conn.execute(
        companies.delete().where(companies.c.account_id == account_id, companies.c.id == company_id)
    )
    return result.rowcount > 0


def save_contact(
    conn: sa.Connection, account_id: str, contact: ContactEntry, now: datetime
) -> tuple[str, ...]:
    """Upsert one contact with exactly its e-mails; returns the addresses it gained."""
    before = set(
        conn.execute(
            sa.select(contact_emails.c.email).where(
                contact_emails.c.account_id == account_id,
                contact_emails.c.contact_id == contact.id,
            )
        ).scalars()
    )
    load_contacts(conn, account_id, [contact], now)
    return tuple(e for e in contact.emails if e not in before)


def deactivate_contact(
    conn: sa.Connection, account_id: str, contact_id: str, now: datetime
) -> bool:
    """A deleted contact no longer stands for its addresses (R5); appointments keep it."""
    result = conn.execute(
        contacts.update()
        .where(contacts.c.account_id == account_id, contacts.c.id == contact_id, contacts.c.active)
        .values(active=False, updated_at=now)
    )
    if result.rowcount > 0:  # the directory lookup reads the copies in contact_emails
        conn.execute(
            contact_emails.update()
            .where(
                contact_emails.c.account_id == account_id,
                contact_emails.c.contact_id == contact_id,
            )
            .values(active=False, contact_updated_at=now)
        )
    return result.rowcount > 0


def _entry(
    account_id: str,
    *,
    users: tuple[UserEntry, ...] = (),
    contacts: tuple[ContactEntry, ...] = (),
) -> AccountEntry:
    return AccountEntry(account_id, "", (), users, (), contacts)


def _timing(
    all_day: bool,
    start_at: datetime | None,
    end_at: datetime | None,
    start_date: date | None,
    end_date: date | None,
) -> Timing | None:
    if all_day and start_date and end_date:
        return AllDay(start_date, end_date)
    if start_at and end_at:
        return Timed(start_at, end_at)
    return None
