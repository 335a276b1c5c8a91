"""Reading what a page of provider changes touches, and writing its plans, in batches.

A page of 250 events costs two queries to load and one ``executemany`` per table to write,
whatever it holds; the caller wraps the write, the cursor and the inbox record in one
transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.sql.explanations import record_explanations
from adapters.sql.tables import (
    appointment_participants,
    appointment_rooms,
    appointments,
    calendar_connections,
    crm_appointments,
    event_links,
    users,
)
from adapters.sql.upsert import dialect_insert
from domain.meetings import EventLink
from domain.model import (
    EventVersion,
    Participant,
    ParticipantKind,
    Provider,
    ProviderEvent,
    Response,
)
from domain.sync_plan import (
    AppointmentContent,
    CrmSaved,
    EventPlan,
    PlanKind,
    StoredAppointment,
)
from domain.timing import AllDay, Timed, Timing, utc_range
from domain.versions import version_key

_l = event_links.c
_CONTENT_COLUMNS = (
    "subject",
    "description",
    "location",
    "start_at",
    "end_at",
    "all_day",
    "start_date",
    "end_date",
    "time_zone",
    "organizer_kind",
    "organizer_user_id",
    "organizer_contact_id",
    "organizer_email",
    "company_id",
    "video_url",
    "updated_at",
)


def lock_meetings(conn: sa.Connection, account_id: str, events: Sequence[ProviderEvent]) -> None:
    """Serialise, until the caller's transaction ends, every sync that may touch the page's
    meetings (by iCalUID) in any calendar of the account.

    Two calendars can hold one meeting (R15): without this, two workers syncing them at
    once would each find no link and each create the appointment. PostgreSQL takes one
    advisory lock per iCalUID, in sorted order so two pages never wait on each other in a
    cycle; SQLite needs none, as its page transactions start by writing the lease and so
    run one at a time.
    """
    if conn.dialect.name != "postgresql":
        return
    keys = sorted({f"{account_id}\x1f{e.ical_uid}" for e in events if e.ical_uid})
    if keys:
        conn.execute(
            sa.text(
                "SELECT count(pg_advisory_xact_lock(hashtextextended(key, 0)))"
                " FROM unnest(CAST(:keys AS text[])) AS k(key)"
            ),
            {"keys": keys},
        )


def load_context(
    conn: sa.Connection, account_id: str, connection_id: str, events: Sequence[ProviderEvent]
) -> tuple[list[EventLink], dict[str, StoredAppointment]]:
    """The links carrying the page's event ids (this calendar) or iCalUIDs (any calendar of
    the account), and what is stored of the appointments they point at."""
    ids = sorted({e.event_id for e in events})
    uids = sorted({e.ical_uid for e in events if e.ical_uid})
    condition = sa.and_(_l.connection_id == connection_id, _l.event_id.in_(ids))
    if uids:
        condition = sa.or_(condition, sa.and_(_l.account_id == account_id, _l.ical_uid.in_(uids)))
    rows = conn.execute(sa.select(event_links).where(condition).order_by(_l.id)).mappings().all()
    links = [to_link(row) for row in rows]
    # Events our write-back created name their appointment: load it even without a link
    # yet (R25); ``_stored`` keeps it to this account.
    origins = {e.origin_appointment_id for e in events if e.origin_appointment_id}
    return links, _stored(conn, account_id, {link.appointment_id for link in links} | origins)


def apply_plans(
    conn: sa.Connection,
    account_id: str,
    connection_id: str,
    plans: Sequence[EventPlan],
    appointment_type_id: str | None,
    *,
    now: datetime,
) -> None:
    """Write every plan of a page (in the caller's transaction), stamped ``now``, with the
    reasons of the events it keeps out (R36)."""
    with_content = [p for p in plans if p.content is not None and p.appointment_id]
    if with_content:
        _upsert_appointments(conn, account_id, with_content, appointment_type_id, now)
        _replace_children(conn, account_id, with_content)
    owner_only = [p for p in plans if p.kind is PlanKind.JOIN and p.content is None]
    if owner_only:
        _add_owners(conn, account_id, connection_id, owner_only)
    links = [p.link for p in plans if p.link is not None and p.kind is not PlanKind.SKIP]
    if links:
        upsert_links(conn, account_id, connection_id, links, now)
    record_explanations(conn, connection_id, plans, now)


def _stored(
    conn: sa.Connection, account_id: str, appointment_ids: set[str]
) -> dict[str, StoredAppointment]:
    if not appointment_ids:
        return {}
    ids = sorted(appointment_ids)
    owners: dict[str, dict[str, str]] = defaultdict(dict)
    latest: dict[str, EventVersion] = {}
    query = (
        sa.select(
            _l.appointment_id,
            _l.calendar_owner_user_id,
            _l.gone,
            _l.version_updated,
            _l.version_sequence,
            _l.version_change_key,
            users.c.email,
        )
        .join(
            users,
            sa.and_(users.c.account_id == _l.account_id, users.c.id == _l.calendar_owner_user_id),
        )
        .where(_l.appointment_id.in_(ids))
    )
    for row in conn.execute(query):
        version = EventVersion(row.version_updated, row.version_sequence, row.version_change_key)
        if row.appointment_id not in latest or version_key(version) > version_key(
            latest[row.appointment_id]
        ):
            latest[row.appointment_id] = version
        if not row.gone:
            owners[row.appointment_id][row.calendar_owner_user_id] = row.email
    a = appointments.c
    rows = conn.execute(
        sa.select(
            a.id,
            a.start_at,
            a.end_at,
            a.all_day,
            a.start_date,
            a.end_date,
            a.time_zone,
            a.company_id,
            a.company_set_by_hand,
            a.description,
            a.agenda,
            crm_appointments.c.appointment_id.label("crm_saved"),
        )
        .outerjoin(crm_appointments, crm_appointments.c.appointment_id == a.id)
        .where(a.id.in_(ids), a.account_id == account_id)
    ).all()
    crm_saved = _crm_saved(conn, [row for row in rows if row.crm_saved])
    return {
        row.id: StoredAppointment(
            appointment_id=row.id,
            timing=stored_timing(row),
            time_zone=row.time_zone,
            company_id=row.company_id,
            company_set_by_hand=row.company_set_by_hand,
            owners=owners.get(row.id, {}),
            latest_version=latest.get(row.id),
            crm=crm_saved.get(row.id),
        )
        for row in rows
    }


def _crm_saved(conn: sa.Connection, rows: Sequence[Any]) -> dict[str, CrmSaved]:
    """What the CRM saved of the appointments in ``rows`` (their current participants)."""
    if not rows:
        return {}
    p = appointment_participants.c
    people: dict[str, list[Participant]] = defaultdict(list)
    for person in conn.execute(
        sa.select(appointment_participants)
        .where(p.appointment_id.in_(sorted(row.id for row in rows)))
        .order_by(p.appointment_id, p.position)
    ):
        people[person.appointment_id].append(
            Participant(
                ParticipantKind(person.kind),
                person.email,
                Response(person.response),
                user_id=person.user_id,
                contact_id=person.contact_id,
                company_id=person.company_id,
                display_name=person.display_name,
            )
        )
    return {
        row.id: CrmSaved(row.description or "", row.agenda or "", tuple(people[row.id]))
        for row in rows
    }


def stored_timing(row: Any) -> Timing | None:
    """The timing of an ``appointments`` row (its time columns and ``time_zone``)."""
    if row.all_day and row.start_date and row.end_date:
        return AllDay(row.start_date, row.end_date)
    if row.start_at and row.end_at:
        return Timed(row.start_at, row.end_at, row.time_zone)
    return None


def _upsert_appointments(
    conn: sa.Connection,
    account_id: str,
    plans: Sequence[EventPlan],
    appointment_type_id: str | None,
    now: datetime,
) -> None:
    rows = [
        {
            "id": p.appointment_id,
            "account_id": account_id,
            "origin": "calendar",
            "appointment_type_id": appointment_type_id,
            "created_at": now,
            **_content_columns(p.content, now),
        }
        for p in plans
        if p.content is not None
    ]
    stmt = dialect_insert(conn, appointments)
    stmt = stmt.on_conflict_do_update(
        index_elements=[appointments.c.id],
        set_={name: stmt.excluded[name] for name in _CONTENT_COLUMNS},
    )
    conn.execute(stmt, rows)


def _content_columns(content: AppointmentContent, now: datetime) -> dict[str, Any]:
    timing = content.timing
    start_at, end_at = utc_range(timing, content.time_zone)
    all_day = isinstance(timing, AllDay)
    organizer = content.organizer
    return {
        "subject": content.subject,
        "description": content.description,
        "location": content.location,
        "start_at": start_at,
        "end_at": end_at,
        "all_day": all_day,
        "start_date": timing.start_date if isinstance(timing, AllDay) else None,
        "end_date": timing.end_date if isinstance(timing, AllDay) else None,
        "time_zone": content.time_zone,
        "organizer_kind": organizer.kind.value if organizer else None,
        "organizer_user_id": organizer.user_id if organizer else None,
        "organizer_contact_id": organizer.contact_id if organizer else None,
        "organizer_email": organizer.email if organizer else None,
        "company_id": content.company_id,
        "video_url": content.video_url,
        "updated_at": now,
    }


def _replace_children(conn: sa.Connection, account_id: str, plans: Sequence[EventPlan]) -> None:
    # A new appointment has no children yet; deleting by its id only costs a probe (and on
    # PostgreSQL, a plan that sometimes scans: tests/bench/test_sync_throughput.py).
    ids = [p.appointment_id for p in plans if p.kind is not PlanKind.CREATE]
    if ids:
        conn.execute(
            appointment_participants.delete().where(
                appointment_participants.c.appointment_id.in_(ids)
            )
        )
        conn.execute(appointment_rooms.delete().where(appointment_rooms.c.appointment_id.in_(ids)))
    people = [
        _participant_row(account_id, p.appointment_id, position, person)
        for p in plans
        if p.content is not None and p.appointment_id
        for position, person in enumerate(_unique_by_email(p.content.participants))
    ]
    if people:
        conn.execute(appointment_participants.insert(), people)
    rooms = [
        {"appointment_id": p.appointment_id, "email": room.email, "name": room.name}
        for p in plans
        if p.content is not None
        for room in {r.email: r for r in p.content.rooms}.values()
    ]
    if rooms:
        conn.execute(appointment_rooms.insert(), rooms)


def _unique_by_email(participants: Iterable[Participant]) -> list[Participant]:
    # The store keys participants by address; resolution already merged aliases of a user.
    return list({p.email: p for p in reversed(list(participants))}.values())[::-1]


def _participant_row(
    account_id: str, appointment_id: str | None, position: int, person: Participant
) -> dict[str, Any]:
    return {
        "appointment_id": appointment_id,
        "account_id": account_id,
        "position": position,
        "email": person.email,
        "kind": person.kind.value,
        "response": person.response.value,
        "user_id": person.user_id,
        "contact_id": person.contact_id,
        "company_id": person.company_id,
        "display_name": person.display_name,
    }


def _add_owners(
    conn: sa.Connection, account_id: str, connection_id: str, plans: Sequence[EventPlan]
) -> None:
    """A JOIN older than the stored content only adds the calendar's owner (R15)."""
    owner = conn.execute(
        sa.select(users.c.id, users.c.email)
        .join(
            calendar_connections,
            sa.and_(
                calendar_connections.c.account_id == users.c.account_id,
                calendar_connections.c.user_id == users.c.id,
            ),
        )
        .where(calendar_connections.c.id == connection_id)
    ).one()
    ids = [p.appointment_id for p in plans if p.appointment_id]
    counts = {
        row.appointment_id: int(row.participants)
        for row in conn.execute(
            sa.select(
                appointment_participants.c.appointment_id, sa.func.count().label("participants")
            )
            .where(appointment_participants.c.appointment_id.in_(ids))
            .group_by(appointment_participants.c.appointment_id)
        )
    }
    stmt = dialect_insert(conn, appointment_participants).on_conflict_do_nothing()
    conn.execute(
        stmt,
        [
            {
                "appointment_id": appointment_id,
                "account_id": account_id,
                "position": counts.get(appointment_id, 0),
                "email": owner.email,
                "kind": "user",
                "response": "needs_action",
                "user_id": owner.id,
                "contact_id": None,
                "company_id": None,
                "display_name": None,
            }
            for appointment_id in dict.fromkeys(ids)
        ],
    )


def upsert_links(
    conn: sa.Connection,
    account_id: str,
    connection_id: str,
    links: Sequence[EventLink],
    now: datetime,
) -> None:
    """Insert the links, or overwrite those of the same calendar and event id."""
    rows = [
        {
            "account_id": account_id,
            "connection_id": connection_id,
            "appointment_id": link.appointment_id,
            "provider": link.provider.value,
            "calendar_owner_user_id": link.calendar_owner_user_id,
            "event_id": link.event_id,
            "ical_uid": link.ical_uid,
            "instance_start": link.instance_start,
            "version_updated": link.version.updated,
            "version_sequence": link.version.sequence,
            "version_change_key": link.version.change_key[:255],
            "gone": link.gone,
            "created_at": now,
            "updated_at": now,
        }
        for link in links
    ]
    stmt = dialect_insert(conn, event_links)
    updated = (
        "appointment_id",
        "ical_uid",
        "instance_start",
        "version_updated",
        "version_sequence",
        "version_change_key",
        "gone",
        "updated_at",
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[_l.connection_id, _l.event_id],
        set_={name: stmt.excluded[name] for name in updated},
    )
    conn.execute(stmt, rows)


def to_link(row: Any) -> EventLink:
    return EventLink(
        appointment_id=row["appointment_id"],
        provider=Provider(row["provider"]),
        calendar_owner_user_id=row["calendar_owner_user_id"],
        event_id=row["event_id"],
        ical_uid=row["ical_uid"],
        instance_start=row["instance_start"],
        version=EventVersion(
            row["version_updated"], row["version_sequence"], row["version_change_key"]
        ),
        gone=row["gone"],
    )
