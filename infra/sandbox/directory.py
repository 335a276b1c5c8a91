"""People and rooms known to one sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infra.sandbox.ids import guid

#: Working hours a user gets unless the test says otherwise.
DEFAULT_WORKING_HOURS: dict[str, Any] = {
    "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
    "startTime": "09:00:00.0000000",
    "endTime": "17:00:00.0000000",
}


@dataclass
class Person:
    """A user with a mailbox/calendar. ``id`` is the Graph object id."""

    email: str
    display_name: str
    time_zone: str = "UTC"
    working_hours: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_WORKING_HOURS))
    id: str = field(default_factory=guid)
    #: Other addresses that deliver to the mailbox (Graph's ``proxyAddresses``, ``smtp:``).
    aliases: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the admin API."""
        return {
            "id": self.id,
            "email": self.email,
            "displayName": self.display_name,
            "timeZone": self.time_zone,
            "workingHours": self.working_hours,
            "aliases": list(self.aliases),
        }


@dataclass
class Room:
    """A bookable room; invite it with its email as a resource attendee."""

    email: str
    name: str
    capacity: int = 0
    building: str = ""
    floor: str = ""
    id: str = field(default_factory=guid)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the admin API."""
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "capacity": self.capacity,
            "building": self.building,
            "floor": self.floor,
        }


class Directory:
    """Users and rooms, found by email (case-insensitive) or by id. Not locked itself."""

    def __init__(self) -> None:
        self.users: dict[str, Person] = {}
        self.rooms: dict[str, Room] = {}

    def clear(self) -> None:
        """Forget all users and rooms."""
        self.users.clear()
        self.rooms.clear()

    def add_user(self, person: Person) -> Person:
        """Register (or replace) a user."""
        self.users[person.email.lower()] = person
        return person

    def add_room(self, room: Room) -> Room:
        """Register (or replace) a room."""
        self.rooms[room.email.lower()] = room
        return room

    def find_user(self, key: str) -> Person | None:
        """A user by email or Graph id."""
        found = self.users.get(key.lower())
        if found:
            return found
        return next((p for p in self.users.values() if p.id == key), None)

    def find_room(self, email: str) -> Room | None:
        """A room by email."""
        return self.rooms.get(email.lower())

    def display_name(self, email: str) -> str | None:
        """The display name of a known user or room."""
        person = self.find_user(email)
        if person:
            return person.display_name
        room = self.find_room(email)
        return room.name if room else None
