"""Microsoft Graph v1.0 as a ``CalendarSource`` (msgraph-sdk on a private event loop).

A sync run is one ``calendarView/delta`` round (PROVIDERS.md B6): the first request
carries the window, then ``@odata.nextLink`` pages follow until ``@odata.deltaLink``, which
is the next run's cursor. Every request asks for UTC times and immutable ids.

The client is built per PROVIDERS.md B9 (default middleware, so kiota's RetryHandler
retries 429/503/504 honouring ``Retry-After``, here up to a bound: see ``http``).
Responses are read as raw JSON through the SDK's request adapter rather than as SDK
models: model parsing costs milliseconds per event.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.authentication import BaseBearerTokenAuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from kiota_abstractions.request_information import RequestInformation
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import (
    DeltaRequestBuilder,
)

from adapters.calendar.errors import ProviderUnavailable
from adapters.calendar.graph.auth import DEFAULT_SCOPE, RefreshTokenProvider
from adapters.calendar.graph.event_loop import LoopThread
from adapters.calendar.graph.http import (
    ERROR_MAP,
    graph_http_client,
    is_transient,
    retry_after_of,
    translate_api_error,
)
from adapters.calendar.graph.mapping import graph_event
from adapters.calendar.retry import RetryPolicy
from adapters.calendar.sessions import SessionCache
from adapters.calendar.source import ChangePage, Credentials, RefreshedTokens
from domain.eligibility import SyncWindow
from domain.model import Provider

#: Events per delta page (``Prefer: odata.maxpagesize``).
DEFAULT_PAGE_SIZE = 100


T = TypeVar("T")


@dataclass
class GraphSession:
    """One user's Graph client and the tokens it authenticates with."""

    client: GraphServiceClient
    tokens: RefreshTokenProvider
    refresh_tokens: set[str]


def build_session(
    credentials: Credentials,
    graph_http: httpx.AsyncClient,
    token_http: httpx.AsyncClient,
    scope: str,
) -> GraphSession:
    """A user's Graph client over the shared HTTP clients (``http`` has the middleware).

    Args:
        credentials: the user's grant; ``api_url`` becomes the client's base URL.
        graph_http: the Graph client made by ``graph_http_client``.
        token_http: a plain client for the token endpoint.
        scope: the ``scope`` of refresh requests.
    """
    tokens = RefreshTokenProvider(credentials, token_http, scope)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(tokens), graph_http)
    adapter.base_url = credentials.api_url.rstrip("/")
    return GraphSession(GraphServiceClient(request_adapter=adapter), tokens, tokens.refresh_tokens)


class GraphCalendarSource:
    """Reads a user's default Microsoft 365 calendar, page by page.

    Args:
        page_size: events per delta page.
        retry: retries inside one call for connection errors and 500/502 (kiota's own
            RetryHandler takes care of 429/503/504); its ``max_retry_after`` also bounds
            the ``Retry-After`` kiota waits out in the call.
        kiota_max_retries: retries of kiota's RetryHandler (it honours ``Retry-After``).
        timeout: seconds per HTTP request.
        max_cached_users: users whose client is kept between calls.
        scope: the ``scope`` of refresh requests.
    """

    def __init__(
        self,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        retry: RetryPolicy | None = None,
        kiota_max_retries: int = RetryHandlerOption.DEFAULT_MAX_RETRIES,
        timeout: float = 30.0,
        max_cached_users: int = 128,
        scope: str = DEFAULT_SCOPE,
    ) -> None:
        self._page_size = page_size
        self._graph = GraphRuntime(
            "calsync-graph",
            retry=retry,
            kiota_max_retries=kiota_max_retries,
            timeout=timeout,
            max_cached_users=max_cached_users,
            scope=scope,
        )

    def changes(
        self,
        credentials: Credentials,
        *,
        cursor: str | None,
        page: str | None,
        window: SyncWindow,
    ) -> ChangePage:
        """Return one page of a ``calendarView/delta`` round of the user's calendar.

        Args:
            credentials: a Microsoft grant; ``user`` is the user's id or UPN.
            cursor: the last round's ``@odata.deltaLink``; None for a full sync of ``window``.
            page: the previous page's ``@odata.nextLink`` within this round, or None.
            window: the sync window (``startDateTime``/``endDateTime`` of a first request).

        Returns:
            The page; ``sync_cursor`` (the deltaLink) only on the last one.

        Raises:
            CursorExpired: 410, ``syncStateNotFound`` or ``resyncRequired``.
            AuthorizationRevoked: ``invalid_grant`` on refresh, or 401 with a fresh token.
            ProviderUnavailable: 429/5xx after retries, or the service is unreachable.
            ProviderRejected: any other refusal.
            ValueError: ``credentials`` are not for Microsoft.
        """
        if credentials.provider is not Provider.MICROSOFT:
            raise ValueError(f"Graph source given {credentials.provider} credentials")
        session = self._graph.session(credentials)
        link = page or cursor

        def fetch_once() -> tuple[dict[str, Any], RefreshedTokens | None]:
            coroutine = self._fetch(session, credentials, link, window)
            return self._graph.run(coroutine)

        try:
            body, tokens = self._graph.retry.call(
                fetch_once, is_transient=is_transient, retry_after_of=retry_after_of
            )
        except APIError as error:
            raise translate_api_error(error) from None
        except (httpx.TransportError, TimeoutError) as error:
            raise ProviderUnavailable(f"Microsoft Graph unreachable: {error!r}") from None
        next_link = body.get("@odata.nextLink")
        return ChangePage(
            events=tuple(graph_event(item) for item in body.get("value") or ()),
            next_page=next_link,
            sync_cursor=None if next_link else body.get("@odata.deltaLink"),
            tokens=tokens,
        )

    def close(self) -> None:
        """Close the HTTP clients and stop the event loop (both restart on next use)."""
        self._graph.close()

    async def _fetch(
        self, session: GraphSession, credentials: Credentials, link: str | None, window: SyncWindow
    ) -> tuple[dict[str, Any], RefreshedTokens | None]:
        """One page; a 401 to a token not refreshed in this call is retried once, refreshed."""
        session.tokens.offer(credentials)
        refreshes = session.tokens.refreshes
        try:
            body = await self._send(session, credentials.user, link, window)
        except APIError as error:
            if error.response_status_code != 401 or session.tokens.refreshes != refreshes:
                raise
            session.tokens.forget_access_token()
            body = await self._send(session, credentials.user, link, window)
        return body, session.tokens.unreported(credentials)

    async def _send(
        self, session: GraphSession, user: str, link: str | None, window: SyncWindow
    ) -> dict[str, Any]:
        request = self._delta_request(session.client, user, link, window)
        # Raw bytes: the SDK's own error mapping, but no per-event model building.
        send: Callable[..., Awaitable[bytes | None]] = (
            session.client.request_adapter.send_primitive_async
        )
        raw = await send(request, "bytes", ERROR_MAP)
        try:
            return dict(json.loads(raw)) if raw else {}
        except (ValueError, TypeError):
            raise ProviderUnavailable(
                "Microsoft Graph answered with a body that is not JSON"
            ) from None

    def _delta_request(
        self, client: GraphServiceClient, user: str, link: str | None, window: SyncWindow
    ) -> RequestInformation:
        delta = client.users.by_user_id(user).calendar_view.delta
        headers = HeadersCollection()
        headers.add(
            "Prefer",
            [
                'outlook.timezone="UTC"',
                'IdType="ImmutableId"',
                f"odata.maxpagesize={self._page_size}",
            ],
        )
        if link:
            config: RequestConfiguration[Any] = RequestConfiguration(headers=headers)
            return delta.with_url(link).to_get_request_information(config)
        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            start_date_time=_iso(window.start), end_date_time=_iso(window.end)
        )
        config = RequestConfiguration(headers=headers, query_parameters=query)
        return delta.to_get_request_information(config)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GraphRuntime:
    """What every Graph adapter needs: a private event loop thread (msgraph-sdk is async),
    the shared HTTP clients made on it, per-user sessions, and a bounded wait per call.

    Args:
        thread_name: name of the loop thread, for stack dumps.
        retry: our retry policy around kiota's own (whose Retry-After wait it bounds).
        kiota_max_retries: retries kiota's retry handler makes inside one call.
        timeout: seconds per HTTP request.
        max_cached_users: per-user sessions kept.
        scope: the ``scope`` of refresh requests.
    """

    def __init__(
        self,
        thread_name: str,
        *,
        retry: RetryPolicy | None,
        kiota_max_retries: int,
        timeout: float,
        max_cached_users: int,
        scope: str,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._kiota_retry = RetryHandlerOption(max_retries=kiota_max_retries)
        self._timeout = timeout
        self._scope = scope
        self._loop = LoopThread(thread_name)
        self._http: tuple[httpx.AsyncClient, httpx.AsyncClient] | None = None
        self._sessions: SessionCache[GraphSession] = SessionCache(
            self._build_session, lambda session: None, max_cached_users
        )

    def session(self, credentials: Credentials) -> GraphSession:
        return self._sessions.get(credentials)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop, waiting no longer than a call can take."""
        return self._loop.run(coroutine, timeout=self._call_timeout())

    def close(self) -> None:
        """Close the HTTP clients and stop the event loop (both restart on next use)."""
        self._sessions.clear()
        clients, self._http = self._http, None

        async def close_clients() -> None:
            for client in clients or ():
                await client.aclose()

        self._loop.close(close_clients)

    def _call_timeout(self) -> float:
        # Every request, kiota's retries and their Retry-After waits, with room to spare.
        attempts = self._kiota_retry.max_retry + 1
        return attempts * (self._timeout + RetryHandlerOption.MAX_DELAY) + self._timeout

    def _build_session(self, credentials: Credentials) -> GraphSession:
        # Called by the session cache under its lock, so the shared clients are made once.
        if self._http is None:
            self._http = self._loop.run(self._make_clients())
        graph_http, token_http = self._http
        return build_session(credentials, graph_http, token_http, self._scope)

    async def _make_clients(self) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        graph_http = graph_http_client(self._timeout, self._kiota_retry, self.retry.max_retry_after)
        return graph_http, httpx.AsyncClient(timeout=self._timeout)
