"""Admin SDK Directory ``resources.calendars.list``: the rooms of the sandbox's domain."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from infra.sandbox.directory import Room
from infra.sandbox.errors import ApiError
from infra.sandbox.google_state import GoogleState

#: The Directory API path as the bundled discovery document builds it.
RESOURCES_PATH = "/admin/directory/v1/customer/<customer>/resources/calendars"

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


def blueprint(state: GoogleState, url_prefix: str = "") -> Blueprint:
    """Routes for the Directory API, under ``url_prefix``.

    The Directory discovery document has an empty ``servicePath``, so a client built with the
    Calendar ``api_endpoint`` (``.../calendar/v3/``) asks under that prefix; the sandbox serves
    the path both there and at the root.
    """
    name = "google_directory" + url_prefix.replace("/", "_")
    bp = Blueprint(name, __name__, url_prefix=url_prefix or None)

    def list_rooms(customer: str) -> Response:
        with state.lock:
            rooms = sorted(state.directory.rooms.values(), key=lambda r: r.name)
        return jsonify(_page([r for r in rooms if _matches(r, request.args.get("query"))]))

    bp.add_url_rule(RESOURCES_PATH, view_func=list_rooms)
    return bp


def _page(rooms: list[Room]) -> dict[str, Any]:
    try:
        size = min(int(request.args.get("maxResults", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
        offset = int(request.args.get("pageToken") or 0)
    except ValueError:
        raise ApiError(400, "invalid", "Invalid Input") from None
    page = {
        "kind": "admin#directory#resources#calendars#calendarResourcesList",
        "etag": f'"{len(rooms)}"',
        "items": [_resource(room) for room in rooms[offset : offset + size]],
    }
    if offset + size < len(rooms):
        page["nextPageToken"] = str(offset + size)
    return page


def _resource(room: Room) -> dict[str, Any]:
    return {
        "kind": "admin#directory#resources#calendars#CalendarResource",
        "etags": f'"{room.id}"',
        "resourceId": room.id,
        "resourceName": room.name,
        "generatedResourceName": f"{room.building}-{room.floor}-{room.name} ({room.capacity})",
        "resourceType": "Conference room",
        "resourceEmail": room.email,
        "capacity": room.capacity,
        "buildingId": room.building,
        "floorName": room.floor,
        "resourceCategory": "CONFERENCE_ROOM",
    }


def _matches(room: Room, query: str | None) -> bool:
    """A small subset of the Directory query language: ``=``, ``!=``, ``:`` joined by AND."""
    if not query:
        return True
    fields = {k: str(v) for k, v in _resource(room).items()}
    for clause in query.split(" AND "):
        for op in ("!=", "=", ":"):
            key, found, value = clause.partition(op)
            if found:
                actual = fields.get(key.strip(), "")
                value = value.strip().strip('"')
                ok = {"!=": actual != value, "=": actual == value, ":": actual.startswith(value)}
                if not ok[op]:
                    return False
                break
    return True
