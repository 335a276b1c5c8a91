"""``GET /openapi.json``: the OpenAPI 3.1 document of every route this app serves.

Tests keep it honest: every route is documented and every documented route exists, and
the answers the endpoint tests receive validate against the schema of their status.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, Response, jsonify

from ingest import google
from ingest.api import (
    DEFAULT_LIMIT,
    MAX_AVAILABILITY_DAYS,
    MAX_LIVE_YEAR,
    MAX_OFFSET,
    MAX_SLOT_MINUTES,
    MIN_LIVE_YEAR,
    MIN_SLOT_MINUTES,
)
from ingest.crm import SIGNATURE_HEADER
from ingest.identifiers import ID_PATTERN
from ingest.microsoft import MAX_VALIDATION_TOKEN
from ingest.openapi_connections import list_connections
from ingest.openapi_explanations import explain_event
from ingest.openapi_schemas import (
    RESPONSES,
    SCHEMAS,
    error_responses,
    json_response,
    page_or_json,
    schema_ref,
)

bp = Blueprint("openapi", __name__)

_ACCEPTED = json_response("Queued.", schema_ref("Accepted"))


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """This API's OpenAPI 3.1 document."""
    return jsonify(document())


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once; it is pure data)."""
    return _with_server_errors(_routes_document())


def _routes_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Calsync",
            "version": "1",
            "description": "CRM <-> Google Calendar / Microsoft 365 sync: webhooks and read API.",
        },
        "paths": {
            "/webhooks/google": {"post": _google_webhook()},
            "/webhooks/microsoft": {"post": _graph_webhook("GraphChangeNotification")},
            "/webhooks/microsoft/lifecycle": {"post": _graph_webhook("GraphLifecycleNotification")},
            "/crm/events": {"post": _crm_events()},
            "/api/v1/appointments": {"get": _list_appointments()},
            "/api/v1/appointments/{appointment_id}": {"get": _get_appointment()},
            "/api/v1/users/{user_id}/availability": {"get": _user_availability()},
            "/api/v1/rooms": {"get": _list_rooms()},
            "/api/v1/connections": {"get": list_connections()},
            "/api/v1/users/{user_id}/events/{event_id}/explanation": {"get": explain_event()},
            "/api/v1/users/{user_id}/connect": {"post": _connect_link()},
            "/api/v1/users/{user_id}/connection": {
                "get": _connection_status(),
                "delete": _disconnect(),
            },
            "/oauth/{provider}/start": {"get": _oauth_start()},
            "/oauth/{provider}/callback": {"get": _oauth_callback()},
            "/healthz": {"get": _healthz()},
            "/readyz": {"get": _readyz()},
            "/metrics": {"get": _metrics()},
            "/openapi.json": {"get": _openapi()},
        },
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "securitySchemes": {"accountKey": {"type": "http", "scheme": "bearer"}},
        },
    }


def _header(name: str, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": schema}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    parameter = {"name": name, "in": "query", "required": False, "schema": schema}
    return {**parameter, "description": description} if description else parameter


def _google_webhook() -> dict[str, Any]:
    formats: dict[str, dict[str, Any]] = {
        name: {"type": "string", "pattern": f"^{regex.pattern}$"}
        for name, regex in google.HEADER_FORMATS.items()
    }
    formats["X-Goog-Resource-State"] = {"enum": sorted(google.RESOURCE_STATES)}
    return {
        "summary": "Google Calendar push notification (empty body, X-Goog-* headers)",
        "operationId": "googleNotification",
        "parameters": [
            *(_header(name, schema) for name, schema in formats.items()),
            _header("X-Goog-Channel-Token", {"type": "string", "maxLength": 256}),
            _header("X-Goog-Resource-URI", {"type": "string"}, required=False),
            _header("X-Goog-Channel-Expiration", {"type": "string"}, required=False),
        ],
        "responses": {
            "200": _ACCEPTED,
            **error_responses(
                "BadRequest", "Unauthorized", "NotFound", "PayloadTooLarge", "BrokerUnavailable"
            ),
        },
    }


def _graph_webhook(item: str) -> dict[str, Any]:
    return {
        "summary": f"Microsoft Graph notifications ({item}), or the validationToken handshake",
        "description": "Items with an unknown subscription or a wrong clientState are dropped "
        "and counted; the rest become one hint per connection. Either kind of item is "
        "accepted on either route.",
        "operationId": "graphLifecycle" if "Lifecycle" in item else "graphNotification",
        "parameters": [
            _query(
                "validationToken",
                {"type": "string", "maxLength": MAX_VALIDATION_TOKEN},
                "Subscription handshake: echoed back as text/plain before anything else.",
            )
        ],
        # The handshake carries no body, but it is answered before the body is read; every
        # notification has one.
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["value"],
                        "properties": {"value": {"type": "array", "items": schema_ref(item)}},
                    }
                },
            },
        },
        "responses": {
            "200": {
                "description": "Handshake: the URL-decoded validationToken.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "202": _ACCEPTED,
            **error_responses(
                "BadRequest", "PayloadTooLarge", "UnsupportedMediaType", "BrokerUnavailable"
            ),
        },
    }


def _crm_events() -> dict[str, Any]:
    return {
        "summary": "A CRM event: appointment, user, contact or company saved or deleted",
        "operationId": "crmEvent",
        "parameters": [
            _header(
                SIGNATURE_HEADER,
                {"type": "string", "maxLength": 2048},
            )
            | {"description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>'>"}
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema_ref("CrmEvent")}},
        },
        "responses": {
            "202": json_response(
                "Queued (also for a repeated event id).", schema_ref("CrmAccepted")
            ),
            **error_responses(
                "BadRequest",
                "Unauthorized",
                "NotFound",
                "PayloadTooLarge",
                "UnsupportedMediaType",
                "BrokerUnavailable",
            ),
        },
    }


def _list_appointments() -> dict[str, Any]:
    identifier = {"type": "string", "pattern": ID_PATTERN}
    instant = {"type": "string", "format": "date-time"}
    return {
        "summary": "Appointments overlapping from..to, narrowed by user, contact or company",
        "operationId": "listAppointments",
        "security": [{"accountKey": []}],
        "parameters": [
            _query("user", identifier),
            _query("contact", identifier),
            _query("company", identifier),
            _query("from", instant),
            _query("to", instant, "later than 'from': a window has a length"),
            _query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 1000, "default": DEFAULT_LIMIT},
            ),
            _query(
                "offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}
            ),
        ],
        "responses": {
            "200": json_response(
                "The appointments, earliest first.",
                {"type": "array", "items": schema_ref("Appointment")},
            ),
            **error_responses("BadRequest", "Unauthorized"),
        },
    }


def _get_appointment() -> dict[str, Any]:
    return {
        "summary": "One appointment with participants, rooms, links and sync state",
        "operationId": "getAppointment",
        "security": [{"accountKey": []}],
        "parameters": [
            {"name": "appointment_id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "responses": {
            "200": json_response("The appointment.", schema_ref("Appointment")),
            **error_responses("Unauthorized", "NotFound"),
        },
    }


def _user_availability() -> dict[str, Any]:
    instant = {"type": "string", "format": "date-time"}
    return {
        "summary": "A user's free slots, live from Google free/busy or Graph getSchedule (R28)",
        "description": "Slots of exactly 'slot' minutes inside the user's working hours "
        "(placed day by day in the user's zone, so DST changes move them in UTC) that no "
        "busy time overlaps. Asked of the provider on every request and never cached "
        f"(Cache-Control: no-store). The period may span at most {MAX_AVAILABILITY_DAYS} days "
        f"and lie in the years {MIN_LIVE_YEAR} to {MAX_LIVE_YEAR}.",
        "operationId": "userAvailability",
        "security": [{"accountKey": []}],
        "parameters": [
            {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "from", "in": "query", "required": True, "schema": instant},
            {
                "name": "to",
                "in": "query",
                "required": True,
                "schema": instant,
                "description": "later than 'from'",
            },
            {
                "name": "slot",
                "in": "query",
                "required": True,
                "description": "slot length in minutes",
                "schema": {
                    "type": "integer",
                    "minimum": MIN_SLOT_MINUTES,
                    "maximum": MAX_SLOT_MINUTES,
                },
            },
        ],
        "responses": {
            "200": json_response("The free slots, earliest first.", schema_ref("Availability")),
            **error_responses(
                "BadRequest",
                "Unauthorized",
                "NotFound",
                "NoUsableCalendar",
                "ProviderRejected",
                "ProviderUnavailable",
            ),
        },
    }


def _list_rooms() -> dict[str, Any]:
    return {
        "summary": "The rooms of the account's organisation, live from the provider(s)",
        "description": "Google Directory resources or Graph places, read with the grant of a "
        "connected user of the account (active connections, oldest first; one that may not "
        "list rooms is passed over for the next).",
        "operationId": "listRooms",
        "security": [{"accountKey": []}],
        "responses": {
            "200": json_response(
                "The rooms, ordered by name.", {"type": "array", "items": schema_ref("Room")}
            ),
            **error_responses("Unauthorized", "NoUsableCalendar", "ProviderUnavailable"),
        },
    }


_USER_ID = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}
_PROVIDER_PATH = {
    "name": "provider",
    "in": "path",
    "required": True,
    "schema": {"enum": ["google", "microsoft"]},
}
_STATUS = json_response("The user's calendar connection.", schema_ref("ConnectionStatus"))


def _connect_link() -> dict[str, Any]:
    return {
        "summary": "A single-use link that connects the user's calendar in their browser",
        "description": "Open authorization_url in the user's browser within 10 minutes: it "
        "signs them in at the provider (OAuth with state and PKCE) and connects the calendar "
        "as `calsync connect` does. Whoever opens the link connects their calendar to this "
        "user, so hand it to the user only. Each request makes a new link.",
        "operationId": "connectLink",
        "security": [{"accountKey": []}],
        "parameters": [_USER_ID],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema_ref("ConnectRequest")}},
        },
        "responses": {
            "201": json_response("The link.", schema_ref("ConnectLink")),
            **error_responses(
                "BadRequest",
                "Unauthorized",
                "NotFound",
                "ConnectionsNotAvailable",
                "PayloadTooLarge",
                "UnsupportedMediaType",
                "StoreUnavailable",
            ),
        },
    }


def _connection_status() -> dict[str, Any]:
    return {
        "summary": "The user's calendar connection: provider, status, dates, last error",
        "description": "404 with code not_connected when the user never connected a calendar.",
        "operationId": "connectionStatus",
        "security": [{"accountKey": []}],
        "parameters": [_USER_ID],
        "responses": {
            "200": _STATUS,
            **error_responses(
                "Unauthorized", "NotFound", "ConnectionsNotAvailable", "StoreUnavailable"
            ),
        },
    }


def _disconnect() -> dict[str, Any]:
    return {
        "summary": "Disconnect the user's calendar; appointments stay",
        "description": "Stops the push channel at the provider (best effort) and here, marks "
        "the connection disconnected and forgets its tokens. Every appointment is kept. "
        "Repeating it answers the same.",
        "operationId": "disconnect",
        "security": [{"accountKey": []}],
        "parameters": [_USER_ID],
        "responses": {
            "200": _STATUS,
            **error_responses(
                "Unauthorized", "NotFound", "ConnectionsNotAvailable", "StoreUnavailable"
            ),
        },
    }


def _oauth_failures(*statuses: str) -> dict[str, Any]:
    meaning = {
        "400": "Bad or tampered ticket or state, a sign-in finished in another browser, a "
        "provider error, or a code the provider refused (PKCE, reuse).",
        "403": "The user declined (access_denied) or did not grant calendar access.",
        "404": "Unknown provider, or the link's user no longer exists.",
        "409": "Not configured here, or the wrong account signed in (wrong_account).",
        "410": "The link or sign-in was used already or expired (10 minutes).",
        "503": "The provider, the broker or the store is unavailable; ask for a new link "
        "and retry.",
    }
    return {s: page_or_json(meaning[s], schema_ref("Error")) for s in statuses}


def _oauth_start() -> dict[str, Any]:
    return {
        "summary": "Browser: spend a connect link's ticket and go to the provider's consent",
        "operationId": "oauthStart",
        "parameters": [
            _PROVIDER_PATH,
            _query("ticket", {"type": "string"}, "the link's single-use ticket"),
            _query("user", {"type": "string"}, "the user the link is for"),
        ],
        "responses": {
            "302": {
                "description": "To the provider's authorization endpoint (state, S256 PKCE "
                "challenge); sets the cookie that ties the callback to this browser.",
                "headers": {
                    "Location": {"required": True, "schema": {"type": "string"}},
                    "Set-Cookie": {"required": True, "schema": {"type": "string"}},
                },
                "content": {"text/html": {"schema": {"type": "string"}}},
            },
            **_oauth_failures("400", "404", "409", "410", "503"),
        },
    }


def _oauth_callback() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "summary": "Browser: the provider's answer; exchanges the code and connects",
        "operationId": "oauthCallback",
        "parameters": [
            _PROVIDER_PATH,
            _query("state", text),
            _query("code", text),
            _query("error", text, "e.g. access_denied"),
            _query("error_description", text),
        ],
        "responses": {
            "200": page_or_json("Connected.", schema_ref("Connected")),
            **_oauth_failures("400", "403", "404", "409", "410", "503"),
        },
    }


def _healthz() -> dict[str, Any]:
    return {
        "summary": "Liveness: the process answers",
        "operationId": "healthz",
        "responses": {"200": json_response("Alive.", schema_ref("Health"))},
    }


def _metrics() -> dict[str, Any]:
    return {
        "summary": "Prometheus metrics of this process (text exposition format)",
        "operationId": "metrics",
        "responses": {
            "200": {
                "description": "Counters, histograms and gauges.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    }


def _readyz() -> dict[str, Any]:
    return {
        "summary": "Readiness: every dependency probe passes",
        "operationId": "readyz",
        "responses": {
            "200": json_response("Ready.", schema_ref("Readiness")),
            "503": json_response("A dependency is unavailable.", schema_ref("Readiness")),
        },
    }


def _openapi() -> dict[str, Any]:
    return {
        "summary": "This document",
        "operationId": "openapi",
        "responses": {"200": json_response("OpenAPI 3.1 document.", {"type": "object"})},
    }


#: Answers the HTTP server gives before any route runs (gunicorn's and werkzeug's size limits,
#: see infra/gunicorn_conf.py), so any operation can receive them.
SERVER_ERRORS = {
    "414": (
        "UriTooLong",
        "The request line (method, path and query) is longer than the server accepts.",
    ),
    "431": (
        "RequestHeaderFieldsTooLarge",
        "A header is too large, or there are too many headers.",
    ),
}


def _with_server_errors(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the server's own errors shared in components and listed on every operation."""
    error = {"content": {"application/json": {"schema": schema_ref("Error")}}}
    shared = {name: {"description": text, **error} for name, text in SERVER_ERRORS.values()}
    # A new dict: the shared RESPONSES of openapi_schemas stay as they are.
    doc["components"]["responses"] = {**doc["components"]["responses"], **shared}
    for item in doc["paths"].values():
        for operation in item.values():
            for status, (name, _text) in SERVER_ERRORS.items():
                operation["responses"][status] = {"$ref": f"#/components/responses/{name}"}
    return doc
