"""The write-back worker's view of the store: what to write for an appointment, and what was.

``load_write`` gathers, in one transaction, the appointment as the CRM last saved it, what
the calendar was last given (``crm_appointments.written_*``) and the event that already shows
it in the organizer's calendar. ``record_written`` stores a successful write: the event's
link at the version the provider answered (so the notification our write causes is nothing
new to the sync, R25), the video link (R22), the people written (R24) and the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.sql.sync_store import stored_timing, to_link, upsert_links
from adapters.sql.tables import (
    appointment_participants,
    appointment_rooms,
    appointments,
    calendar_connections,
    crm_appointments,
    event_links,
    outbox,
)
from domain.meetings import EventLink
from domain.model import EventVersion, Provider, Timing
from domain.versions import is_newer

#: ``appointments.sync_state`` values the write-back sets.
SYNCED = "synced"
FAILED = "failed"
NOT_CONNECTED = "not_connected"
EVENT_GONE = "event_gone"

#: Longest ``sync_error`` kept.
MAX_ERROR = 2000


@dataclass(frozen=True)
class AppointmentToWrite:
    """An appointment the CRM saved, with what its organizer's calendar was last given.

    Attributes:
        people: participants other than the organizer, normalised, in the CRM's order.
        crm_created_at: when the CRM side was first stored (R27 compares it with the
            connection date).
        fingerprint: the last save's fingerprint; ``written_fingerprint`` the one the
            calendar holds (equal: nothing to write, R25).
        written_attendees: the people we wrote last time (R24).
        written_rooms: the rooms we booked last time, or None if that write predates
            their record (the CRM's rooms are then the event's).
    """

    appointment_id: str
    account_id: str
    organizer_user_id: str
    subject: str
    description: str
    agenda: str
    location: str
    timing: Timing
    time_zone: str
    people: tuple[str, ...]
    rooms: tuple[str, ...]
    video_url: str | None
    crm_created_at: datetime
    deleted: bool
    fingerprint: str | None
    written_fingerprint: str | None
    written_attendees: tuple[str, ...]
    written_rooms: tuple[str, ...] | None


def load_write(
    conn: sa.Connection, account_id: str, appointment_id: str
) -> AppointmentToWrite | None:
    """The appointment ``appointment_id`` of ``account_id`` with its CRM side, or None."""
    a, c = appointments.c, crm_appointments.c
    row = conn.execute(
        sa.select(
            a.id,
            a.account_id,
            a.organizer_user_id,
            a.subject,
            a.description,
            a.agenda,
            a.location,
            a.start_at,
            a.end_at,
            a.all_day,
            a.start_date,
            a.end_date,
            a.time_zone,
            a.video_url,
            c.created_at.label("crm_created_at"),
            c.deleted_at,
            c.fingerprint,
            c.written_fingerprint,
            c.written_attendees,
            c.written_rooms,
        )
        .join(crm_appointments, c.appointment_id == a.id)
        .where(a.id == appointment_id, a.account_id == account_id)
    ).first()
    if row is None or row.organizer_user_id is None:
        return None
    timing = stored_timing(row)
    if timing is None:
        return None
    p = appointment_participants.c
    people = conn.execute(
        sa.select(p.email)
        .where(p.appointment_id == appointment_id, p.email != "")
        .where(sa.or_(p.user_id.is_(None), p.user_id != row.organizer_user_id))
        .order_by(p.position)
    ).scalars()
    rooms = conn.execute(
        sa.select(appointment_rooms.c.email)
        .where(appointment_rooms.c.appointment_id == appointment_id)
        .order_by(appointment_rooms.c.email)
    ).scalars()
    return AppointmentToWrite(
        appointment_id=row.id,
        account_id=row.account_id,
        organizer_user_id=row.organizer_user_id,
        subject=row.subject or "",
        description=row.description or "",
        agenda=row.agenda or "",
        location=row.location or "",
        timing=timing,
        time_zone=row.time_zone or "UTC",
        people=tuple(dict.fromkeys(people)),
        rooms=tuple(rooms),
        video_url=row.video_url,
        crm_created_at=row.crm_created_at,
        deleted=row.deleted_at is not None,
        fingerprint=row.fingerprint,
        written_fingerprint=row.written_fingerprint,
        written_attendees=tuple(row.written_attendees or ()),
        written_rooms=None if row.written_rooms is None else tuple(row.written_rooms),
    )


def organizer_link(
    conn: sa.Connection, appointment_id: str, connection_id: str
) -> EventLink | None:
    """The event that shows the appointment in the organizer's calendar (this connection)."""
    row = (
        conn.execute(
            sa.select(event_links)
            .where(
                event_links.c.appointment_id == appointment_id,
                event_links.c.connection_id == connection_id,
            )
            .order_by(event_links.c.gone, event_links.c.id)
        )
        .mappings()
        .first()
    )
    return to_link(row) if row is not None else None


@dataclass(frozen=True)
class Written:
    """A write the provider accepted, to be stored."""

    appointment_id: str
    account_id: str
    connection_id: str
    provider: Provider
    organizer_user_id: str
    event_id: str
    ical_uid: str | None
    version: EventVersion
    video_url: str | None
    attendees: tuple[str, ...]
    rooms: tuple[str, ...]
    fingerprint: str | None
    calls: int


def record_written(conn: sa.Connection, written: Written, now: datetime) -> None:
    """Store a write: the link (never at an older version than stored), video link, state."""
    stored = (
        conn.execute(
            sa.select(event_links).where(
                event_links.c.connection_id == written.connection_id,
                event_links.c.event_id == written.event_id,
            )
        )
        .mappings()
        .first()
    )
    if stored is None or is_newer(written.version, to_link(stored).version):
        link = EventLink(
            appointment_id=written.appointment_id,
            provider=written.provider,
            calendar_owner_user_id=written.organizer_user_id,
            event_id=written.event_id,
            ical_uid=written.ical_uid,
            instance_start=None,
            version=written.version,
        )
        upsert_links(conn, written.account_id, written.connection_id, [link], now)
    values: dict[str, Any] = {"sync_state": SYNCED, "sync_error": None, "updated_at": now}
    if written.video_url:
        values["video_url"] = written.video_url
    conn.execute(
        appointments.update().where(appointments.c.id == written.appointment_id).values(**values)
    )
    conn.execute(
        crm_appointments.update()
        .where(crm_appointments.c.appointment_id == written.appointment_id)
        .values(
            written_fingerprint=written.fingerprint,
            written_attendees=list(written.attendees),
            written_rooms=list(written.rooms),
            written_at=now,
            write_calls=crm_appointments.c.write_calls + written.calls,
            updated_at=now,
        )
    )


def set_state(
    conn: sa.Connection, appointment_id: str, state: str, error: str | None, now: datetime
) -> None:
    """Show why the calendar does not hold the appointment (``sync.state``, ``sync.error``)."""
    conn.execute(
        appointments.update()
        .where(appointments.c.id == appointment_id)
        .values(
            sync_state=state,
            sync_error=error[:MAX_ERROR] if error else None,
            updated_at=now,
        )
    )


def waiting_for_connection(
    conn: sa.Connection, now: datetime, limit: int = 500
) -> list[tuple[str, str, str | None]]:
    """Appointments still to come whose write waits for the organizer to connect a calendar:
    ``(account id, appointment id, fingerprint)``, for the organizers who now have one."""
    a, c, k = appointments.c, crm_appointments.c, calendar_connections.c
    rows = conn.execute(
        sa.select(a.account_id, a.id, c.fingerprint)
        .join(crm_appointments, c.appointment_id == a.id)
        .join(
            calendar_connections,
            sa.and_(k.account_id == a.account_id, k.user_id == a.organizer_user_id),
        )
        .where(
            a.sync_state == NOT_CONNECTED,
            k.status == "active",
            c.deleted_at.is_(None),
            a.end_at >= now,
        )
        .order_by(a.start_at)
        .limit(limit)
    )
    return [(row.account_id, row.id, row.fingerprint) for row in rows]


def ordering_key(appointment_id: str) -> str:
    """The outbox ordering key of an appointment's write requests: published in order."""
    return f"appointment:{appointment_id}"


@dataclass(frozen=True)
class StoredRequest:
    """The latest write request of an appointment, as its outbox row holds it."""

    body: str
    routing_key: str
    ordering_key: str | None


def latest_request(conn: sa.Connection, appointment_id: str) -> StoredRequest | None:
    """The appointment's latest write request in the outbox (published or not)."""
    row = conn.execute(
        sa.select(outbox.c.body, outbox.c.routing_key, outbox.c.ordering_key)
        .where(outbox.c.ordering_key == ordering_key(appointment_id))
        .order_by(outbox.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return StoredRequest(row.body, row.routing_key, row.ordering_key)
