"""Graph rooms: ``GET /places/microsoft.graph.room`` through msgraph-sdk, every page.

msgraph-sdk builds the type cast as ``/places/graph.room`` (Graph accepts the ``graph``
alias of the ``microsoft.graph`` namespace); ``@odata.nextLink`` pages are followed with
the same request builder.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.models.room import Room as GraphRoom
from msgraph.generated.models.room_collection_response import RoomCollectionResponse
from msgraph.generated.places.graph_room.graph_room_request_builder import (
    GraphRoomRequestBuilder,
)

from adapters.calendar.errors import ProviderUnavailable
from adapters.calendar.graph.reads import GraphReader
from adapters.calendar.rooms import MAX_PAGES, Room, RoomsAnswer
from adapters.calendar.source import Credentials, RefreshedTokens
from domain.model import Provider

#: Rooms per page (``$top``; Graph's default is 100).
DEFAULT_PAGE_SIZE = 100


class GraphRooms:
    """The rooms of a Microsoft 365 tenant.

    Args:
        page_size: ``$top`` per page.
        options: ``GraphReader`` keyword arguments (``retry``, ``kiota_max_retries``,
            ``timeout``, ``max_cached_users``, ``scope``).
    """

    def __init__(self, *, page_size: int = DEFAULT_PAGE_SIZE, **options: Any) -> None:
        self._page_size = page_size
        self._reader = GraphReader("calsync-graph-rooms", **options)

    def rooms(self, credentials: Credentials) -> RoomsAnswer:
        """Every page of the tenant's rooms (see ``RoomList.rooms``)."""
        rooms: list[Room] = []
        tokens: RefreshedTokens | None = None
        link: str | None = None
        for _ in range(MAX_PAGES):
            if tokens is not None:
                credentials = credentials.with_tokens(tokens)
            page, fresh = self._reader.call(credentials, self._sender(link), "places")
            tokens = fresh or tokens
            listed = (page.value if page else None) or []
            rooms.extend(_room(item) for item in listed if item.email_address)
            link = page.odata_next_link if page else None
            if not link:
                return RoomsAnswer(tuple(rooms), tokens)
        raise ProviderUnavailable(f"Microsoft Graph places kept paging ({MAX_PAGES})")

    def close(self) -> None:
        """Close the HTTP clients and stop the event loop."""
        self._reader.close()

    def _sender(
        self, link: str | None
    ) -> Callable[[GraphServiceClient], Awaitable[RoomCollectionResponse | None]]:
        """Sends the first page's request, or follows ``link`` (an ``@odata.nextLink``)."""

        async def send(client: GraphServiceClient) -> RoomCollectionResponse | None:
            builder = client.places.graph_room
            if link:
                return await builder.with_url(link).get()
            query = GraphRoomRequestBuilder.GraphRoomRequestBuilderGetQueryParameters(
                top=self._page_size
            )
            config: RequestConfiguration[Any] = RequestConfiguration(query_parameters=query)
            return await builder.get(request_configuration=config)

        return send


def _room(item: GraphRoom) -> Room:
    floor = item.floor_label or (str(item.floor_number) if item.floor_number is not None else None)
    return Room(
        email=item.email_address or "",
        name=item.display_name or item.nickname or "",
        capacity=item.capacity,
        building=item.building or None,
        floor=floor or None,
        provider=Provider.MICROSOFT,
    )
