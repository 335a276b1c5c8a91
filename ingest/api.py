"""Read API ``/api/v1``: the user's calendar, appointment lists, timelines and customer cards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, current_app, g, jsonify, request

from adapters.sql.appointments import MAX_PAGE, AppointmentFilter
from ingest.appointment_json import appointment_json
from ingest.auth import require_account
from ingest.calendar_json import availability_json, live_read_errors, room_json
from ingest.calendar_reads import UnknownUser
from ingest.errors import ApiError
from ingest.identifiers import is_id_text
from ingest.ports import IngestPorts
from ingest.query_params import bounded_int

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
bp.before_request(require_account)

#: Appointments per page when the caller does not say.
DEFAULT_LIMIT = 100

#: Largest offset into a list of appointments.
MAX_OFFSET = 10**9

#: Slot lengths an availability request may ask for, in minutes.
MIN_SLOT_MINUTES, MAX_SLOT_MINUTES = 5, 1440
#: Longest period one availability request may cover.
MAX_AVAILABILITY_DAYS = 31
#: Years an availability period may lie in.
MIN_LIVE_YEAR, MAX_LIVE_YEAR = 1970, 2999
#: A whole-number parameter: ASCII digits only (``str.isdigit`` also takes "²" and "٣",
#: which ``int`` refuses or reads), and few enough of them that no bound needs more.


@bp.get("/appointments")
def list_appointments() -> Response:
    """Appointments overlapping ``from``..``to``, narrowed by user, contact or company."""
    where = AppointmentFilter(
        user_id=_identifier("user"),
        contact_id=_identifier("contact"),
        company_id=_identifier("company"),
        start=_instant("from"),
        end=_instant("to"),
        limit=bounded_int("limit", DEFAULT_LIMIT, 1, MAX_PAGE),
        offset=bounded_int("offset", 0, 0, MAX_OFFSET),
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


@bp.get("/users/<user_id>/availability")
def user_availability(user_id: str) -> Response:
    """A user's free slots, live from the provider within working hours (R28); never cached."""
    start, end = _required_instant("from"), _required_instant("to")
    slot = _required_int("slot", MIN_SLOT_MINUTES, MAX_SLOT_MINUTES, "minutes")
    if end <= start:
        raise ApiError(400, "invalid_parameter", "'to' must be later than 'from'")
    if end - start > timedelta(days=MAX_AVAILABILITY_DAYS):
        raise ApiError(
            400,
            "invalid_parameter",
            f"'from' to 'to' may span at most {MAX_AVAILABILITY_DAYS} days",
        )
    ports: IngestPorts = current_app.extensions["calsync"]
    if ports.availability is None:
        raise _no_live_reads()
    with live_read_errors():
        if not _is_id(user_id):
            raise UnknownUser(user_id)
        found = ports.availability.free_slots(
            g.account_id, user_id, start, end, timedelta(minutes=slot)
        )
    response = jsonify(availability_json(found))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/rooms")
def list_rooms() -> Response:
    """The rooms of the account's organisation, live from the provider(s)."""
    ports: IngestPorts = current_app.extensions["calsync"]
    if ports.rooms is None:
        raise _no_live_reads()
    with live_read_errors():
        rooms = ports.rooms.rooms(g.account_id)
    response = jsonify([room_json(room) for room in rooms])
    response.headers["Cache-Control"] = "no-store"
    return response


def _no_live_reads() -> ApiError:
    # An app built without live reads reaches no provider: no calendar of it can answer.
    return ApiError(409, "not_connected", "no calendar provider is reachable from here")


def _required_instant(name: str) -> datetime:
    value = _instant(name)
    if value is None:
        raise ApiError(
            400, "missing_parameter", f"'{name}' is required: an RFC 3339 date-time with offset"
        )
    if not MIN_LIVE_YEAR <= value.year <= MAX_LIVE_YEAR:
        # Also keeps astimezone() away from datetime's limits (year 1 and 9999 overflow).
        raise ApiError(
            400,
            "invalid_parameter",
            f"'{name}' must lie in the years {MIN_LIVE_YEAR} to {MAX_LIVE_YEAR}",
        )
    return value


def _required_int(name: str, low: int, high: int, unit: str) -> int:
    if request.args.get(name) is None:
        raise ApiError(
            400, "missing_parameter", f"'{name}' is required: {unit} from {low} to {high}"
        )
    return bounded_int(name, low, low, high)


def _identifier(name: str) -> str | None:
    raw = request.args.get(name)
    if raw is not None and not _is_id(raw):
        raise ApiError(400, "invalid_parameter", f"'{name}' holds characters no id has")
    return raw


def _is_id(value: str) -> bool:
    return is_id_text(value)


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
    try:
        # The store compares in UTC; year 1 or 9999 with an offset has no UTC instant.
        value.astimezone(UTC)
    except OverflowError:
        raise ApiError(
            400, "invalid_parameter", f"'{name}' lies beyond the years 1 to 9999 in UTC"
        ) from None
    return value
