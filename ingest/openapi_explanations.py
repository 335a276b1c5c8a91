"""The OpenAPI operation of ``GET /api/v1/users/{user_id}/events/{event_id}/explanation`` (R36)."""

from __future__ import annotations

from typing import Any

from ingest.identifiers import ID_PATTERN
from ingest.openapi_schemas import error_responses, json_response, schema_ref

EXPLANATION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["event_id", "synced", "appointment_id", "rule", "reason", "seen_at"],
    "properties": {
        "event_id": {"type": "string"},
        "synced": {"type": "boolean", "description": "the event is an appointment"},
        "appointment_id": {
            "type": ["string", "null"],
            "description": "the appointment the event is (or was, once cancelled: R13)",
        },
        "rule": {
            "type": ["string", "null"],
            "description": "the rule that kept the event out: R4 only colleagues, R7 no "
            "participants, R9 outside the window, R34 not a meeting (R8, R13 likewise); "
            "null when synced or when no numbered rule applies",
        },
        "reason": {
            "type": "string",
            "description": "one sentence: 'synced, appointment X' or why it was kept out",
        },
        "seen_at": {
            "type": "string",
            "format": "date-time",
            "description": "when the last sync that saw the event wrote this answer",
        },
    },
}


def explain_event() -> dict[str, Any]:
    def path(name: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}

    return {
        "summary": "Whether a calendar event is synced, or which rule kept it out (R36)",
        "description": "As of the last sync that saw the event. 404 for a user the account "
        "lacks and for an event no sync of the user's calendars saw (or one that was "
        f"deleted before it was synced). User ids match {ID_PATTERN}.",
        "operationId": "explainEvent",
        "security": [{"accountKey": []}],
        "parameters": [path("user_id"), path("event_id")],
        "responses": {
            "200": json_response("What became of the event.", EXPLANATION),
            **error_responses("Unauthorized", "NotFound"),
            "409": json_response(
                "Code not_available: this process does not serve explanations.",
                schema_ref("Error"),
            ),
        },
    }
