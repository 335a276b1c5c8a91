"""What a change of the directory does to the appointments still to come (R3, R4, R14, R18).

Appointments that have started are history and keep everyone (R14); those to come follow
the directory: colleagues at a new colleague domain leave them, and their company is chosen
again from the participants that remain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.sql.tables import appointment_participants, appointments, user_emails, users
from adapters.sql.upsert import CHUNK, chunks
from domain.company import choose_company
from domain.model import Participant, ParticipantKind, Response


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
    changes who an appointment's participants are (``adapters.sql.crm_store``)."""
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
