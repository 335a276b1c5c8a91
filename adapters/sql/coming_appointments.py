"""What a change of the directory does to the appointments still to come (R2-R5, R14, R18).

Appointments that have started are history and keep everyone (R14); those to come follow
the directory: a bare address that now belongs to a user or contact becomes that user (one
participant however many of their addresses are listed, R2) or that contact (R5), colleagues
at a new colleague domain leave them (R3, R4), and their company is chosen again from the
participants that remain (R18). ``workers.crm`` applies this record by record for CRM saves,
``SqlDirectory.load`` account by account.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.sql.directory_lookup import list_param, lookup_query, to_directory
from adapters.sql.tables import appointment_participants, appointments, user_emails, users
from adapters.sql.upsert import CHUNK, chunks
from domain.company import choose_company
from domain.directory import choose_contact
from domain.model import Participant, ParticipantKind, Response

#: Addresses per directory lookup when a load links the coming appointments: about what a
#: sync page asks (250 events of 10 attendees), the size the lookup is tuned for.
LOOKUP_BATCH = 2500


@dataclass(frozen=True)
class _Someone:
    """Who a bare address turns out to be: a user, or a contact with its company."""

    kind: ParticipantKind
    user_id: str | None = None
    contact_id: str | None = None
    company_id: str | None = None


def link_known_addresses_in_future(
    conn: sa.Connection, account_id: str, now: datetime
) -> list[str]:
    """Turn every bare participant of ``account_id``'s appointments starting at or after
    ``now`` whose address belongs to someone in the directory into that someone.

    What ``link_user_in_future`` and ``link_contact_in_future`` do for one CRM save, for
    the whole account after a directory load: the distinct bare addresses of the coming
    appointments are looked up as resolution looks them up (``lookup_query``, in batches),
    so an address at a colleague domain can only be a user and one outside only a contact.
    An active user's address becomes the user, or goes where the user already takes part
    (R2); an address of active contacts becomes the one R5 chooses, with its company, and
    the company of the appointment is chosen again (R18). A colleague that is no user stays
    bare here: ``leave_out_colleagues_in_future`` decides about it (R4). Past appointments
    keep their bare addresses (R14). Returns the ids of the changed appointments, which get
    ``updated_at`` ``now``; nothing changes when no bare address is anyone's.

    Every match is linked in one pass, not user by user and contact by contact: with 2,000
    coming appointments bringing 14,000 contacts, linking them one by one made a load of
    100,000 contacts take 37 s on SQLite and 38 s on PostgreSQL instead of 2 s and 10 s.
    """
    address = appointment_participants.c.email
    bare = list(
        conn.execute(
            _coming_bare(account_id, now, address).distinct().order_by(address)  # index order
        ).scalars()
    )
    dialect = conn.dialect.name
    query = lookup_query(dialect)
    who: dict[str, _Someone] = {}
    for batch in chunks(bare, LOOKUP_BATCH):
        parameters = {
            "account_id": account_id,
            "emails": list_param(dialect, list(batch)),
            "domains": list_param(dialect, sorted({e.rpartition("@")[2] for e in batch})),
        }
        directory = to_directory(conn.execute(query, parameters).all())
        for email, user_id in directory.user_by_email.items():
            who[email] = _Someone(ParticipantKind.USER, user_id=user_id)
        for email, records in directory.contacts_by_email.items():
            contact = choose_contact(records)
            if contact is not None:
                who[email] = _Someone(
                    ParticipantKind.CONTACT,
                    contact_id=contact.contact_id,
                    company_id=contact.company_id,
                )
    return _link_in_future(conn, account_id, who, now, by_address=False)


def link_user_in_future(
    conn: sa.Connection, account_id: str, *, user_id: str, emails: Sequence[str], now: datetime
) -> list[str]:
    """Turn bare ``emails`` of appointments starting at or after ``now`` into the user (R2).

    Where the user already takes part under another address, the bare one goes: a user is
    one participant however many of their addresses were invited. Past appointments keep
    their bare addresses. The changed appointments get ``updated_at`` ``now``; returns their
    ids.
    """
    user = _Someone(ParticipantKind.USER, user_id=user_id)
    return _link_in_future(conn, account_id, dict.fromkeys(emails, user), now)


def link_contact_in_future(
    conn: sa.Connection,
    account_id: str,
    *,
    contact_id: str,
    company_id: str | None,
    emails: Sequence[str],
    now: datetime,
) -> list[str]:
    """Turn bare ``emails`` of appointments starting at or after ``now`` into the contact.

    The appointment's company is chosen again (R18) unless it was set by hand. Past
    appointments are history and keep their bare addresses. The changed appointments get
    ``updated_at`` ``now``; returns their ids.
    """
    contact = _Someone(ParticipantKind.CONTACT, contact_id=contact_id, company_id=company_id)
    return _link_in_future(conn, account_id, dict.fromkeys(emails, contact), now)


def _link_in_future(
    conn: sa.Connection,
    account_id: str,
    who: Mapping[str, _Someone],
    now: datetime,
    *,
    by_address: bool = True,
) -> list[str]:
    """Turn each bare participant whose address is in ``who`` into whom it maps to, in the
    appointments of ``account_id`` starting at or after ``now`` (R14).

    A user is one participant (R2), and so is a contact (R5): where they already take part,
    the bare address goes; where several of their addresses are bare, the first in attendee
    order becomes them and the others go. Where a contact came in, the company is chosen
    again (R18). A bare organizer becomes the user or contact as well. The changed
    appointments get ``updated_at`` ``now``; returns their ids, sorted.

    ``by_address`` finds the bare participants by address, right for a CRM save's few;
    without it every bare participant of the coming appointments is read once and those in
    ``who`` are kept, right for a load's thousands of addresses (SQLite probes every coming
    appointment for each address asked: 17 s for the 14,000 above).
    """
    if not who:
        return []
    p, a = appointment_participants.c, appointments.c
    coming_bare = _coming_bare(account_id, now, p.appointment_id, p.position, p.email)
    bare: list[Any] = []
    if by_address:
        for chunk in chunks(sorted(who), CHUNK):
            bare.extend(conn.execute(coming_bare.where(p.email.in_(chunk))))
    else:
        bare.extend(row for row in conn.execute(coming_bare) if row.email in who)
    if not bare:
        return []
    bare.sort(key=lambda row: (row.appointment_id, row.position))  # attendee order
    present = _taking_part(conn, {row.appointment_id for row in bare})
    gone: list[dict[str, Any]] = []
    turned: list[dict[str, Any]] = []
    for row in bare:
        someone = who[row.email]
        key = {"_appointment_id": row.appointment_id, "_email": row.email}
        identity = (row.appointment_id, someone.kind.value, someone.user_id or someone.contact_id)
        if identity in present:
            gone.append(key)
            continue
        present.add(identity)
        turned.append(
            {
                **key,
                "_kind": someone.kind.value,
                "_user_id": someone.user_id,
                "_contact_id": someone.contact_id,
                "_company_id": someone.company_id,
            }
        )
    this_row = sa.and_(
        p.appointment_id == sa.bindparam("_appointment_id"),
        p.email == sa.bindparam("_email"),
        p.kind == ParticipantKind.EXTERNAL.value,
    )
    if gone:
        conn.execute(appointment_participants.delete().where(this_row), gone)
    if turned:
        conn.execute(
            appointment_participants.update()
            .where(this_row)
            .values(
                kind=sa.bindparam("_kind"),
                user_id=sa.bindparam("_user_id"),
                contact_id=sa.bindparam("_contact_id"),
                company_id=sa.bindparam("_company_id"),
            ),
            turned,
        )
    ids = sorted({row.appointment_id for row in bare})
    _link_organizers(conn, ids, who)
    for chunk in chunks(ids, CHUNK):
        conn.execute(appointments.update().where(a.id.in_(chunk)).values(updated_at=now))
    with_contacts = sorted(
        {row.appointment_id for row in bare if who[row.email].kind is ParticipantKind.CONTACT}
    )
    for chunk in chunks(with_contacts, CHUNK):
        choose_companies(conn, chunk, now)
    return ids


def _link_organizers(conn: sa.Connection, ids: Sequence[str], who: Mapping[str, _Someone]) -> None:
    """Where the bare organizer of an appointment of ``ids`` is in ``who``, the appointment's
    organizer becomes that user or contact too, as a sync would store it now."""
    a = appointments.c
    linked = []
    for chunk in chunks(ids, CHUNK):
        for row in conn.execute(
            sa.select(a.id, a.organizer_email).where(
                a.id.in_(chunk), a.organizer_kind == ParticipantKind.EXTERNAL.value
            )
        ):
            someone = who.get(row.organizer_email)
            if someone is not None:
                linked.append(
                    {
                        "_id": row.id,
                        "_kind": someone.kind.value,
                        "_user_id": someone.user_id,
                        "_contact_id": someone.contact_id,
                    }
                )
    if linked:
        conn.execute(
            appointments.update()
            .where(a.id == sa.bindparam("_id"))
            .values(
                organizer_kind=sa.bindparam("_kind"),
                organizer_user_id=sa.bindparam("_user_id"),
                organizer_contact_id=sa.bindparam("_contact_id"),
            ),
            linked,
        )


def _taking_part(conn: sa.Connection, ids: Iterable[str]) -> set[tuple[str, str, str | None]]:
    """(appointment, kind, user or contact id) of every user and contact taking part in the
    appointments ``ids``."""
    p = appointment_participants.c
    known = [ParticipantKind.USER.value, ParticipantKind.CONTACT.value]
    present: set[tuple[str, str, str | None]] = set()
    for chunk in chunks(sorted(ids), CHUNK):
        present.update(
            (row.appointment_id, row.kind, row.user_id or row.contact_id)
            for row in conn.execute(
                sa.select(p.appointment_id, p.kind, p.user_id, p.contact_id).where(
                    p.appointment_id.in_(chunk), p.kind.in_(known)
                )
            )
        )
    return present


def _coming_bare(account_id: str, now: datetime, *columns: Any) -> sa.Select[Any]:
    """``columns`` of the bare participants of ``account_id``'s appointments starting at or
    after ``now``."""
    p, a = appointment_participants.c, appointments.c
    return (
        sa.select(*columns)
        .join(appointments, a.id == p.appointment_id)
        .where(
            p.account_id == account_id,
            p.kind == ParticipantKind.EXTERNAL.value,
            a.account_id == account_id,
            a.start_at >= now,
        )
    )


def leave_out_colleagues_in_future(
    conn: sa.Connection, account_id: str, *, domains: Iterable[str], now: datetime
) -> list[str]:
    """Take the colleagues at ``domains``, new colleague domains of the account (R3), out of
    its appointments starting at or after ``now``: a colleague is not a participant (R4).

    A colleague is a contact or bare participant whose address is at one of ``domains`` and
    is not an active user's (R2 comes first); user participants always stay. A colleague who
    organized the appointment leaves its organizer empty, as a sync stores one (R4). Where a
    contact left, the company is chosen again unless it was set by hand (R18). Past
    appointments are history and keep everyone (R14). The changed appointments get
    ``updated_at`` ``now``; returns their ids.
    """
    wanted = sorted(set(domains))
    if not wanted:
        return []
    p, a, ue, u = appointment_participants.c, appointments.c, user_emails.c, users.c
    dialect = conn.dialect.name
    user_addresses = (
        sa.select(ue.email)
        .join(users, sa.and_(u.account_id == ue.account_id, u.id == ue.user_id))
        .where(ue.account_id == account_id, u.active)
    )

    def colleague(email: Any) -> Any:
        return sa.and_(_domain_of(email, dialect).in_(wanted), email.not_in(user_addresses))

    not_users = [ParticipantKind.CONTACT.value, ParticipantKind.EXTERNAL.value]
    leaving = conn.execute(
        sa.select(p.appointment_id, p.kind)
        .join(appointments, a.id == p.appointment_id)
        .where(
            p.account_id == account_id,
            p.kind.in_(not_users),
            colleague(p.email),
            a.account_id == account_id,
            a.start_at >= now,
        )
    ).all()
    organized = conn.execute(
        sa.select(a.id).where(
            a.account_id == account_id,
            a.start_at >= now,
            a.organizer_kind.in_(not_users),
            colleague(a.organizer_email),
        )
    ).scalars()
    ids = sorted({row.appointment_id for row in leaving}.union(organized))
    if not ids:
        return []
    for chunk in chunks(ids, CHUNK):
        conn.execute(
            appointment_participants.delete().where(
                p.account_id == account_id,
                p.appointment_id.in_(chunk),
                p.kind.in_(not_users),
                colleague(p.email),
            )
        )
        conn.execute(
            appointments.update()
            .where(
                a.account_id == account_id,
                a.id.in_(chunk),
                a.organizer_kind.in_(not_users),
                colleague(a.organizer_email),
            )
            .values(organizer_kind=None, organizer_contact_id=None, organizer_email=None)
        )
    choose_companies(
        conn,
        sorted({row.appointment_id for row in leaving if row.kind == ParticipantKind.CONTACT}),
        now,
    )
    for chunk in chunks(ids, CHUNK):
        conn.execute(
            appointments.update()
            .where(a.account_id == account_id, a.id.in_(chunk))
            .values(updated_at=now)
        )
    return ids


def choose_companies(conn: sa.Connection, ids: Sequence[str], now: datetime) -> None:
    """Choose the company of each appointment of ``ids`` again from its participants, as a
    sync does (R18): the first contact's company, unless the company was set by hand. An
    appointment whose company changes gets ``updated_at`` ``now``. Used after the directory
    changes who an appointment's participants are."""
    if not ids:
        return
    p, a = appointment_participants.c, appointments.c
    people: dict[str, list[Participant]] = defaultdict(list)
    for row in conn.execute(
        sa.select(p.appointment_id, p.kind, p.email, p.contact_id, p.company_id)
        .where(p.appointment_id.in_(ids))
        .order_by(p.appointment_id, p.position)
    ):
        people[row.appointment_id].append(
            Participant(
                ParticipantKind(row.kind),
                row.email,
                Response.NEEDS_ACTION,
                contact_id=row.contact_id,
                company_id=row.company_id,
            )
        )
    stored = conn.execute(
        sa.select(a.id, a.company_id, a.company_set_by_hand).where(a.id.in_(ids))
    ).all()
    for appointment in stored:
        company = choose_company(
            people[appointment.id], appointment.company_id, appointment.company_set_by_hand
        )
        if company != appointment.company_id:
            conn.execute(
                appointments.update()
                .where(a.id == appointment.id)
                .values(company_id=company, updated_at=now)
            )


def _domain_of(email: Any, dialect: str) -> Any:
    """The domain of a column of normalised addresses, in SQL, as ``lookup_query`` takes it."""
    if dialect == "postgresql":
        return sa.func.split_part(email, "@", 2)
    if dialect == "sqlite":
        return sa.func.substr(email, sa.func.instr(email, "@") + 1)
    raise ValueError(f"no directory lookup for the {dialect} dialect")
