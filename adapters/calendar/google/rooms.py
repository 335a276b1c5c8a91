"""Google rooms: Admin SDK Directory ``resources.calendars.list`` (``customer=my_customer``).

The Directory API lives at the API root, not under the Calendar endpoint the credentials
name: ``directory_endpoint`` derives it (Google's own root becomes
``https://admin.googleapis.com/``; any other root, such as the sandbox's, is kept).
Resources of category ``OTHER`` (projectors, cars...) are not rooms and are left out;
``CATEGORY_UNKNOWN`` is kept, as resources made before categories existed have it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from googleapiclient.discovery import build

from adapters.calendar.errors import ProviderUnavailable
from adapters.calendar.google.reads import GoogleReader
from adapters.calendar.retry import RetryPolicy
from adapters.calendar.rooms import MAX_PAGES, Room, RoomsAnswer
from adapters.calendar.source import Credentials, RefreshedTokens
from domain.model import Provider

#: The Workspace of the user whose grant is used.
CUSTOMER = "my_customer"

#: Resources per page (the Directory API's maximum).
DEFAULT_PAGE_SIZE = 500

#: Where the Calendar endpoint sits under an API root.
CALENDAR_PATH = "calendar/v3/"

#: Google's API root, and where its Directory API answers instead.
GOOGLE_API_HOST = "www.googleapis.com"
DIRECTORY_ROOT = "https://admin.googleapis.com/"

NOT_ROOMS = frozenset({"OTHER"})


def directory_endpoint(calendar_api_url: str) -> str:
    """The Directory ``api_endpoint`` next to a Calendar endpoint such as ``.../calendar/v3/``."""
    root = calendar_api_url.rstrip("/") + "/"
    if root.endswith("/" + CALENDAR_PATH):
        root = root.removesuffix(CALENDAR_PATH)
    return DIRECTORY_ROOT if urlsplit(root).hostname == GOOGLE_API_HOST else root


def directory_service(google_credentials: Any, credentials: Credentials) -> Any:
    """The Directory v1 service next to ``credentials.api_url``, bundled discovery doc."""
    return build(
        "admin",
        "directory_v1",
        credentials=google_credentials,
        static_discovery=True,
        client_options={"api_endpoint": directory_endpoint(credentials.api_url)},
        cache_discovery=False,
    )


class GoogleRooms:
    """The conference rooms of a Google Workspace.

    Args:
        page_size: ``maxResults`` per page.
        retry: retries inside one call (defaults to the interactive policy).
        max_cached_users: users whose built service is kept between calls.
    """

    def __init__(
        self,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        retry: RetryPolicy | None = None,
        max_cached_users: int = 16,
    ) -> None:
        self._page_size = page_size
        self._reader = GoogleReader(
            directory_service, retry=retry, max_cached_users=max_cached_users
        )

    def rooms(self, credentials: Credentials) -> RoomsAnswer:
        """Every page of ``resources.calendars.list`` (see ``RoomList.rooms``)."""
        rooms: list[Room] = []
        tokens: RefreshedTokens | None = None
        page_token: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"customer": CUSTOMER, "maxResults": self._page_size}
            if page_token:
                params["pageToken"] = page_token
            if tokens is not None:
                credentials = credentials.with_tokens(tokens)
            body, fresh = self._reader.execute(
                credentials, _list_request(params), "resources.calendars.list"
            )
            tokens = fresh or tokens
            rooms.extend(_room(item) for item in body.get("items") or [] if _is_room(item))
            page_token = body.get("nextPageToken")
            if not page_token:
                return RoomsAnswer(tuple(rooms), tokens)
        raise ProviderUnavailable(f"Google resources.calendars.list kept paging ({MAX_PAGES})")

    def close(self) -> None:
        """Close every cached service's connections."""
        self._reader.close()


def _list_request(params: dict[str, Any]) -> Callable[[Any], Any]:
    return lambda service: service.resources().calendars().list(**params)


def _is_room(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and bool(item.get("resourceEmail"))
        and item.get("resourceCategory") not in NOT_ROOMS
    )


def _room(item: dict[str, Any]) -> Room:
    capacity = item.get("capacity")
    return Room(
        email=str(item["resourceEmail"]),
        name=str(item.get("resourceName") or item.get("generatedResourceName") or ""),
        capacity=capacity if isinstance(capacity, int) else None,
        building=_text(item.get("buildingId")),
        floor=_text(item.get("floorName")),
        provider=Provider.GOOGLE,
    )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
