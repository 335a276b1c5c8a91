"""Building the real msgraph-sdk client against the sandbox (PROVIDERS.md B9 recipe)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from kiota_http.middleware.options import UrlReplaceHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import (
    DeltaRequestBuilder,
)
from msgraph_core import GraphClientFactory


class RefreshTokenProvider(AccessTokenProvider):
    """Gets access tokens from the sandbox token endpoint with a refresh token (rotating)."""

    def __init__(self, token_url: str, refresh_token: str, client_id: str = "calsync-test") -> None:
        self.token_url = token_url
        self.refresh_token = refresh_token
        self.client_id = client_id
        self.access_token: str | None = None
        self.expires_at = 0.0

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        """A live access token, refreshed when missing or expired."""
        if self.access_token is None or time.time() >= self.expires_at:
            await self.refresh()
        assert self.access_token is not None
        return self.access_token

    async def refresh(self) -> None:
        """Refresh now."""
        async with httpx.AsyncClient() as http:
            response = await http.post(
                self.token_url,
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": self.refresh_token,
                    "client_id": self.client_id,
                    "client_secret": "test-secret",
                    "scope": "https://graph.microsoft.com/.default offline_access",
                },
            )
        response.raise_for_status()
        answer = response.json()
        self.access_token = answer["access_token"]
        self.refresh_token = answer.get("refresh_token", self.refresh_token)
        self.expires_at = time.time() + answer["expires_in"]

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        """Any host: the sandbox runs on localhost."""
        return AllowedHostsValidator([])


def graph_client(
    base_url: str, tokens: AccessTokenProvider
) -> tuple[GraphServiceClient, httpx.AsyncClient]:
    """A GraphServiceClient with the default middleware, talking to ``base_url``."""
    options = {
        UrlReplaceHandlerOption.get_key(): UrlReplaceHandlerOption(
            enabled=True, replacement_pairs={"/users/me-token-to-replace": "/me"}
        )
    }
    raw = httpx.AsyncClient()
    http = GraphClientFactory.create_with_default_middleware(client=raw, options=options)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(tokens), client=http)
    adapter.base_url = base_url
    return GraphServiceClient(request_adapter=adapter), http


def timed(start: str, end: str, **fields: Any) -> dict[str, Any]:
    """A Graph event body with UTC times."""
    return {
        "start": {"dateTime": start, "timeZone": "UTC"},
        "end": {"dateTime": end, "timeZone": "UTC"},
        **fields,
    }


def prefer(*preferences: str, query: Any = None) -> RequestConfiguration[Any]:
    """A request configuration sending ``Prefer`` headers (and optional query parameters)."""
    headers = HeadersCollection()
    headers.add("Prefer", list(preferences))
    return RequestConfiguration(headers=headers, query_parameters=query)


def delta_query(start: str, end: str) -> DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters:
    """Query parameters of a first calendarView/delta call."""
    return DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        start_date_time=start, end_date_time=end
    )


def error_code(error: ODataError) -> str | None:
    """The Graph ``error.code`` of a failed call."""
    return error.error.code if error.error else None


def in_hours(hours: float) -> dt.datetime:
    """An aware UTC time ``hours`` from now."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)
