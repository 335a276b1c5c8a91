"""The HTTP side of Graph: the middleware client (PROVIDERS.md B9) and its errors as ours."""

from __future__ import annotations

from typing import Any

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.request_option import RequestOption
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import RetryHandler
from kiota_http.middleware.options import RetryHandlerOption, UrlReplaceHandlerOption
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core import GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler

from adapters.calendar.errors import (
    PROVIDER_ERRORS,
    AuthorizationRevoked,
    CalendarSourceError,
    CursorExpired,
    ProviderRejected,
    ProviderUnavailable,
)
from adapters.calendar.retry import parse_retry_after

#: Graph error codes that mean "the delta state is gone: start a new round".
RESYNC_CODES = frozenset({"syncStateNotFound", "resyncRequired", "syncStateInvalid"})

#: Statuses kiota's RetryHandler does not retry but that are worth a few tries.
RETRIED_HERE = frozenset({500, 502})

#: Any error status is parsed as Graph's ``ODataError``.
ERROR_MAP: dict[str, Any] = {"XXX": ODataError}


def graph_http_client(
    timeout: float, retry: RetryHandlerOption, max_retry_after: float
) -> httpx.AsyncClient:
    """Graph's default middleware (retry, redirect, URL replace...) around a plain client,
    with kiota's RetryHandler bounded to ``max_retry_after`` (see ``BoundedRetryHandler``).

    Call it on the event loop that will use the client.
    """
    options: dict[str, RequestOption] = {
        UrlReplaceHandlerOption.get_key(): UrlReplaceHandlerOption(
            enabled=True, replacement_pairs={"/users/me-token-to-replace": "/me"}
        ),
        RetryHandlerOption.get_key(): retry,
    }
    middleware = [
        BoundedRetryHandler(retry, max_retry_after)
        if isinstance(handler, RetryHandler)
        else handler
        for handler in KiotaClientFactory.get_default_middleware(options)
    ]
    middleware.append(GraphTelemetryHandler())  # as create_with_default_middleware does
    raw = httpx.AsyncClient(timeout=timeout)
    return GraphClientFactory.create_with_custom_middleware(middleware, client=raw)


class BoundedRetryHandler(RetryHandler):
    """kiota's RetryHandler, except that a ``Retry-After`` longer than ``max_retry_after``
    ends the call instead of blocking the worker (the error then carries the hint)."""

    def __init__(self, options: RetryHandlerOption, max_retry_after: float) -> None:
        super().__init__(options)
        self._max_retry_after = max_retry_after

    def get_delay_time(
        self,
        retry_count: int,
        response: httpx.Response | None = None,
        delay: float = RetryHandlerOption.DEFAULT_DELAY,
    ) -> float:
        """kiota's delay, or ``MAX_DELAY`` (which means "do not retry") past the bound."""
        wait = super().get_delay_time(retry_count, response, delay)
        return wait if wait <= self._max_retry_after else RetryHandlerOption.MAX_DELAY


def is_transient(error: BaseException) -> bool:
    """Whether another try may work that kiota did not make: 500/502, or no connection."""
    if isinstance(error, APIError):
        return error.response_status_code in RETRIED_HERE
    return isinstance(error, httpx.TransportError)


def retry_after_of(error: BaseException) -> float | None:
    """The ``Retry-After`` of an API error, in seconds, if Graph sent one."""
    if not isinstance(error, APIError) or not error.response_headers:
        return None
    headers = {str(k).lower(): v for k, v in error.response_headers.items()}
    return parse_retry_after(headers.get("retry-after"))


def translate_api_error(error: APIError, operation: str = "delta") -> CalendarSourceError:
    """Our error for an API error that retries did not cure.

    A 401 reaching here was answered to a token refreshed within the same call.
    ``operation`` names the call in the message.
    """
    status, code = error.response_status_code or 0, _code(error)
    PROVIDER_ERRORS.labels("microsoft", str(status)).inc()
    what = f"Microsoft Graph {operation} answered {status} {code}".rstrip()
    if status == 410 or code in RESYNC_CODES:
        return CursorExpired(f"{what}: a new delta round is required")
    if status == 401:
        return AuthorizationRevoked(f"{what} to a freshly refreshed token")
    if status == 429 or status >= 500:
        return ProviderUnavailable(what, retry_after_of(error))
    return ProviderRejected(what, status, code)


def error_code(error: APIError) -> str:
    """Graph's ``error.code`` of an API error, or "" when it has none."""
    return _code(error)


def error_message(error: APIError) -> str:
    """Graph's ``error.message`` of an API error, or "" when it has none."""
    if isinstance(error, ODataError) and error.error is not None:
        return str(error.error.message or "")
    return ""


def _code(error: APIError) -> str:
    if isinstance(error, ODataError) and error.error is not None:
        return str(error.error.code or "")
    return ""
