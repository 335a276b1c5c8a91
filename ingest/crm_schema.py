"""The CRM event body of CONTRACT.md ("CRM event signature") as JSON Schema.

Validation runs in two steps, the envelope and then the ``data`` of its type, so that an
error names the field that is wrong (``data.start: 'tomorrow' is not a 'date-time'``)
rather than "not valid under any of the given schemas". The OpenAPI document shows the
same schemas combined with ``oneOf``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import jsonschema

from domain.emails import normalise_email
from domain.errors import UnknownTimeZoneError
from domain.zones import load_zone

SAVED_TYPES = ("appointment.saved", "user.saved", "contact.saved", "company.saved")
DELETED_TYPES = ("appointment.deleted", "user.deleted", "contact.deleted", "company.deleted")
EVENT_TYPES = SAVED_TYPES + DELETED_TYPES
#: Longest error message returned; values are quoted in messages and may be huge.
MAX_MESSAGE = 300
#: Most entries in a list (participants, aliases, e-mails); far above what calendars allow.
MAX_LIST = 1000

#: No string holds a NUL (``ingest.crm_text`` refuses it, and lone surrogates, first).
NO_NUL = "^[^\\x00]*$"
_ID: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NO_NUL}
_OPTIONAL_ID: dict[str, Any] = {
    "type": ["string", "null"],
    "minLength": 1,
    "maxLength": 64,
    "pattern": NO_NUL,
}
_TEXT: dict[str, Any] = {"type": ["string", "null"], "pattern": NO_NUL}
_NAME: dict[str, Any] = {"type": "string", "maxLength": 200, "pattern": NO_NUL}
_EMAIL: dict[str, Any] = {"type": "string", "format": "email", "maxLength": 320}
_TIME_ZONE: dict[str, Any] = {"type": "string", "format": "time-zone", "maxLength": 64}
_INSTANT: dict[str, Any] = {"type": "string", "format": "date-time", "maxLength": 64}


def _list_of(item: dict[str, Any]) -> dict[str, Any]:
    # maxItems first: keywords are checked in order, and a list that is too long should be
    # refused before each of its items is looked at.
    return {"type": "array", "maxItems": MAX_LIST, "items": item}


def _record(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": properties,
    }


APPOINTMENT_SAVED = _record(
    ["id", "organizer_user_id"],
    {
        "id": _ID,
        "organizer_user_id": _ID,
        "subject": _TEXT,
        "description": _TEXT,
        "agenda": _TEXT,
        "location": _TEXT,
        "start": _INSTANT,
        "end": _INSTANT,
        "all_day_date": {"type": "string", "format": "date", "maxLength": 10},
        "time_zone": {**_TIME_ZONE, "type": ["string", "null"]},
        "user_ids": _list_of(_ID),
        "contact_ids": _list_of(_ID),
        "emails": _list_of(_EMAIL),
        "company_id": _OPTIONAL_ID,
        "room_emails": _list_of(_EMAIL),
        "video": {"enum": ["meet", "teams", None]},
        "invite": {"type": "boolean"},
        "appointment_type_id": _OPTIONAL_ID,
        "outcome": {"type": ["string", "null"], "maxLength": 32, "pattern": NO_NUL},
    },
)
# Timed (start and end) or all-day (one date), never both.
APPOINTMENT_SAVED["dependentRequired"] = {"start": ["end"], "end": ["start"]}
APPOINTMENT_SAVED["oneOf"] = [{"required": ["start"]}, {"required": ["all_day_date"]}]
TIMING_RULE = "needs either 'start' and 'end', or 'all_day_date', but not both"

USER_SAVED = _record(
    ["id", "email"],
    {
        "id": _ID,
        "name": _NAME,
        "email": _EMAIL,
        "aliases": _list_of(_EMAIL),
        "time_zone": _TIME_ZONE,
        "active": {"type": "boolean"},
    },
)
CONTACT_SAVED = _record(
    ["id"],
    {
        "id": _ID,
        "name": _NAME,
        "emails": _list_of(_EMAIL),
        "company_id": _OPTIONAL_ID,
        "active": {"type": "boolean"},
    },
)
COMPANY_SAVED = _record(["id"], {"id": _ID, "name": _NAME})
DELETED = _record(["id"], {"id": _ID})

DATA_SCHEMAS: dict[str, dict[str, Any]] = {
    "appointment.saved": APPOINTMENT_SAVED,
    "user.saved": USER_SAVED,
    "contact.saved": CONTACT_SAVED,
    "company.saved": COMPANY_SAVED,
    **dict.fromkeys(DELETED_TYPES, DELETED),
}

EVENT = _record(
    ["id", "type", "account_id", "occurred_at", "data"],
    {
        "id": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NO_NUL},
        "type": {"enum": list(EVENT_TYPES)},
        "account_id": _ID,
        "occurred_at": _INSTANT,
        "data": {"type": "object"},
    },
)

FORMATS = jsonschema.FormatChecker(formats=())
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)


@FORMATS.checks("date-time")
def is_rfc3339_instant(value: object) -> bool:
    """An RFC 3339 date-time with a UTC offset (``2026-12-01T09:00:00+01:00``)."""
    if not isinstance(value, str):
        return True  # formats constrain strings only; "type" reports the rest
    match = _RFC3339.fullmatch(value)
    if match is None:
        return False
    offset = "+00:00" if match[4] in "Zz" else match[4]
    try:
        datetime.fromisoformat(f"{match[1]}T{match[2]}{offset}")
    except ValueError:
        return False
    return True


@FORMATS.checks("date")
def is_calendar_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        return len(value) == 10 and date.fromisoformat(value) is not None
    except ValueError:
        return False


@FORMATS.checks("email")
def is_email(value: object) -> bool:
    return not isinstance(value, str) or normalise_email(value) is not None


@FORMATS.checks("time-zone")
def is_time_zone(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        load_zone(value)
    except UnknownTimeZoneError:
        return False
    return True


_EVENT_VALIDATOR = jsonschema.Draft202012Validator(EVENT, format_checker=FORMATS)
_DATA_VALIDATORS = {
    name: jsonschema.Draft202012Validator(schema, format_checker=FORMATS)
    for name, schema in DATA_SCHEMAS.items()
}


def first_problem(event: dict[str, Any]) -> str | None:
    """Return what is wrong with ``event`` as ``"<field path>: <problem>"``, or None."""
    # The first error, in schema keyword order (type, required, unknown fields, each field):
    # a body may hold 100,000 errors, and finding them all would take seconds.
    error = next(_EVENT_VALIDATOR.iter_errors(event), None)
    if error is not None:
        return _describe(error, "")
    data_error = next(_DATA_VALIDATORS[event["type"]].iter_errors(event["data"]), None)
    if data_error is not None:
        return _describe(data_error, "data")
    return _time_order_problem(event["data"])


def schema_for_docs() -> dict[str, Any]:
    """The whole event as one schema: one variant per ``type`` (deletions share one)."""
    variants = [_variant([name], DATA_SCHEMAS[name]) for name in SAVED_TYPES]
    variants.append(_variant(list(DELETED_TYPES), DELETED))
    return {"oneOf": variants}


def _variant(types: list[str], data: dict[str, Any]) -> dict[str, Any]:
    properties = {**EVENT["properties"], "type": {"enum": types}, "data": data}
    return {**EVENT, "properties": properties}


def _describe(error: jsonschema.ValidationError, prefix: str) -> str:
    path = prefix
    for step in error.absolute_path:
        path += f"[{step}]" if isinstance(step, int) else f".{step}" if path else str(step)
    message = TIMING_RULE if error.validator == "oneOf" else error.message
    if len(message) > MAX_MESSAGE:
        # jsonschema quotes the whole value; say which rule it broke instead.
        rule = f"{error.validator}: {error.validator_value!r}"[:100]
        message = f"the value (too long to show) does not meet {rule}"
    return f"{path or 'body'}: {message}"


def _time_order_problem(data: dict[str, Any]) -> str | None:
    if "start" not in data:
        return None
    start, end = (datetime.fromisoformat(_offset_form(data[key])) for key in ("start", "end"))
    return "data.end: must not be earlier than data.start" if end < start else None


def _offset_form(value: str) -> str:
    return value.upper().replace("Z", "+00:00")
