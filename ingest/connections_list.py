"""``GET /api/v1/connections``: the calling account's calendar connections (R36).

Bearer key of the account, like the rest of ``/api/v1``: only that account's connections
are ever listed. ``status`` and ``provider`` narrow the list; an unknown value is 400.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from flask import Blueprint, Response, current_app, g, jsonify, request

from adapters.sql.connection_list import ConnectionFilter, ListedConnection
from domain.connection_state import ACTIVE, DISCONNECTED, FAILING, NEEDS_RECONNECT
from ingest.auth import require_account
from ingest.connection_ports import PROVIDERS
from ingest.errors import ApiError
from ingest.ports import IngestPorts
from ingest.query_params import bounded_int, store_unavailable

bp = Blueprint("connections_list", __name__, url_prefix="/api/v1")
bp.before_request(require_account)
log = structlog.get_logger("calsync.connections")

#: Shown statuses a list may be narrowed to.
STATUSES = (ACTIVE, FAILING, NEEDS_RECONNECT, DISCONNECTED)
#: Connections per page when the caller does not say, and at most.
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
#: Largest offset into the list.
MAX_OFFSET = 10**9
#: Seconds a client should wait when the store did not answer.


@bp.get("/connections")
def list_connections() -> Response:
    """The account's connections by user id, with status, last sync, last error and lag."""
    where = ConnectionFilter(
        status=_choice("status", STATUSES),
        provider=_choice("provider", PROVIDERS),
        limit=bounded_int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=bounded_int("offset", 0, 0, MAX_OFFSET),
    )
    ports: IngestPorts = current_app.extensions["calsync"]
    if ports.connection_list is None:
        raise ApiError(409, "not_available", "calendar connections are not managed here")
    try:
        listed = ports.connection_list.list(g.account_id, where)
    except sa.exc.OperationalError as error:
        raise store_unavailable(error) from None
    return jsonify([connection_json(c) for c in listed])


def connection_json(connection: ListedConnection) -> dict[str, Any]:
    """One connection as the API and ``calsync connections list --json`` show it."""
    return {
        "user_id": connection.user_id,
        "provider": connection.provider,
        "status": connection.status,
        "connected_at": _instant(connection.connected_at),
        "last_synced_at": _instant(connection.last_synced_at),
        "last_error": connection.last_error,
        "lag_seconds": connection.lag_seconds,
    }


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    # An empty value (``?status=``) asks for no narrowing, like a missing one.
    raw = request.args.get(name) or None
    if raw is not None and raw not in allowed:
        raise ApiError(
            400,
            "invalid_parameter",
            f"'{name}' must be one of {', '.join(allowed)}, got {raw!r}",
        )
    return raw


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
