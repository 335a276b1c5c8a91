"""The appointment JSON of the public contract (CONTRACT.md, "Appointment JSON")."""

from __future__ import annotations

from typing import Any

from adapters.sql.appointments import AppointmentRecord, ParticipantRow


def appointment_json(record: AppointmentRecord) -> dict[str, Any]:
    if record.all_day:
        start: str | None = record.start_date.isoformat() if record.start_date else None
        end: str | None = record.end_date.isoformat() if record.end_date else None
    else:
        start = record.start_at.isoformat() if record.start_at else None
        end = record.end_at.isoformat() if record.end_at else None
    return {
        "id": record.id,
        "crm_id": record.crm_id,
        "subject": record.subject,
        "description": record.description,
        "agenda": record.agenda,
        "location": record.location,
        "start": start,
        "end": end,
        "all_day": record.all_day,
        "time_zone": record.time_zone,
        "organizer": _organizer(record),
        "participants": [_participant(p) for p in record.participants],
        "rooms": [{"email": r.email, "name": r.name} for r in record.rooms],
        "company_id": record.company_id,
        "appointment_type_id": record.appointment_type_id,
        "video_url": record.video_url,
        "outcome": record.outcome,
        "links": [
            {
                "provider": link.provider,
                "user_id": link.user_id,
                "event_id": link.event_id,
                "ical_uid": link.ical_uid,
                "gone": link.gone,
            }
            for link in record.links
        ],
        "sync": {"state": record.sync_state, "error": record.sync_error},
    }


def _organizer(record: AppointmentRecord) -> dict[str, Any] | None:
    if record.organizer_kind is None:
        return None
    organizer: dict[str, Any] = {"kind": record.organizer_kind, "email": record.organizer_email}
    if record.organizer_user_id:
        organizer["user_id"] = record.organizer_user_id
    if record.organizer_contact_id:
        organizer["contact_id"] = record.organizer_contact_id
    return organizer


def _participant(p: ParticipantRow) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": p.kind}
    if p.kind == "user":
        item["user_id"] = p.user_id
    elif p.kind == "contact":
        item["contact_id"] = p.contact_id
        item["company_id"] = p.company_id
    item["email"] = p.email
    item["response"] = p.response
    return item
