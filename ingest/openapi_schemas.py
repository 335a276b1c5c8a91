"""Reusable pieces of the OpenAPI document: response bodies and error responses."""

from __future__ import annotations

from typing import Any

from ingest import crm_schema
from ingest.identifiers import ID_PATTERN
from ingest.publishing import RETRY_AFTER_SECONDS

_STRING: dict[str, Any] = {"type": "string"}
_OPTIONAL_STRING: dict[str, Any] = {"type": ["string", "null"]}
_RESPONSES = ["needs_action", "accepted", "tentative", "declined", "organizer"]


def _object(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """A closed object whose properties are all required unless named in ``optional``."""
    return {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
        "properties": properties,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


PARTICIPANT = {
    "oneOf": [
        _object(
            {
                "kind": {"const": "user"},
                "user_id": _STRING,
                "email": _STRING,
                "response": {"enum": _RESPONSES},
            }
        ),
        _object(
            {
                "kind": {"const": "contact"},
                "contact_id": _STRING,
                "company_id": _OPTIONAL_STRING,
                "email": _STRING,
                "response": {"enum": _RESPONSES},
            }
        ),
        _object(
            {"kind": {"const": "external"}, "email": _STRING, "response": {"enum": _RESPONSES}}
        ),
    ]
}

ORGANIZER = {
    "oneOf": [
        {"type": "null"},
        _object(
            {
                "kind": {"enum": ["user", "contact", "external"]},
                "email": _OPTIONAL_STRING,
                "user_id": _STRING,
                "contact_id": _STRING,
            },
            optional=("user_id", "contact_id"),
        ),
    ]
}

APPOINTMENT = _object(
    {
        "id": _STRING,
        "crm_id": {**_OPTIONAL_STRING, "description": "the CRM's id, for appointments it saved"},
        "subject": _STRING,
        "description": _STRING,
        "agenda": _STRING,
        "location": _STRING,
        "start": {**_OPTIONAL_STRING, "description": "date-time, or a date when all_day"},
        "end": {**_OPTIONAL_STRING, "description": "date-time, or a date (exclusive) when all_day"},
        "all_day": {"type": "boolean"},
        "time_zone": _OPTIONAL_STRING,
        "organizer": _ref("Organizer"),
        "participants": {"type": "array", "items": _ref("Participant")},
        "rooms": {
            "type": "array",
            "items": _object({"email": _STRING, "name": _OPTIONAL_STRING}),
        },
        "company_id": _OPTIONAL_STRING,
        "appointment_type_id": _OPTIONAL_STRING,
        "video_url": _OPTIONAL_STRING,
        "outcome": _OPTIONAL_STRING,
        "links": {
            "type": "array",
            "items": _object(
                {
                    "provider": {"enum": ["google", "microsoft"]},
                    "user_id": _STRING,
                    "event_id": _STRING,
                    "ical_uid": _OPTIONAL_STRING,
                    "gone": {"type": "boolean"},
                }
            ),
        },
        "sync": _object({"state": _STRING, "error": _OPTIONAL_STRING}),
    }
)

_INSTANT: dict[str, Any] = {"type": "string", "format": "date-time"}

AVAILABILITY = _object(
    {
        "user_id": _STRING,
        "provider": {"enum": ["google", "microsoft"]},
        "from": _INSTANT,
        "to": _INSTANT,
        "slot_minutes": {"type": "integer"},
        "time_zone": {**_STRING, "description": "the user's IANA zone"},
        "working_hours": _object(
            {
                "days": {
                    "type": "array",
                    "items": {
                        "enum": [
                            "monday",
                            "tuesday",
                            "wednesday",
                            "thursday",
                            "friday",
                            "saturday",
                            "sunday",
                        ]
                    },
                },
                "start": {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}$"},
                "end": {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}$"},
            }
        ),
        "checked_at": {**_INSTANT, "description": "when the provider was asked"},
        "slots": {
            "type": "array",
            "items": _object(
                {
                    "start": {**_INSTANT, "description": "UTC"},
                    "end": {**_INSTANT, "description": "UTC"},
                    "local_start": {**_INSTANT, "description": "in the user's zone"},
                    "local_end": {**_INSTANT, "description": "in the user's zone"},
                }
            ),
        },
    }
)

ROOM = _object(
    {
        "email": {**_STRING, "description": "invite the room with this address"},
        "name": _STRING,
        "capacity": {"type": ["integer", "null"]},
        "building": {**_OPTIONAL_STRING, "description": "Graph: building name; Google: id"},
        "floor": _OPTIONAL_STRING,
        "provider": {"enum": ["google", "microsoft"]},
    }
)

_GRAPH_ITEM_COMMON: dict[str, Any] = {
    "subscriptionId": {**_STRING, "description": "must name a live subscription of ours"},
    "clientState": {
        **_STRING,
        "description": "the subscription's secret; items that differ are dropped",
    },
    "subscriptionExpirationDateTime": _STRING,
    "tenantId": _STRING,
}

_PROVIDER: dict[str, Any] = {"enum": ["google", "microsoft"]}
_OPTIONAL_INSTANT: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}

CONNECT_REQUEST = _object(
    {
        "provider": _PROVIDER,
        "appointment_type_id": {
            "type": ["string", "null"],
            "minLength": 1,
            "maxLength": 64,
            "pattern": ID_PATTERN,
            "description": "the type of appointments synced from this calendar",
        },
    },
    optional=("appointment_type_id",),
)

CONNECT_LINK = _object(
    {
        "authorization_url": {
            **_STRING,
            "description": "/oauth/{provider}/start?user=..&ticket=..: open it in the user's "
            "browser; single use",
        },
        "expires_at": {**_INSTANT, "description": "the link is refused after this"},
        "provider": _PROVIDER,
        "user_id": _STRING,
    }
)

CONNECTION_STATUS = _object(
    {
        "user_id": _STRING,
        "provider": _PROVIDER,
        "status": {
            "enum": ["active", "failing", "needs_reconnect", "disconnected"],
            "description": (
                "failing: the last sync failed (last_error says why; it is retried); "
                "needs_reconnect: the provider refused the grant, connect again"
            ),
        },
        "connected_at": {**_INSTANT, "description": "start of the synced window (R9)"},
        "last_synced_at": _OPTIONAL_INSTANT,
        "last_error": _OPTIONAL_STRING,
        "appointment_type_id": _OPTIONAL_STRING,
        "channel_expires_at": {
            **_OPTIONAL_INSTANT,
            "description": "expiry of the live push channel; null when there is none",
        },
    }
)

CONNECTED = _object(
    {
        "status": {"const": "connected"},
        "provider": _PROVIDER,
        "user_id": _STRING,
        "reconnected": {"type": "boolean"},
        "channel_error": {
            **_OPTIONAL_STRING,
            "description": "why no push channel was opened (changes then arrive by polling)",
        },
    }
)

SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": _object({"code": _STRING, "message": _STRING})}),
    "ConnectRequest": CONNECT_REQUEST,
    "ConnectLink": CONNECT_LINK,
    "ConnectionStatus": CONNECTION_STATUS,
    "Connected": CONNECTED,
    "Accepted": _object({"status": {"const": "accepted"}}),
    "CrmAccepted": _object({"id": _STRING}),
    "Health": _object({"status": {"const": "ok"}}),
    "Readiness": _object(
        {
            "status": {"enum": ["ready", "not_ready"]},
            "checks": {"type": "object", "additionalProperties": _STRING},
        }
    ),
    "Appointment": APPOINTMENT,
    "Availability": AVAILABILITY,
    "Room": ROOM,
    "Participant": PARTICIPANT,
    "Organizer": ORGANIZER,
    "CrmEvent": crm_schema.schema_for_docs(),
    "GraphChangeNotification": {
        "type": "object",
        "required": ["subscriptionId", "clientState", "changeType"],
        "properties": {
            **_GRAPH_ITEM_COMMON,
            "changeType": {"type": "string", "pattern": "^[A-Za-z]+(,[A-Za-z]+)*$"},
            "resource": _STRING,
            "resourceData": {"type": "object"},
        },
    },
    "GraphLifecycleNotification": {
        "type": "object",
        "required": ["subscriptionId", "clientState", "lifecycleEvent"],
        "properties": {
            **_GRAPH_ITEM_COMMON,
            "lifecycleEvent": {
                "type": "string",
                "pattern": "^[A-Za-z]+$",
                "examples": ["reauthorizationRequired", "subscriptionRemoved", "missed"],
            },
        },
    },
}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if headers:
        response["headers"] = headers
    return response


RESPONSES: dict[str, Any] = {
    "BadRequest": _error("The request is malformed; the message names the header or field."),
    "Unauthorized": _error("Missing or wrong credentials."),
    "NotFound": _error("No such resource (or not visible to this account)."),
    "PayloadTooLarge": _error("The body is larger than 1 MiB."),
    "UnsupportedMediaType": _error("The body must be sent as application/json."),
    "NoUsableCalendar": _error(
        "No calendar connection can answer: code not_connected, needs_reconnect (the user "
        "must connect again) or no_room_access (no connected user's grant may list rooms)."
    ),
    "ProviderRejected": _error("The calendar provider refused the request for good."),
    "ProviderUnavailable": _error(
        "The calendar provider is down, unreachable or throttling; retry later.",
        headers={
            "Retry-After": {
                "description": "Seconds to wait, when the provider said.",
                "required": False,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        },
    ),
    "ConnectionsNotAvailable": _error(
        "Calendars cannot be connected here: code not_configured (the provider's OAuth client "
        "settings are missing) or not_available (this process does not manage connections)."
    ),
    "StoreUnavailable": _error(
        "The store did not answer; retry.",
        headers={
            "Retry-After": {
                "description": "Seconds to wait.",
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        },
    ),
    "BrokerUnavailable": _error(
        "Nothing was queued because the broker did not confirm in time; retry.",
        headers={
            "Retry-After": {
                "description": f"Seconds to wait (we send {RETRY_AFTER_SECONDS}).",
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        },
    ),
}


def error_responses(*names: str) -> dict[str, Any]:
    """``{status: $ref}`` for the named shared error responses."""
    statuses = {
        "BadRequest": "400",
        "Unauthorized": "401",
        "NotFound": "404",
        "PayloadTooLarge": "413",
        "UnsupportedMediaType": "415",
        "BrokerUnavailable": "503",
        "NoUsableCalendar": "409",
        "ProviderRejected": "502",
        "ProviderUnavailable": "503",
        "ConnectionsNotAvailable": "409",
        "StoreUnavailable": "503",
    }
    return {statuses[name]: {"$ref": f"#/components/responses/{name}"} for name in names}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def page_or_json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """An answer to a browser route: an HTML page when ``Accept`` prefers text/html, else JSON."""
    return {
        "description": description,
        "content": {
            "application/json": {"schema": schema},
            "text/html": {"schema": {"type": "string"}},
        },
    }


def schema_ref(name: str) -> dict[str, str]:
    return _ref(name)
