"""Appointments as the CRM shows them: one row, its participants, rooms and provider links."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from adapters.sql.tables import (
    appointment_participants,
    appointment_rooms,
    appointments,
    event_links,
)
from domain.clock import Clock, system_clock

#: Most appointments one list request returns.
MAX_PAGE = 1000


@dataclass(frozen=True)
class ParticipantRow:
    kind: str
    email: str
    response: str
    user_id: str | None = None
    contact_id: str | None = None
    company_id: str | None = None
    display_name: str | None = None


@dataclass(frozen=True)
class RoomRow:
    email: str
    name: str | None = None


@dataclass(frozen=True)
class LinkRow:
    provider: str
    user_id: str
    event_id: str
    ical_uid: str | None
    gone: bool


@dataclass(frozen=True)
class AppointmentRecord:
    """The whole CRM-side state of one appointment."""

    id: str
    account_id: str
    origin: str
    subject: str = ""
    description: str = ""
    agenda: str = ""
    location: str = ""
    start_at: datetime | None = None
    end_at: datetime | None = None
    all_day: bool = False
    start_date: date | None = None
    end_date: date | None = None
    time_zone: str | None = None
    organizer_kind: str | None = None
    organizer_user_id: str | None = None
    organizer_contact_id: str | None = None
    organizer_email: str | None = None
    company_id: str | None = None
    company_set_by_hand: bool = False
    appointment_type_id: str | None = None
    video_url: str | None = None
    outcome: str | None = None
    crm_id: str | None = None
    sync_state: str = "synced"
    sync_error: str | None = None
    participants: tuple[ParticipantRow, ...] = ()
    rooms: tuple[RoomRow, ...] = ()
    links: tuple[LinkRow, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class AppointmentFilter:
    user_id: str | None = None
    contact_id: str | None = None
    company_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 100
    offset: int = 0


_ROW_COLUMNS = [c.name for c in appointments.columns if c.name not in {"created_at", "updated_at"}]


class SqlAppointments:
    """Read appointments of one account; save an appointment's whole state."""

    def __init__(self, engine: sa.Engine, clock: Clock = system_clock) -> None:
        self._engine = engine
        self._clock = clock

    def get(self, account_id: str, appointment_id: str) -> AppointmentRecord | None:
        """The appointment, or None when it does not exist *in this account*."""
        query = sa.select(appointments).where(
            appointments.c.account_id == account_id, appointments.c.id == appointment_id
        )
        with self._engine.connect() as conn:
            found = _load(conn, conn.execute(query).mappings().all())
        return found[0] if found else None

    def list(self, account_id: str, where: AppointmentFilter) -> list[AppointmentRecord]:
        """Appointments of ``account_id`` matching ``where``, by start time."""
        query = sa.select(appointments).where(appointments.c.account_id == account_id)
        query = _apply_filter(query, account_id, where)
        query = query.order_by(appointments.c.start_at, appointments.c.id)
        query = query.limit(min(where.limit, MAX_PAGE)).offset(where.offset)
        with self._engine.connect() as conn:
            return _load(conn, conn.execute(query).mappings().all())

    def save(self, record: AppointmentRecord) -> None:
        with self._engine.begin() as conn:
            save_appointment(conn, record, self._clock())


def save_appointment(conn: sa.Connection, record: AppointmentRecord, now: datetime) -> None:
    """Insert or replace the appointment row with its participants and rooms, stamped ``now``."""
    values = {name: getattr(record, name) for name in _ROW_COLUMNS}
    updated = conn.execute(
        appointments.update().where(appointments.c.id == record.id).values(**values, updated_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(appointments.insert().values(**values, created_at=now, updated_at=now))
    conn.execute(
        appointment_participants.delete().where(
            appointment_participants.c.appointment_id == record.id
        )
    )
    conn.execute(appointment_rooms.delete().where(appointment_rooms.c.appointment_id == record.id))
    if record.participants:
        conn.execute(
            appointment_participants.insert(),
            [
                {
                    "appointment_id": record.id,
                    "account_id": record.account_id,
                    "position": i,
                    **vars(p),
                }
                for i, p in enumerate(record.participants)
            ],
        )
    if record.rooms:
        conn.execute(
            appointment_rooms.insert(),
            [{"appointment_id": record.id, "email": r.email, "name": r.name} for r in record.rooms],
        )


def _apply_filter(query: sa.Select[Any], account_id: str, where: AppointmentFilter) -> Any:
    p = appointment_participants.c

    def having_participant(*conditions: Any) -> Any:
        return sa.exists().where(
            p.appointment_id == appointments.c.id, p.account_id == account_id, *conditions
        )

    if where.user_id is not None:
        query = query.where(having_participant(p.user_id == where.user_id))
    if where.contact_id is not None:
        query = query.where(having_participant(p.contact_id == where.contact_id))
    if where.company_id is not None:
        query = query.where(
            sa.or_(
                appointments.c.company_id == where.company_id,
                having_participant(p.company_id == where.company_id),
            )
        )
    if where.start is not None:
        query = query.where(appointments.c.end_at > where.start)
    if where.end is not None:
        query = query.where(appointments.c.start_at < where.end)
    return query


def _load(conn: sa.Connection, rows: Sequence[Any]) -> list[AppointmentRecord]:
    """Attach children to ``rows`` with one query per child table, whatever the page size."""
    ids = [row["id"] for row in rows]
    if not ids:
        return []
    people: dict[str, list[ParticipantRow]] = defaultdict(list)
    for r in conn.execute(
        sa.select(appointment_participants)
        .where(appointment_participants.c.appointment_id.in_(ids))
        .order_by(appointment_participants.c.position)
    ).mappings():
        people[r["appointment_id"]].append(
            ParticipantRow(
                kind=r["kind"],
                email=r["email"],
                response=r["response"],
                user_id=r["user_id"],
                contact_id=r["contact_id"],
                company_id=r["company_id"],
                display_name=r["display_name"],
            )
        )
    rooms: dict[str, list[RoomRow]] = defaultdict(list)
    for r in conn.execute(
        sa.select(appointment_rooms)
        .where(appointment_rooms.c.appointment_id.in_(ids))
        .order_by(appointment_rooms.c.email)
    ).mappings():
        rooms[r["appointment_id"]].append(RoomRow(email=r["email"], name=r["name"]))
    links: dict[str, list[LinkRow]] = defaultdict(list)
    for r in conn.execute(
        sa.select(event_links)
        .where(event_links.c.appointment_id.in_(ids))
        .order_by(event_links.c.id)
    ).mappings():
        links[r["appointment_id"]].append(
            LinkRow(
                provider=r["provider"],
                user_id=r["calendar_owner_user_id"],
                event_id=r["event_id"],
                ical_uid=r["ical_uid"],
                gone=r["gone"],
            )
        )
    return [
        AppointmentRecord(
            **{name: row[name] for name in _ROW_COLUMNS},
            participants=tuple(people[row["id"]]),
            rooms=tuple(rooms[row["id"]]),
            links=tuple(links[row["id"]]),
        )
        for row in rows
    ]
