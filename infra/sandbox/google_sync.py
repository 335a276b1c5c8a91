"""``events.list``: full sync with paging, incremental sync with sync tokens, and filters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from infra.sandbox import google_events, google_instances, google_times
from infra.sandbox.errors import ApiError
from infra.sandbox.google_state import Cursor, GoogleCalendar, GoogleState
from infra.sandbox.ids import opaque_token
from infra.sandbox.timeutil import format_rfc3339, parse_rfc3339, utcnow

#: Parameters Google refuses next to a ``syncToken``.
FORBIDDEN_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)

DEFAULT_MAX_RESULTS = 250
MAX_RESULTS_LIMIT = 2500

Params = Mapping[str, str]


def list_events(
    state: GoogleState, calendar: GoogleCalendar, params: Params, extended: dict[str, list[str]]
) -> dict[str, Any]:
    """One page of ``events.list`` for ``calendar``.

    Args:
        params: single-valued query parameters.
        extended: ``privateExtendedProperty``/``sharedExtendedProperty`` values (repeatable).

    Raises:
        ApiError: 400 for refused parameter combinations, 410 ``fullSyncRequired`` for an
            expired sync token.
    """
    single = params.get("singleEvents", "false") == "true"
    if "syncToken" in params:
        _check_sync_params(params, extended)
    if "pageToken" in params:
        cursor = _page_cursor(state, calendar, params["pageToken"])
    elif "syncToken" in params:
        since = _sync_cursor(state, calendar, params["syncToken"])
        cursor = _new_cursor(state, calendar, single, _changed_keys(calendar, since.seq, single))
    else:
        keys = _matching_keys(calendar, params, extended, single)
        cursor = _new_cursor(state, calendar, single, keys)
    return _page(state, calendar, cursor, params)


def _check_sync_params(params: Params, extended: dict[str, list[str]]) -> None:
    for name in FORBIDDEN_WITH_SYNC_TOKEN:
        if name in params or extended.get(name):
            raise ApiError(400, "invalid", f"The parameter {name} cannot be used with syncToken.")
    if params.get("showDeleted") == "false":
        raise ApiError(400, "invalid", "showDeleted=false cannot be used with syncToken.")


def _page_cursor(state: GoogleState, calendar: GoogleCalendar, token: str) -> Cursor:
    cursor = state.cursors.get(token)
    if cursor is None or cursor.keys is None or cursor.calendar_id != calendar.id:
        raise ApiError(400, "invalid", "Invalid page token value.")
    if cursor.epoch != calendar.epoch:
        raise _full_sync_required()
    return cursor


def _sync_cursor(state: GoogleState, calendar: GoogleCalendar, token: str) -> Cursor:
    cursor = state.cursors.get(token)
    if cursor is None or cursor.keys is not None or cursor.calendar_id != calendar.id:
        raise _full_sync_required()
    if cursor.epoch != calendar.epoch:
        raise _full_sync_required()
    return cursor


def _full_sync_required() -> ApiError:
    return ApiError(
        410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required."
    )


def _new_cursor(
    state: GoogleState, calendar: GoogleCalendar, single: bool, keys: list[str]
) -> Cursor:
    return Cursor(calendar.id, calendar.epoch, state.seq, single, keys)


def _page(
    state: GoogleState, calendar: GoogleCalendar, cursor: Cursor, params: Params
) -> dict[str, Any]:
    keys = cursor.keys or []
    size = _max_results(params)
    rows = _rows_by_key(calendar, keys[:size], cursor.single_events)
    items = [_render(rows[key], params.get("timeZone")) for key in keys[:size] if key in rows]
    response = _envelope(calendar)
    response["items"] = items
    token = opaque_token()
    if len(keys) > size:
        state.cursors[token] = Cursor(
            cursor.calendar_id, cursor.epoch, cursor.seq, cursor.single_events, keys[size:]
        )
        response["nextPageToken"] = token
    else:
        state.cursors[token] = Cursor(cursor.calendar_id, cursor.epoch, cursor.seq, False, None)
        response["nextSyncToken"] = token
    return response


def _max_results(params: Params) -> int:
    try:
        asked = int(params.get("maxResults", DEFAULT_MAX_RESULTS))
    except ValueError:
        raise ApiError(400, "invalid", "Invalid value for maxResults") from None
    if asked < 1:
        raise ApiError(400, "invalid", "Invalid value for maxResults")
    return min(asked, MAX_RESULTS_LIMIT)


def _envelope(calendar: GoogleCalendar) -> dict[str, Any]:
    return {
        "kind": "calendar#events",
        "etag": f'"{calendar.epoch}-{len(calendar.events)}"',
        "summary": calendar.id,
        "description": "",
        "updated": format_rfc3339(utcnow()),
        "timeZone": calendar.zone,
        "accessRole": "owner",
        "defaultReminders": [],
    }


def _render(resource: dict[str, Any], tz_name: str | None) -> dict[str, Any]:
    if resource.get("status") == "cancelled":
        return google_events.cancelled_view(resource)
    rendered = dict(resource)
    if tz_name:
        rendered["start"] = google_times.render(resource["start"], tz_name)
        rendered["end"] = google_times.render(resource["end"], tz_name)
    return rendered


def _rows_by_key(
    calendar: GoogleCalendar, keys: list[str], single: bool
) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for key in keys:
        stored = calendar.events.get(key)
        if stored is not None:
            rows[key] = stored.resource
        elif single:
            virtual = google_instances.find_virtual(calendar, key)
            if virtual is not None:
                rows[key] = virtual
    return rows


def _changed_keys(calendar: GoogleCalendar, since: int, single: bool) -> list[str]:
    """Keys of everything changed after change number ``since``, cancelled events included."""
    changed = sorted(
        (s for s in calendar.events.values() if s.seq > since), key=lambda stored: stored.seq
    )
    keys: list[str] = []
    for stored in changed:
        resource = stored.resource
        if single and google_instances.is_series(resource):
            keys.extend(i["id"] for i in google_instances.expand(calendar, resource))
        else:
            keys.append(resource["id"])
    return list(dict.fromkeys(keys))


def _matching_keys(
    calendar: GoogleCalendar, params: Params, extended: dict[str, list[str]], single: bool
) -> list[str]:
    """Keys of a full listing: filters, expansion and order."""
    window = _window(params)
    show_deleted = params.get("showDeleted") == "true" or "updatedMin" in params
    wanted = [
        row
        for row in _rows(calendar, single, window[1])
        if _wanted(
            calendar,
            row,
            params=params,
            extended=extended,
            window=window,
            show_deleted=show_deleted,
            single=single,
        )
    ]
    return [r["id"] for r in _ordered(calendar, wanted, params, single)]


def _rows(calendar: GoogleCalendar, single: bool, until: datetime | None) -> list[dict[str, Any]]:
    """Stored events, with series replaced by their instances when ``singleEvents``."""
    rows = []
    for stored in calendar.events.values():
        resource = stored.resource
        if single and google_instances.is_series(resource):
            if resource.get("status") != "cancelled":
                rows.extend(google_instances.expand(calendar, resource, until))
        elif not (single and "recurringEventId" in resource):
            # With singleEvents, exceptions come back through their series' expansion.
            rows.append(resource)
    return rows


def _window(params: Params) -> tuple[datetime | None, datetime | None]:
    try:
        low = parse_rfc3339(params["timeMin"]) if "timeMin" in params else None
        high = parse_rfc3339(params["timeMax"]) if "timeMax" in params else None
    except ValueError:
        raise ApiError(400, "badRequest", "Bad Request") from None
    if low and high and high <= low:
        raise ApiError(
            400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar"
        )
    return low, high


def _wanted(
    calendar: GoogleCalendar,
    resource: dict[str, Any],
    *,
    params: Params,
    extended: dict[str, list[str]],
    window: tuple[datetime | None, datetime | None],
    show_deleted: bool,
    single: bool,
) -> bool:
    # Cancelled instances of a series still show in a non-expanded listing.
    hidden_when_cancelled = single or "recurringEventId" not in resource
    if resource.get("status") == "cancelled" and not show_deleted and hidden_when_cancelled:
        return False
    if "iCalUID" in params and resource.get("iCalUID") != params["iCalUID"]:
        return False
    if "updatedMin" in params and resource["updated"] < _updated_min(params["updatedMin"]):
        return False
    if "q" in params and not _matches_text(resource, params["q"]):
        return False
    if not _matches_extended(resource, extended):
        return False
    return _overlaps(calendar, resource, window)


def _updated_min(value: str) -> str:
    try:
        return format_rfc3339(parse_rfc3339(value))
    except ValueError:
        raise ApiError(400, "badRequest", "Bad Request") from None


def _matches_text(resource: dict[str, Any], query: str) -> bool:
    fields = [resource.get(k, "") for k in ("summary", "description", "location")]
    for attendee in resource.get("attendees", []):
        fields += [attendee.get("email", ""), attendee.get("displayName", "")]
    haystack = " ".join(str(f) for f in fields).lower()
    return all(word in haystack for word in query.lower().split())


def _matches_extended(resource: dict[str, Any], extended: dict[str, list[str]]) -> bool:
    properties = resource.get("extendedProperties") or {}
    for param, scope in (
        ("privateExtendedProperty", "private"),
        ("sharedExtendedProperty", "shared"),
    ):
        values = properties.get(scope) or {}
        for constraint in extended.get(param, []):
            key, _, value = constraint.partition("=")
            if values.get(key) != value:
                return False
    return True


def _overlaps(
    calendar: GoogleCalendar,
    resource: dict[str, Any],
    window: tuple[datetime | None, datetime | None],
) -> bool:
    low, high = window
    if "start" not in resource:
        return low is None and high is None
    if google_instances.is_series(resource):
        start = google_times.instant(resource["start"], calendar.zone)
        return high is None or start < high
    start = google_times.instant(resource["start"], calendar.zone)
    end = google_times.instant(resource["end"], calendar.zone)
    return (low is None or end > low) and (high is None or start < high)


def _ordered(
    calendar: GoogleCalendar, rows: list[dict[str, Any]], params: Params, single: bool
) -> list[dict[str, Any]]:
    order = params.get("orderBy")
    if order == "updated":
        return sorted(rows, key=lambda r: r.get("updated", ""))
    if order == "startTime" and not single:
        raise ApiError(
            400, "invalid", "The requested ordering is not available for the particular query."
        )
    if order not in (None, "startTime"):
        raise ApiError(400, "invalid", f"Invalid value for orderBy: {order}")
    return sorted(rows, key=lambda r: _start_key(calendar, r))


def _start_key(calendar: GoogleCalendar, resource: dict[str, Any]) -> tuple[float, str]:
    if "start" not in resource:
        return (0.0, resource["id"])
    return (google_times.instant(resource["start"], calendar.zone).timestamp(), resource["id"])
