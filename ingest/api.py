"""Read API ``/api/v1``: the user's calendar, appointment lists, timelines and customer cards."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, current_app, g, jsonify, request

from adapters.sql.appointments import MAX_PAGE, AppointmentFilter
from ingest.appointment_json import appointment_json
from ingest.auth import require_account
from ingest.errors import ApiError
from ingest.ports import IngestPorts

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
bp.before_request(require_account)

#: Appointments per page when the caller does not say.
DEFAULT_LIMIT = 100


@bp.get("/appointments")
def list_appointments() -> Response:
    """Appointments overlapping ``from``..``to``, narrowed by user, contact or company."""
    where = AppointmentFilter(
        user_id=_identifier("user"),
        contact_id=_identifier("contact"),
        company_id=_identifier("company"),
        start=_instant("from"),
        end=_instant("to"),
        limit=_bounded_int("limit", DEFAULT_LIMIT, 1, MAX_PAGE),
        offset=_bounded_int("offset", 0, 0, 10**9),
    )
    if where.start and where.end and where.end <= where.start:
        raise ApiError(400, "invalid_parameter", "'to' must be later than 'from'")
    ports: IngestPorts = current_app.extensions["calsync"]
    return jsonify([appointment_json(a) for a in ports.appointments.list(g.account_id, where)])


@bp.get("/appointments/<appointment_id>")
def get_appointment(appointment_id: str) -> Response:
    ports: IngestPorts = current_app.extensions["calsync"]
    record = (
        ports.appointments.get(g.account_id, appointment_id) if _is_id(appointment_id) else None
    )
    if record is None:
        # 404, not 403: another account's appointment must be indistinguishable from none.
        raise ApiError(404, "not_found", f"no appointment {appointment_id!r}")
    return jsonify(appointment_json(record))


def _identifier(name: str) -> str | None:
    raw = request.args.get(name)
    if raw is not None and not _is_id(raw):
        raise ApiError(400, "invalid_parameter", f"'{name}' holds characters no id has")
    return raw


def _is_id(value: str) -> bool:
    # Control characters (NUL above all, which PostgreSQL refuses outright) are in no id.
    return value.isprintable()


def _instant(name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ApiError(
            400, "invalid_parameter", f"'{name}' must be an RFC 3339 date-time, got {raw!r}"
        ) from None
    if value.tzinfo is None:
        raise ApiError(400, "invalid_parameter", f"'{name}' needs a UTC offset, got {raw!r}")
    return value


def _bounded_int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(
            400,
            "invalid_parameter",
            f"'{name}' must be a whole number from {low} to {high}, got {raw!r}",
        )
    return int(raw)
