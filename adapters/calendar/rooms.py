"""Bookable rooms of a user's organisation, live from the provider: the port.

Google: the Admin SDK Directory ``resources.calendars.list`` of ``my_customer``
(PROVIDERS.md A4; it needs a grant that may read the Workspace's resources). Graph:
``GET /places/microsoft.graph.room`` (B7; ``Place.Read.All``). Every page is read.

``adapters.calendar.factory`` makes the adapters; this module imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from adapters.calendar.source import Credentials, RefreshedTokens
from domain.model import Provider

#: Pages read at most before the list is cut short (a provider that keeps paging is wrong).
MAX_PAGES = 100


@dataclass(frozen=True)
class Room:
    """A room as both providers describe it; what a provider does not say is None.

    Attributes:
        email: the room's address: invite it as a resource attendee.
        name: its display name.
        capacity: seats.
        building: Graph's building name; Google's ``buildingId``.
        floor: the floor's name or number, as text.
        provider: which provider listed it.
    """

    email: str
    name: str
    capacity: int | None
    building: str | None
    floor: str | None
    provider: Provider


@dataclass(frozen=True)
class RoomsAnswer:
    """Rooms, and tokens the caller does not have yet (persist them), else None."""

    rooms: tuple[Room, ...]
    tokens: RefreshedTokens | None = None


class RoomList(Protocol):
    """Lists the rooms the user of some credentials can see."""

    def rooms(self, credentials: Credentials) -> RoomsAnswer:
        """Every room, all pages read.

        Raises:
            AuthorizationRevoked: the user must reconnect.
            ProviderUnavailable: the provider is throttling, failing or unreachable.
            ProviderRejected: a permanent refusal, typically 403: this user's grant may not
                read the organisation's rooms (another user's may).
            ValueError: ``credentials`` are for another provider (a caller's mistake).
        """
        ...

    def close(self) -> None:
        """Release cached clients and threads; the object must not be used afterwards."""
        ...
