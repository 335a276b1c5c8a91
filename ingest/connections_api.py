"""``/api/v1/users/{id}/connect`` and ``/connection``: connect links, status and disconnect.

Bearer key of the account, like the rest of ``/api/v1``: another account's user answers 404
exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from flask import Blueprint, Response, current_app, g, jsonify, request

from adapters.sql.connection_status import ConnectionStatus
from ingest.auth import require_account
from ingest.connection_ports import (
    PROVIDERS,
    CalendarConnections,
    ConnectionFailure,
    failure_status,
)
from ingest.errors import ApiError
from ingest.identifiers import is_id_text
from ingest.json_body import decode_json_object, refuse_oversized_body, require_json_content_type
from ingest.query_params import store_unavailable

bp = Blueprint("connections_api", __name__, url_prefix="/api/v1")
bp.before_request(require_account)
log = structlog.get_logger("calsync.connections")

#: Where ``create_app`` puts the connections port in ``app.extensions``.
EXTENSION = "calsync.connections"
#: Longest appointment type id accepted (the store's id length).
MAX_ID = 64
#: Seconds a client should wait when the store did not answer.

T = TypeVar("T")


@bp.post("/users/<user_id>/connect")
def connect_link(user_id: str) -> tuple[Response, int]:
    """A single-use link (10 minutes) that starts the user's browser connect."""
    refuse_oversized_body()
    require_json_content_type()
    body = decode_json_object(request.get_data(cache=True))
    provider, appointment_type_id = _connect_request(body)
    link = _call(lambda port: port.link(g.account_id, user_id, provider, appointment_type_id))
    answer = {
        "authorization_url": link.authorization_url,
        "expires_at": link.expires_at.isoformat(),
        "provider": link.provider,
        "user_id": link.user_id,
    }
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@bp.get("/users/<user_id>/connection")
def connection_status(user_id: str) -> Response:
    """The user's calendar connection: provider, status, dates, last error."""
    return jsonify(status_json(_call(lambda port: port.status(g.account_id, user_id))))


@bp.delete("/users/<user_id>/connection")
def disconnect(user_id: str) -> Response:
    """Disconnect the user's calendar: channel stopped, grant forgotten, appointments kept."""
    return jsonify(status_json(_call(lambda port: port.disconnect(g.account_id, user_id))))


def status_json(status: ConnectionStatus) -> dict[str, Any]:
    return {
        "user_id": status.user_id,
        "provider": status.provider,
        "status": status.status,
        "connected_at": _instant(status.connected_at),
        "last_synced_at": _instant(status.last_synced_at),
        "last_error": status.last_error,
        "appointment_type_id": status.appointment_type_id,
        "channel_expires_at": _instant(status.channel_expires_at),
    }


def _connect_request(body: dict[str, Any]) -> tuple[str, str | None]:
    unknown = sorted(set(body) - {"provider", "appointment_type_id"})
    if unknown:
        raise ApiError(400, "invalid_body", f"unknown field {unknown[0]!r}")
    provider = body.get("provider")
    if provider not in PROVIDERS:
        raise ApiError(400, "invalid_body", "'provider' must be 'google' or 'microsoft'")
    appointment_type_id = body.get("appointment_type_id")
    if appointment_type_id is not None and not (
        isinstance(appointment_type_id, str)
        and 0 < len(appointment_type_id) <= MAX_ID
        and is_id_text(appointment_type_id)
    ):
        raise ApiError(
            400,
            "invalid_body",
            f"'appointment_type_id' must be null or an id of 1 to {MAX_ID} characters, "
            "no control characters",
        )
    return str(provider), appointment_type_id


def _call(step: Callable[[CalendarConnections], T]) -> T:
    """Run one port call; its failures become JSON errors."""
    port: CalendarConnections | None = current_app.extensions.get(EXTENSION)
    if port is None:
        raise ApiError(409, "not_available", "calendar connections are not managed here")
    user_id = request.view_args.get("user_id", "") if request.view_args else ""
    if not user_id.isprintable():
        raise ApiError(404, "not_found", "no such user")
    try:
        result = step(port)
    except ConnectionFailure as failure:
        raise ApiError(failure_status(failure.code), failure.code, failure.message) from None
    except sa.exc.OperationalError as error:
        raise store_unavailable(error) from None
    return result


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
