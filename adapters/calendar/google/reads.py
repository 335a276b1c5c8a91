"""One live Google read: a per-user service, bounded retries, our errors, reported tokens.

Shared by ``availability`` (Calendar ``freebusy.query``) and ``rooms``
(Directory ``resources.calendars.list``). Sessions are the same ``GoogleSession`` the
calendar source keeps, built around whichever discovery service the reader asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.oauth2.credentials import Credentials as GoogleCredentials

from adapters.calendar.google.errors import (
    call_google,
)
from adapters.calendar.google.source import (
    GoogleSession,
    adopt_access_token,
    close_session,
    naive_utc,
    unreported_tokens,
)
from adapters.calendar.reads import INTERACTIVE_RETRY
from adapters.calendar.retry import RetryPolicy
from adapters.calendar.sessions import SessionCache
from adapters.calendar.source import Credentials, RefreshedTokens
from domain.model import Provider

#: Builds a discovery service (``build(...)``) for a user from their google-auth credentials.
ServiceBuilder = Callable[[GoogleCredentials, Credentials], Any]


class GoogleReader:
    """Runs one request at a time per user on a cached service.

    Args:
        build_service: makes the service (Calendar, Directory...) for a user.
        retry: retries inside one call for 429, rate-limit 403s, 5xx and connection errors.
        max_cached_users: users whose built service is kept between calls.
    """

    def __init__(
        self,
        build_service: ServiceBuilder,
        *,
        retry: RetryPolicy | None = None,
        max_cached_users: int = 128,
    ) -> None:
        self._build_service = build_service
        self._retry = retry or INTERACTIVE_RETRY
        self._sessions: SessionCache[GoogleSession] = SessionCache(
            self._build_session, close_session, max_cached_users
        )

    def execute(
        self, credentials: Credentials, make_request: Callable[[Any], Any], operation: str
    ) -> tuple[dict[str, Any], RefreshedTokens | None]:
        """``make_request(service).execute()`` with retries; returns the body and new tokens.

        Raises:
            AuthorizationRevoked: ``invalid_grant`` on refresh, or 401 with a fresh token.
            ProviderUnavailable: 429, rate-limit 403, 5xx or no connection, after retries.
            ProviderRejected: any other refusal.
            ValueError: ``credentials`` are not for Google.
        """
        if credentials.provider is not Provider.GOOGLE:
            raise ValueError(f"Google {operation} given {credentials.provider} credentials")
        session = self._sessions.get(credentials)
        with session.lock:
            adopt_access_token(session.google_credentials, credentials)
            body = self._call(
                lambda: make_request(session.service).execute(num_retries=0), operation
            )
            tokens = unreported_tokens(session, credentials)
        return dict(body or {}), tokens

    def close(self) -> None:
        """Close every cached service's connections."""
        for session in self._sessions.clear():
            close_session(session)

    def _build_session(self, credentials: Credentials) -> GoogleSession:
        google_credentials = GoogleCredentials(
            token=credentials.access_token,
            refresh_token=credentials.refresh_token,
            token_uri=credentials.token_url,
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
            expiry=naive_utc(credentials.expires_at),
        )
        service = self._build_service(google_credentials, credentials)
        return GoogleSession(service, google_credentials, {credentials.refresh_token})

    def _call(self, action: Callable[[], Any], operation: str) -> Any:
        return call_google(self._retry, action, operation)
