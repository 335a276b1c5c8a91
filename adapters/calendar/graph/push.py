"""Microsoft Graph subscriptions to a user's events: POST, PATCH (renew) and DELETE.

Same clients and token handling as ``GraphCalendarSource`` (msgraph-sdk on a private
event loop, sessions from ``adapters.calendar.graph.build_session``). Graph validates the
notification and lifecycle URLs (the ``validationToken`` handshake) before it answers the
POST; when they do not answer, the POST fails with 400 ``ValidationError``, which becomes a
``ProviderRejected`` saying so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.models.subscription import Subscription

from adapters.calendar.errors import CalendarSourceError, ProviderRejected, ProviderUnavailable
from adapters.calendar.graph.auth import DEFAULT_SCOPE
from adapters.calendar.graph.http import (
    error_code,
    error_message,
    translate_api_error,
)
from adapters.calendar.graph.source import GraphRuntime, GraphSession
from adapters.calendar.push import MAX_CLIENT_STATE, OpenedChannel
from adapters.calendar.retry import RetryPolicy
from adapters.calendar.source import Credentials, RefreshedTokens
from domain.model import Provider

T = TypeVar("T")

#: What Graph is told to notify about.
CHANGE_TYPES = "created,updated,deleted"


class GraphPushChannels:
    """Graph change-notification subscriptions on users' events.

    Args:
        retry: only its ``max_retry_after`` is used, to bound kiota's RetryHandler (a POST
            is not retried here: a retry after a lost answer would meet a 409).
        kiota_max_retries: retries of kiota's RetryHandler (429/503/504).
        timeout: seconds per HTTP request (Graph's handshake may take up to 10 s of it).
        max_cached_users: users whose client is kept between calls.
        scope: the ``scope`` of refresh requests.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        kiota_max_retries: int = RetryHandlerOption.DEFAULT_MAX_RETRIES,
        timeout: float = 30.0,
        max_cached_users: int = 128,
        scope: str = DEFAULT_SCOPE,
    ) -> None:
        self._graph = GraphRuntime(
            "calsync-graph-push",
            retry=retry,
            kiota_max_retries=kiota_max_retries,
            timeout=timeout,
            max_cached_users=max_cached_users,
            scope=scope,
        )

    def verify(self, credentials: Credentials) -> RefreshedTokens:
        """Refresh the access token once (see ``PushChannels.verify``)."""
        session = self._session(credentials)

        async def refresh() -> RefreshedTokens:
            tokens = session.tokens
            tokens.forget_access_token()
            access_token = await tokens.get_authorization_token(credentials.api_url)
            return RefreshedTokens(access_token, tokens.expires_at, tokens.refresh_token)

        return self._run(refresh(), "token refresh")

    def open(
        self,
        credentials: Credentials,
        *,
        channel_id: str,
        secret: str,
        address: str,
        lifecycle_address: str | None = None,
        expires_at: datetime,
    ) -> OpenedChannel:
        """``POST /subscriptions`` on ``users/{user}/events`` (see ``PushChannels.open``).

        ``channel_id`` is not sent: Graph names the subscription, and the returned
        ``OpenedChannel.id`` is that name.
        """
        if len(secret) > MAX_CLIENT_STATE:
            raise ValueError(f"Graph clientState is at most {MAX_CLIENT_STATE} characters")
        body = Subscription(
            change_type=CHANGE_TYPES,
            notification_url=address,
            lifecycle_notification_url=lifecycle_address,
            resource=f"users/{credentials.user}/events",
            expiration_date_time=expires_at.astimezone(UTC),
            client_state=secret,
        )
        session = self._session(credentials)
        # Immutable ids in notifications, like the delta rounds the sync reads (PROVIDERS.md).
        headers = HeadersCollection()
        headers.add("Prefer", 'IdType="ImmutableId"')
        config: RequestConfiguration[Any] = RequestConfiguration(headers=headers)
        created = self._call(
            session,
            credentials,
            lambda: session.client.subscriptions.post(body, request_configuration=config),
            "subscriptions",
        )
        if created is None or not created.id or created.expiration_date_time is None:
            raise ProviderUnavailable("Microsoft Graph created a subscription without id or expiry")
        return OpenedChannel(created.id, created.id, _aware(created.expiration_date_time))

    def renew(self, credentials: Credentials, channel_id: str, expires_at: datetime) -> datetime:
        """``PATCH /subscriptions/{id}`` with a new ``expirationDateTime``; returns Graph's."""
        body = Subscription(expiration_date_time=expires_at.astimezone(UTC))
        session = self._session(credentials)
        item = session.client.subscriptions.by_subscription_id(channel_id)
        renewed = self._call(session, credentials, lambda: item.patch(body), "subscription renew")
        granted = renewed.expiration_date_time if renewed is not None else None
        return _aware(granted) if granted is not None else expires_at

    def close(self, credentials: Credentials, channel_id: str, resource_id: str | None) -> None:
        """``DELETE /subscriptions/{id}``; one Graph does not know (404) counts as deleted."""
        session = self._session(credentials)
        item = session.client.subscriptions.by_subscription_id(channel_id)
        try:
            self._call(session, credentials, item.delete, "subscription delete")
        except ProviderRejected as error:
            if error.status != 404:
                raise

    def shutdown(self) -> None:
        """Close the HTTP clients and stop the event loop (both restart on next use)."""
        self._graph.close()

    def _session(self, credentials: Credentials) -> GraphSession:
        if credentials.provider is not Provider.MICROSOFT:
            raise ValueError(f"Graph push channels given {credentials.provider} credentials")
        return self._graph.session(credentials)

    def _call(
        self,
        session: GraphSession,
        credentials: Credentials,
        send: Callable[[], Awaitable[T]],
        operation: str,
    ) -> T:
        """One request; a 401 to a token not refreshed in this call is retried, refreshed."""

        async def once() -> T:
            session.tokens.offer(credentials)
            refreshes = session.tokens.refreshes
            try:
                return await send()
            except APIError as error:
                if error.response_status_code != 401 or session.tokens.refreshes != refreshes:
                    raise
                session.tokens.forget_access_token()
                return await send()

        return self._run(once(), operation)

    def _run(self, coroutine: Awaitable[T], operation: str) -> T:
        async def wrapped() -> T:
            return await coroutine

        try:
            return self._graph.run(wrapped())
        except APIError as error:
            raise _translate(error, operation) from None
        except CalendarSourceError:
            raise
        except (httpx.TransportError, TimeoutError) as error:
            raise ProviderUnavailable(f"Microsoft Graph unreachable: {error!r}") from None


def _translate(error: APIError, operation: str) -> CalendarSourceError:
    """Our error; a failed validation handshake says so plainly."""
    status, code, detail = error.response_status_code or 0, error_code(error), error_message(error)
    if status == 400 and "validation request" in detail.lower():
        return ProviderRejected(
            "Microsoft Graph refused the subscription: the notification URL did not answer "
            f"the validation handshake ({detail or code})",
            status,
            code,
        )
    return translate_api_error(error, operation)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
