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
    MAX_SLOT_MINUTES,
    MIN_SLOT_MINUTES,
)
from ingest.crm import SIGNATURE_HEADER
from ingest.microsoft import MAX_VALIDATION_TOKEN
from ingest.openapi_schemas import (
    RESPONSES,
    SCHEMAS,
    error_responses,
    json_response,
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
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["value"],
                        "properties": {"value": {"type": "array", "items": schema_ref(item)}},
                    }
                },
                "text/plain": {"schema": {"type": "string"}},
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
                "PayloadTooLarge",
                "UnsupportedMediaType",
                "BrokerUnavailable",
            ),
        },
    }


def _list_appointments() -> dict[str, Any]:
    identifier = {"type": "string"}
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
            _query("to", instant),
            _query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 1000, "default": DEFAULT_LIMIT},
            ),
            _query("offset", {"type": "integer", "minimum": 0, "default": 0}),
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
        f"(Cache-Control: no-store). The period may span at most {MAX_AVAILABILITY_DAYS} days.",
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
