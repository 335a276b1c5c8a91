"""The OpenAPI operation of ``GET /api/v1/connections`` (R36)."""

from __future__ import annotations

from typing import Any

from ingest.connection_ports import PROVIDERS
from ingest.connections_list import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, STATUSES
from ingest.openapi_schemas import error_responses, json_response

#: What ``lag_seconds`` means, the same words as README's.
LAG_MEANING = (
    "Whole seconds since the oldest sync request not yet done was received (the provider's "
    "notification reached us, a poll or resync was asked for); 0 when none is pending. A "
    "request stays pending while its sync fails and while the connection needs "
    "reconnecting, so lag grows until a sync reads the calendar to the end. Null for a "
    "disconnected connection."
)
_INSTANT: dict[str, Any] = {"type": "string", "format": "date-time"}

LISTED_CONNECTION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "user_id",
        "provider",
        "status",
        "connected_at",
        "last_synced_at",
        "last_error",
        "lag_seconds",
    ],
    "properties": {
        "user_id": {"type": "string"},
        "provider": {"enum": list(PROVIDERS)},
        "status": {
            "enum": list(STATUSES),
            "description": "failing: active, but the last sync failed (last_error says why; "
            "it is retried); needs_reconnect: the provider refused the grant, connect again",
        },
        "connected_at": {**_INSTANT, "description": "start of the synced window (R9)"},
        "last_synced_at": {
            **_INSTANT,
            "type": ["string", "null"],
            "description": "when a sync last read the calendar to the end",
        },
        "last_error": {"type": ["string", "null"]},
        "lag_seconds": {"type": ["integer", "null"], "minimum": 0, "description": LAG_MEANING},
    },
}


def list_connections() -> dict[str, Any]:
    def choice(name: str, values: tuple[str, ...]) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {"enum": ["", *values]},
            "description": "only these; empty or missing: any",
        }

    def number(name: str, low: int, high: int, default: int) -> dict[str, Any]:
        schema = {"type": "integer", "minimum": low, "maximum": high, "default": default}
        return {"name": name, "in": "query", "required": False, "schema": schema}

    return {
        "summary": "The account's calendar connections: status, last sync, last error, lag",
        "description": f"Ordered by user id. lag_seconds: {LAG_MEANING}",
        "operationId": "listConnections",
        "security": [{"accountKey": []}],
        "parameters": [
            choice("status", STATUSES),
            choice("provider", PROVIDERS),
            number("limit", 1, MAX_LIMIT, DEFAULT_LIMIT),
            number("offset", 0, MAX_OFFSET, 0),
        ],
        "responses": {
            "200": json_response("The connections.", {"type": "array", "items": LISTED_CONNECTION}),
            **error_responses(
                "BadRequest", "Unauthorized", "ConnectionsNotAvailable", "StoreUnavailable"
            ),
        },
    }
