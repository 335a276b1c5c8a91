"""Places API: ``GET /places/microsoft.graph.room`` (msgraph-sdk asks for ``graph.room``)."""

from __future__ import annotations

from typing import Any

from infra.sandbox.directory import Room

DEFAULT_PAGE_SIZE = 100


def rooms_page(rooms: list[Room], top: int | None, skip: int, link_base: str) -> dict[str, Any]:
    """One page of rooms with an ``@odata.nextLink`` when more remain."""
    size = top or DEFAULT_PAGE_SIZE
    page: dict[str, Any] = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#places/microsoft.graph.room",
        "value": [_room(room) for room in rooms[skip : skip + size]],
    }
    if skip + size < len(rooms):
        page["@odata.nextLink"] = f"{link_base}?$top={size}&$skip={skip + size}"
    return page


def _room(room: Room) -> dict[str, Any]:
    floor = int(room.floor) if room.floor.isdigit() else None
    return {
        "@odata.type": "#microsoft.graph.room",
        "id": room.id,
        "emailAddress": room.email,
        "displayName": room.name,
        "nickname": room.name,
        "capacity": room.capacity,
        "building": room.building or None,
        "floorNumber": floor,
        "floorLabel": room.floor or None,
        "label": None,
        "bookingType": "standard",
        "isWheelchairAccessible": False,
        "tags": [],
        "audioDeviceName": None,
        "videoDeviceName": None,
        "displayDeviceName": None,
        "address": {},
        "geoCoordinates": None,
        "phone": None,
    }
