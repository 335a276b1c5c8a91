"""The ``crm`` queue: appointment and directory saves and deletions from the CRM.

Each event's effects, its write request in the ``outbox`` and its inbox record are committed
in one transaction, so a redelivered event does nothing twice and a committed save always
has its write request (RELIABILITY.md §5.2, §5.3); ``workers.outbox_relay`` publishes it.

- ``appointment.saved``: the organizer must be an active user of the account and the times
  must make sense; an appointment that has ended cannot be moved (R14). Participants are
  resolved as the sync resolves them: users by any alias (R2), contacts with their company
  (R5, R18), bare addresses kept, colleagues left out (R4). A save that would send the
  calendar exactly what it was last asked to write requests nothing (R25).
- ``appointment.deleted``: the CRM side is marked deleted; the calendar event stays (R13).
- ``user|contact|company.saved|deleted``: the directory, one record at a time, as
  ``calsync directory load`` writes it. A user or contact that gains an address takes over
  the bare participants with that address in appointments still to come (R2, R5, R18). A
  user whose address is at a domain new to the account makes it a colleague domain: its
  addresses that are not users leave the appointments still to come (R3, R4, R14).

A save the domain refuses is a permanent failure: the message is dead-lettered with the
reason, and an appointment that exists shows it (``sync.state`` ``refused``, ``sync.error``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
import structlog

from adapters.broker import topology
from adapters.broker.envelope import Envelope, MessageType, message_id_for
from adapters.directory_file import CompanyEntry, ContactEntry, UserEntry
from adapters.sql import crm_store, writeback_store
from adapters.sql.appointments import AppointmentRecord, ParticipantRow, RoomRow, save_appointment
from adapters.sql.coming_appointments import (
    leave_out_colleagues_in_future,
    link_contact_in_future,
    link_user_in_future,
)
from adapters.sql.crm_store import CrmSide, OutboxMessage
from adapters.sql.directory import colleague_domains
from domain.clock import Clock, system_clock
from domain.company import choose_company
from domain.crm_save import (
    SaveRefused,
    check_crm_save,
    crm_timing,
    merge_participants,
    save_fingerprint,
)
from domain.emails import email_domain, normalise_email
from domain.model import Attendee, Participant, ParticipantKind, Response, Room
from domain.participants import Resolver
from domain.timing import AllDay, Timing, utc_range
from workers.base import MessageContext
from workers.errors import Permanent
from workers.inbox import claim_message

log = structlog.get_logger("calsync.crm")

#: The inbox consumer name of this worker.
CONSUMER = "crm"
#: ``sync_state`` of an appointment whose calendar write is requested, or was refused.
PENDING = "pending"
REFUSED = "refused"


class _Refused(Exception):
    def __init__(self, refused: SaveRefused) -> None:
        super().__init__(refused.reason)
        self.refused = refused


class CrmHandler:
    """Handler (see ``workers.base``) of the ``crm`` queue."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        clock: Clock = system_clock,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._new_id = new_id

    def handle(self, envelope: Envelope, context: MessageContext) -> None:
        event = envelope.payload
        kind, data, account_id = event.get("type"), event.get("data"), event.get("account_id")
        if envelope.type != MessageType.CRM_EVENT or not isinstance(data, dict):
            raise Permanent(f"not a CRM event: {envelope.type}")
        if not isinstance(account_id, str) or not account_id or not isinstance(kind, str):
            raise Permanent("the CRM event names no account or type")
        occurred_at = _instant(event.get("occurred_at")) or envelope.received_at
        with structlog.contextvars.bound_contextvars(crm_event=kind, crm_id=data.get("id")):
            if kind == "appointment.saved":
                self._appointment_saved(envelope, account_id, data, occurred_at)
                return
            if kind not in _DIRECTORY_EVENTS and kind != "appointment.deleted":
                raise Permanent(f"unknown CRM event type {kind!r}")
            with self._engine.begin() as conn:
                now = self._clock()
                if not claim_message(conn, CONSUMER, envelope.id, now):
                    log.info("CRM event seen before; ignored")
                    return
                if kind == "appointment.deleted":
                    _appointment_deleted(conn, account_id, data, occurred_at, now)
                else:
                    _DIRECTORY_EVENTS[kind](conn, account_id, data, now)

    # -- appointment.saved ------------------------------------------------------------------

    def _appointment_saved(
        self, envelope: Envelope, account_id: str, data: Mapping[str, Any], occurred_at: datetime
    ) -> None:
        existing: CrmSide | None = None
        try:
            with self._engine.begin() as conn:
                if not claim_message(conn, CONSUMER, envelope.id, self._clock()):
                    log.info("CRM event seen before; ignored")
                    return
                existing = crm_store.find_crm_appointment(conn, account_id, data["id"])
                self._apply_save(
                    conn,
                    envelope,
                    data,
                    account_id=account_id,
                    occurred_at=occurred_at,
                    existing=existing,
                )
        except _Refused as refused:
            reason = refused.refused.reason
            if existing is not None:
                with self._engine.begin() as conn:
                    crm_store.set_sync_state(
                        conn, existing.appointment_id, REFUSED, reason, self._clock()
                    )
            rule = f" ({refused.refused.rule})" if refused.refused.rule else ""
            raise Permanent(f"appointment {data['id']} refused{rule}: {reason}") from None

    def _apply_save(
        self,
        conn: sa.Connection,
        envelope: Envelope,
        data: Mapping[str, Any],
        *,
        account_id: str,
        occurred_at: datetime,
        existing: CrmSide | None,
    ) -> None:
        now = self._clock()
        if existing is not None and existing.deleted_at is not None:
            log.info("save of an appointment deleted in the CRM ignored")
            return
        if existing is not None and existing.occurred_at and occurred_at < existing.occurred_at:
            log.info("older CRM save ignored", stored=existing.occurred_at.isoformat())
            return
        organizer_id = data["organizer_user_id"]
        user_ids = [organizer_id, *data.get("user_ids", [])]
        people = crm_store.users_by_id(conn, account_id, user_ids)
        organizer = people.get(organizer_id)
        if organizer is None or not organizer.active:
            raise _Refused(SaveRefused(f"organizer {organizer_id!r} is not an active user"))
        time_zone = data.get("time_zone") or organizer.time_zone
        timing = crm_timing(
            _instant(data.get("start")),
            _instant(data.get("end")),
            _date(data.get("all_day_date")),
            time_zone,
        )
        if isinstance(timing, SaveRefused):
            raise _Refused(timing)
        if existing is not None and existing.timing is not None:
            refused = check_crm_save(existing.timing, timing, now, existing.time_zone or "UTC")
            if refused is not None:
                raise _Refused(refused)
        participants = self._participants(conn, account_id, organizer_id, organizer.email, data)
        _check_company(conn, account_id, data.get("company_id"))
        rooms = tuple(
            Room(email) for raw in data.get("room_emails", []) if (email := normalise_email(raw))
        )
        invite = bool(data.get("invite", False))
        video = data.get("video")
        fingerprint = save_fingerprint(
            subject=data.get("subject") or "",
            description=data.get("description") or "",
            agenda=data.get("agenda") or "",
            location=data.get("location") or "",
            timing=timing,
            time_zone=time_zone,
            organizer_user_id=organizer_id,
            participants=participants,
            rooms=rooms,
            video=video,
            invite=invite,
        )
        writes = existing is None or existing.fingerprint != fingerprint
        appointment_id = existing.appointment_id if existing else self._new_id()
        state = PENDING if writes or existing is None else existing.sync_state
        if state == REFUSED:
            state = PENDING  # the refused request was replaced by one that is valid
        record = _record(
            appointment_id=appointment_id,
            account_id=account_id,
            data=data,
            timing=timing,
            time_zone=time_zone,
            organizer_id=organizer_id,
            organizer_email=organizer.email,
            participants=participants,
            rooms=rooms,
            existing=existing,
            sync_state=state,
        )
        save_appointment(conn, record, now)
        crm_store.record_crm_side(
            conn,
            appointment_id=appointment_id,
            account_id=account_id,
            crm_id=data["id"],
            occurred_at=occurred_at,
            now=now,
            fingerprint=fingerprint,
        )
        if not writes:
            log.info("CRM save changes nothing the calendar shows; no write (R25)")
            return
        request = Envelope(
            id=message_id_for(envelope.id, "writeback"),
            type=MessageType.WRITEBACK_REQUESTED,
            account_id=account_id,
            trace_id=envelope.trace_id,
            payload={
                "appointment_id": appointment_id,
                "crm_id": data["id"],
                "organizer_user_id": organizer_id,
                "invite": invite,
                "video": video,
                "fingerprint": fingerprint,
                "requested_at": now.isoformat(),
            },
        )
        crm_store.enqueue(
            conn,
            OutboxMessage(
                message_id=request.id,
                account_id=account_id,
                routing_key=topology.WRITEBACK.name,
                ordering_key=writeback_store.ordering_key(appointment_id),
                headers={"trace_id": request.trace_id, "type": request.type},
                body=request.to_json().decode(),
            ),
            now,
        )
        log.info("CRM save stored; calendar write requested", appointment_id=appointment_id)

    def _participants(
        self,
        conn: sa.Connection,
        account_id: str,
        organizer_id: str,
        organizer_email: str,
        data: Mapping[str, Any],
    ) -> tuple[Participant, ...]:
        user_ids = [u for u in data.get("user_ids", []) if u != organizer_id]
        people = crm_store.users_by_id(conn, account_id, user_ids)
        unknown = [u for u in user_ids if u not in people or not people[u].active]
        if unknown:
            raise _Refused(SaveRefused(f"not active users of the account: {', '.join(unknown)}"))
        contact_ids = list(dict.fromkeys(data.get("contact_ids", [])))
        known = crm_store.contacts_by_id(conn, account_id, contact_ids)
        missing = [c for c in contact_ids if c not in known]
        if missing:
            raise _Refused(SaveRefused(f"not contacts of the account: {', '.join(missing)}"))
        organizer = Participant(
            ParticipantKind.USER, organizer_email, Response.ORGANIZER, user_id=organizer_id
        )
        invited_users = [
            Participant(ParticipantKind.USER, people[u].email, Response.NEEDS_ACTION, user_id=u)
            for u in user_ids
        ]
        invited_contacts = []
        for contact_id in contact_ids:
            contact = known[contact_id]
            if not contact.emails:
                log.warning(
                    "contact without an e-mail left off the appointment", contact=contact_id
                )
                continue
            invited_contacts.append(
                Participant(
                    ParticipantKind.CONTACT,
                    contact.emails[0],
                    Response.NEEDS_ACTION,
                    contact_id=contact_id,
                    company_id=contact.company_id,
                )
            )
        emails = [e for raw in data.get("emails", []) if (e := normalise_email(raw))]
        directory = crm_store.directory_in(conn, account_id, emails)
        resolved = Resolver(directory).resolve([Attendee(e) for e in emails], None)
        return merge_participants(
            ([organizer], invited_users, invited_contacts, resolved.participants)
        )


def _record(
    *,
    appointment_id: str,
    account_id: str,
    data: Mapping[str, Any],
    timing: Timing,
    time_zone: str,
    organizer_id: str,
    organizer_email: str,
    participants: tuple[Participant, ...],
    rooms: tuple[Room, ...],
    existing: CrmSide | None,
    sync_state: str,
) -> AppointmentRecord:
    start_at, end_at = utc_range(timing, time_zone)
    company_by_hand = data.get("company_id")
    company = company_by_hand or choose_company(participants, None, set_by_hand=False)
    return AppointmentRecord(
        id=appointment_id,
        account_id=account_id,
        origin=existing.origin if existing else "crm",
        crm_id=data["id"],
        subject=data.get("subject") or "",
        description=data.get("description") or "",
        agenda=data.get("agenda") or "",
        location=data.get("location") or "",
        start_at=start_at,
        end_at=end_at,
        all_day=isinstance(timing, AllDay),
        start_date=timing.start_date if isinstance(timing, AllDay) else None,
        end_date=timing.end_date if isinstance(timing, AllDay) else None,
        time_zone=time_zone,
        organizer_kind=ParticipantKind.USER.value,
        organizer_user_id=organizer_id,
        organizer_email=organizer_email,
        company_id=company,
        company_set_by_hand=company_by_hand is not None,
        appointment_type_id=data.get("appointment_type_id"),
        video_url=existing.video_url if existing else None,
        outcome=data.get("outcome"),
        sync_state=sync_state,
        sync_error=None,
        participants=tuple(
            ParticipantRow(
                kind=p.kind.value,
                email=p.email,
                response=p.response.value,
                user_id=p.user_id,
                contact_id=p.contact_id,
                company_id=p.company_id,
                display_name=p.display_name,
            )
            for p in participants
        ),
        rooms=tuple(RoomRow(email=r.email, name=r.name) for r in rooms),
    )


# -- deletions and the directory ------------------------------------------------------------


def _appointment_deleted(
    conn: sa.Connection,
    account_id: str,
    data: Mapping[str, Any],
    occurred_at: datetime,
    now: datetime,
) -> None:
    existing = crm_store.find_crm_appointment(conn, account_id, data["id"])
    if existing is None:
        log.info("deletion of an appointment never stored ignored")
        return
    crm_store.record_crm_side(
        conn,
        appointment_id=existing.appointment_id,
        account_id=account_id,
        crm_id=data["id"],
        occurred_at=max(occurred_at, existing.occurred_at or occurred_at),
        now=now,
        deleted_at=occurred_at,
    )
    log.info("appointment deleted in the CRM; its calendar event stays (R13)")


def _user_saved(
    conn: sa.Connection, account_id: str, data: Mapping[str, Any], now: datetime
) -> None:
    email = normalise_email(data["email"])
    if email is None:
        raise Permanent(f"user {data['id']}: {data['email']!r} is not an e-mail address")
    aliases = [a for raw in data.get("aliases", []) if (a := normalise_email(raw))]
    user = UserEntry(
        id=data["id"],
        name=data.get("name", ""),
        email=email,
        aliases=tuple(a for a in dict.fromkeys(aliases) if a != email),
        time_zone=data.get("time_zone", "UTC"),
        active=data.get("active", True),
    )
    crm_store.ensure_account(conn, account_id, now)
    domains = {email_domain(e) for e in user.all_emails}
    new_domains = domains - colleague_domains(conn, account_id, among=domains)
    gained = crm_store.save_user(conn, account_id, user, now)
    if gained and user.active:
        linked = link_user_in_future(conn, account_id, user_id=user.id, emails=gained, now=now)
        if linked:
            log.info("user linked to coming appointments", count=len(linked), user=user.id)
    if new_domains:  # R3: colleague domains now; the user's own addresses were linked above
        left_out = leave_out_colleagues_in_future(conn, account_id, domains=new_domains, now=now)
        if left_out:
            log.info(
                "colleagues left out of coming appointments",
                count=len(left_out),
                domains=sorted(new_domains),
                user=user.id,
            )


def _user_deleted(
    conn: sa.Connection, account_id: str, data: Mapping[str, Any], now: datetime
) -> None:
    crm_store.deactivate_user(conn, account_id, data["id"], now)


def _contact_saved(
    conn: sa.Connection, account_id: str, data: Mapping[str, Any], now: datetime
) -> None:
    emails = [e for raw in data.get("emails", []) if (e := normalise_email(raw))]
    contact = ContactEntry(
        id=data["id"],
        name=data.get("name", ""),
        emails=tuple(dict.fromkeys(emails)),
        company_id=data.get("company_id"),
        active=data.get("active", True),
    )
    crm_store.ensure_account(conn, account_id, now)
    gained = crm_store.save_contact(conn, account_id, contact, now)
    if gained and contact.active:
        linked = link_contact_in_future(
            conn,
            account_id,
            contact_id=contact.id,
            company_id=contact.company_id,
            emails=gained,
            now=now,
        )
        if linked:
            log.info("contact linked to coming appointments", count=len(linked), contact=contact.id)


def _contact_deleted(
    conn: sa.Connection, account_id: str, data: Mapping[str, Any], now: datetime
) -> None:
    crm_store.deactivate_contact(conn, account_id, data["id"], now)


def _company_saved(
    conn: sa.Connection, account_id: str, data: Mapping[str, Any], now: datetime
) -> None:
    crm_store.ensure_account(conn, account_id, now)
    crm_store.save_company(conn, account_id, CompanyEntry(data["id"], data.get("name", "")), now)


def _company_deleted(
    conn: sa.Connection, account_id: str, data: Mapping[str, Any], _now: datetime
) -> None:
    crm_store.delete_company(conn, account_id, data["id"])


_DIRECTORY_EVENTS: dict[str, Callable[[sa.Connection, str, Mapping[str, Any], datetime], None]] = {
    "user.saved": _user_saved,
    "user.deleted": _user_deleted,
    "contact.saved": _contact_saved,
    "contact.deleted": _contact_deleted,
    "company.saved": _company_saved,
    "company.deleted": _company_deleted,
}


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise Permanent(f"{value!r} is not an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        raise Permanent(f"{value!r} has no UTC offset")
    return parsed


def _date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Permanent(f"{value!r} is not a date") from None


def _check_company(conn: sa.Connection, account_id: str, company_id: str | None) -> None:
    """Refuse a company chosen by hand that is not the account's own, as for contacts."""
    if company_id is not None and not crm_store.has_company(conn, account_id, company_id):
        raise _Refused(SaveRefused(f"not a company of the account: {company_id}"))
