"""Google Calendar push channels: ``events.watch`` on ``primary`` and ``channels.stop``.

Uses the same per-user sessions (google-api-python-client service, google-auth
credentials) as ``GoogleCalendarSource``, built by ``adapters.calendar.google.source``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import google_auth_httplib2
import httplib2

from adapters.calendar.errors import ProviderRejected, ProviderUnavailable
from adapters.calendar.google.errors import (
    call_google,
)
from adapters.calendar.google.source import (
    GoogleSession,
    adopt_access_token,
    build_session,
    close_session,
)
from adapters.calendar.push import MAX_GOOGLE_CHANNEL_ID, MAX_GOOGLE_TOKEN, OpenedChannel
from adapters.calendar.retry import RetryPolicy
from adapters.calendar.sessions import SessionCache
from adapters.calendar.source import Credentials, RefreshedTokens
from domain.model import Provider

T = TypeVar("T")

#: Seconds a token refresh may take.
REFRESH_TIMEOUT = 30.0


class GooglePushChannels:
    """Notification channels on users' primary Google calendars.

    Args:
        retry: retries inside one call for 429, rate-limit 403s, 5xx and connection errors.
        max_cached_users: users whose built service is kept between calls.
    """

    def __init__(self, *, retry: RetryPolicy | None = None, max_cached_users: int = 128) -> None:
        self._retry = retry or RetryPolicy()
        self._sessions: SessionCache[GoogleSession] = SessionCache(
            build_session, close_session, max_cached_users
        )

    def verify(self, credentials: Credentials) -> RefreshedTokens:
        """Refresh the access token once (see ``PushChannels.verify``)."""
        session = self._session(credentials)
        with session.lock:
            current = session.google_credentials
            request = google_auth_httplib2.Request(httplib2.Http(timeout=REFRESH_TIMEOUT))
            self._call(lambda: current.refresh(request), "token refresh")
            expiry = current.expiry.replace(tzinfo=UTC) if current.expiry else None
            refresh_token = current.refresh_token or credentials.refresh_token
            session.refresh_tokens.add(refresh_token)
            return RefreshedTokens(str(current.token), expiry, refresh_token)

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
        """``events.watch`` on the user's primary calendar (see ``PushChannels.open``).

        ``lifecycle_address`` is ignored: Google has no lifecycle notifications.
        """
        if len(channel_id) > MAX_GOOGLE_CHANNEL_ID:
            raise ValueError(f"Google channel ids are at most {MAX_GOOGLE_CHANNEL_ID} characters")
        if len(secret) > MAX_GOOGLE_TOKEN:
            raise ValueError(f"Google channel tokens are at most {MAX_GOOGLE_TOKEN} characters")
        body = {
            "id": channel_id,
            "type": "web_hook",
            "address": address,
            "token": secret,
            "expiration": str(int(expires_at.timestamp() * 1000)),
        }
        session = self._session(credentials)
        answer = self._execute(
            session,
            credentials,
            lambda: session.service.events().watch(calendarId="primary", body=body),
            "events.watch",
        )
        try:
            granted = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
            return OpenedChannel(str(answer["id"]), str(answer["resourceId"]), granted)
        except (KeyError, TypeError, ValueError):
            raise ProviderUnavailable(
                "Google events.watch answered without id, resourceId or expiration"
            ) from None

    def renew(self, credentials: Credentials, channel_id: str, expires_at: datetime) -> datetime:
        """Google channels cannot be renewed: open a new one and close the old one."""
        raise NotImplementedError("Google channels cannot be renewed; open a new channel")

    def close(self, credentials: Credentials, channel_id: str, resource_id: str | None) -> None:
        """``channels.stop``; a channel Google does not know (404) counts as stopped.

        Raises:
            ValueError: ``resource_id`` is missing (Google needs it to stop a channel).
        """
        if not resource_id:
            raise ValueError("stopping a Google channel needs its resource id")
        body = {"id": channel_id, "resourceId": resource_id}
        session = self._session(credentials)
        try:
            self._execute(
                session,
                credentials,
                lambda: session.service.channels().stop(body=body),
                "channels.stop",
            )
        except ProviderRejected as error:
            if error.status != 404:
                raise

    def shutdown(self) -> None:
        """Close every cached service's connections."""
        for session in self._sessions.clear():
            close_session(session)

    def _session(self, credentials: Credentials) -> GoogleSession:
        if credentials.provider is not Provider.GOOGLE:
            raise ValueError(f"Google push channels given {credentials.provider} credentials")
        return self._sessions.get(credentials)

    def _execute(
        self,
        session: GoogleSession,
        credentials: Credentials,
        make_request: Callable[[], Any],
        operation: str,
    ) -> dict[str, Any]:
        with session.lock:
            adopt_access_token(session.google_credentials, credentials)
            answer = self._call(lambda: make_request().execute(num_retries=0), operation)
        return dict(answer or {})

    def _call(self, action: Callable[[], T], operation: str) -> T:
        return call_google(self._retry, action, operation)
