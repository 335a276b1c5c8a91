"""One live Graph read: msgraph-sdk on the shared runtime, bounded retries, our errors.

Shared by ``availability`` (``calendar/getSchedule``) and ``rooms`` (Places).
Same client construction and token handling as ``GraphCalendarSource`` (``GraphRuntime``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from kiota_abstractions.api_error import APIError
from msgraph import GraphServiceClient

from adapters.calendar.errors import CalendarSourceError, ProviderUnavailable
from adapters.calendar.graph.auth import DEFAULT_SCOPE
from adapters.calendar.graph.http import is_transient, retry_after_of, translate_api_error
from adapters.calendar.graph.source import GraphRuntime
from adapters.calendar.reads import (
    INTERACTIVE_KIOTA_RETRIES,
    INTERACTIVE_RETRY,
    INTERACTIVE_TIMEOUT,
)
from adapters.calendar.retry import RetryPolicy
from adapters.calendar.source import Credentials, RefreshedTokens
from domain.model import Provider

T = TypeVar("T")


class GraphReader:
    """Runs Graph requests for users on a private event loop.

    Args:
        thread_name: name of the loop thread.
        retry: retries for connection errors and 500/502 (kiota retries 429/503/504); its
            ``max_retry_after`` also bounds the ``Retry-After`` kiota waits out.
        kiota_max_retries: retries of kiota's RetryHandler.
        timeout: seconds per HTTP request.
        max_cached_users: users whose client is kept between calls.
        scope: the ``scope`` of refresh requests.
        runtime: the runtime class (a subclass may add hooks to the HTTP clients).
    """

    def __init__(
        self,
        thread_name: str,
        *,
        retry: RetryPolicy | None = None,
        kiota_max_retries: int = INTERACTIVE_KIOTA_RETRIES,
        timeout: float = INTERACTIVE_TIMEOUT,
        max_cached_users: int = 128,
        scope: str = DEFAULT_SCOPE,
        runtime: type[GraphRuntime] = GraphRuntime,
    ) -> None:
        self._graph = runtime(
            thread_name,
            retry=retry or INTERACTIVE_RETRY,
            kiota_max_retries=kiota_max_retries,
            timeout=timeout,
            max_cached_users=max_cached_users,
            scope=scope,
        )

    def call(
        self,
        credentials: Credentials,
        send: Callable[[GraphServiceClient], Awaitable[T]],
        operation: str,
        on_error: Callable[[APIError], CalendarSourceError | None] | None = None,
    ) -> tuple[T, RefreshedTokens | None]:
        """``send(client)`` with retries; returns its result and tokens the caller lacks.

        A 401 to an access token not refreshed within the call is retried once, refreshed.
        ``on_error`` may turn an API error into one of ours first (None: not handled).

        Raises:
            AuthorizationRevoked: ``invalid_grant`` on refresh, or 401 with a fresh token.
            ProviderUnavailable: 429/5xx after retries, or the service is unreachable.
            ProviderRejected: any other refusal.
            ValueError: ``credentials`` are not for Microsoft.
        """
        if credentials.provider is not Provider.MICROSOFT:
            raise ValueError(f"Graph {operation} given {credentials.provider} credentials")
        session = self._graph.session(credentials)

        async def once() -> tuple[T, RefreshedTokens | None]:
            session.tokens.offer(credentials)
            refreshes = session.tokens.refreshes
            try:
                result = await send(session.client)
            except APIError as error:
                if error.response_status_code != 401 or session.tokens.refreshes != refreshes:
                    raise
                session.tokens.forget_access_token()
                result = await send(session.client)
            return result, session.tokens.unreported(credentials)

        try:
            return self._graph.retry.call(
                lambda: self._graph.run(once()),
                is_transient=is_transient,
                retry_after_of=retry_after_of,
            )
        except APIError as error:
            ours = on_error(error) if on_error is not None else None
            raise (ours or translate_api_error(error, operation)) from None
        except CalendarSourceError:
            raise
        except (httpx.TransportError, TimeoutError) as error:
            raise ProviderUnavailable(f"Microsoft Graph unreachable: {error!r}") from None

    def close(self) -> None:
        """Close the HTTP clients and stop the event loop (both restart on next use)."""
        self._graph.close()
