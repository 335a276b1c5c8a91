"""Graph requests whose bodies we write as JSON, counted: the HTTP side of the event writer.

Requests are built with msgraph-sdk's request builders and sent through its request
adapter (kiota's middleware, token refresh) on ``GraphRuntime``, like the delta reads in
``source``; bodies go out and come back as raw JSON, so a PATCH carries exactly the
properties we mean to change and the answer can go through ``mapping`` as delta's
entries do.

A write reports how many HTTP requests it made to Graph. Retries happen at two levels
(ours around a request, kiota's RetryHandler inside it), so the count is taken on the HTTP
client: one per request sent, plus the retries kiota made of it, which its
``Retry-After``-honouring handler records in the request's ``Retry-Attempt`` header. Token
refreshes go to the token endpoint on another client and are not counted.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_builder import BaseRequestBuilder
from kiota_abstractions.headers_collection import HeadersCollection
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph import GraphServiceClient

from adapters.calendar.errors import CalendarSourceError, ProviderUnavailable
from adapters.calendar.graph.http import (
    ERROR_MAP,
)
from adapters.calendar.graph.reads import GraphReader
from adapters.calendar.graph.source import GraphRuntime
from adapters.calendar.retry import RetryPolicy
from adapters.calendar.source import Credentials, RefreshedTokens

Json = dict[str, Any]

#: kiota's header counting the retries of a request (``RetryHandler``).
RETRY_ATTEMPT = "Retry-Attempt"

#: Builds one request with the user's client (called afresh for every try).
Request = Callable[[GraphServiceClient], RequestInformation]

#: Translates an API error before the generic translation (None: not handled).
ErrorHook = Callable[[APIError], CalendarSourceError | None]


@dataclass
class Tally:
    """HTTP requests made to Graph on behalf of one write, retries included."""

    calls: int = 0


_TALLY: ContextVar[Tally | None] = ContextVar("calsync_graph_tally", default=None)


class GraphCalls:
    """Sends JSON requests to Graph for users, with retries, our errors and a call count.

    Arguments are those of ``GraphReader``, which does the sending on a runtime whose
    HTTP client counts requests into the ``Tally`` of the write under way.
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
        self._reader = GraphReader(
            thread_name,
            retry=retry or RetryPolicy(),
            kiota_max_retries=kiota_max_retries,
            timeout=timeout,
            max_cached_users=max_cached_users,
            scope=scope,
            runtime=_CountingRuntime,
        )

    def send(
        self,
        credentials: Credentials,
        request: Request,
        operation: str,
        tally: Tally,
        on_error: ErrorHook | None = None,
    ) -> tuple[Json, RefreshedTokens | None]:
        """Send ``request(client)``; returns the JSON answer and tokens the caller lacks.

        See ``GraphReader.call`` for the retries, the refresh on 401, ``on_error`` and the
        errors raised.
        """

        async def counted(client: GraphServiceClient) -> Json:
            _TALLY.set(tally)  # this task's own context: seen by the client's hooks
            return await _send_json(client, request)

        return self._reader.call(credentials, counted, operation, on_error)

    def close(self) -> None:
        """Close the HTTP clients and stop the event loop (both restart on next use)."""
        self._reader.close()


async def _send_json(client: GraphServiceClient, request: Request) -> Json:
    # Raw bytes: the SDK's own error mapping, but no model between our JSON and the wire.
    send: Callable[..., Awaitable[bytes | None]] = client.request_adapter.send_primitive_async
    raw = await send(request(client), "bytes", ERROR_MAP)
    if not raw:
        return {}
    try:
        answer = json.loads(raw)
    except (ValueError, TypeError):
        answer = None
    if not isinstance(answer, dict):
        raise ProviderUnavailable("Microsoft Graph answered with a body that is not a JSON object")
    return answer


class _CountingRuntime(GraphRuntime):
    """``GraphRuntime`` whose Graph client counts requests into the current ``Tally``."""

    async def _make_clients(self) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        graph_http, token_http = await super()._make_clients()
        hooks = graph_http.event_hooks
        graph_http.event_hooks = {
            "request": [*hooks.get("request", []), _count_request],
            "response": [*hooks.get("response", []), _count_retries],
        }
        return graph_http, token_http


async def _count_request(request: httpx.Request) -> None:
    tally = _TALLY.get()
    if tally is not None:
        tally.calls += 1


async def _count_retries(response: httpx.Response) -> None:
    tally = _TALLY.get()
    if tally is None:
        return
    with contextlib.suppress(ValueError):
        tally.calls += int(response.request.headers.get(RETRY_ATTEMPT, "0"))


def json_request(
    method: Method, builder: BaseRequestBuilder, body: Json | None, headers: HeadersCollection
) -> RequestInformation:
    """A request to ``builder``'s URL with ``body`` as raw JSON (no SDK model in between).

    Args:
        method: the HTTP method.
        builder: an msgraph-sdk request builder (its URL template and path parameters).
        body: the JSON body, if any.
        headers: headers to send (``Prefer``).
    """
    information = RequestInformation(method, builder.url_template, builder.path_parameters)
    information.headers.add_all(headers)
    information.headers.try_add("Accept", "application/json")
    if body is not None:
        information.set_stream_content(json.dumps(body).encode("utf-8"), "application/json")
    return information
