"""Google Calendar API v3 as a ``CalendarSource`` (google-api-python-client, google-auth).

Full sync: ``events.list`` of the ``primary`` calendar with ``timeMin``/``timeMax`` (R9);
incremental sync: the same with ``syncToken`` instead of the window, as Google requires
(PROVIDERS.md A2). ``singleEvents=true`` and ``maxResults`` go on every request, the
``syncToken`` ones included, so a changed series comes back as the same instances a full
sync listed, and Google sees the same parameters throughout.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.oauth2.credentials import Credentials as GoogleCredentials
from googleapiclient.discovery import build

from adapters.calendar.google.errors import (
    call_google,
)
from adapters.calendar.google.mapping import google_event
from adapters.calendar.retry import RetryPolicy
from adapters.calendar.sessions import SessionCache
from adapters.calendar.source import ChangePage, Credentials, RefreshedTokens
from domain.eligibility import SyncWindow
from domain.model import Provider

#: Events per page; Google's default (its maximum is 2500).
DEFAULT_PAGE_SIZE = 250


@dataclass
class GoogleSession:
    """One user's built service and the google-auth credentials it refreshes."""

    service: Any
    google_credentials: GoogleCredentials
    refresh_tokens: set[str]
    lock: threading.Lock = field(default_factory=threading.Lock)
    _events: Any = None

    @property
    def events(self) -> Any:
        """The ``events`` collection, built once: discovery builds its methods on every call
        (about 11 ms of CPU per list call, tests/bench/test_sync_throughput.py)."""
        if self._events is None:
            self._events = self.service.events()
        return self._events


class GoogleCalendarSource:
    """Reads a user's primary Google calendar, page by page.

    Args:
        page_size: ``maxResults`` per page.
        retry: retries inside one call for 429, rate-limit 403s, 5xx and connection errors.
        max_cached_users: users whose built service is kept between calls.
    """

    def __init__(
        self,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        retry: RetryPolicy | None = None,
        max_cached_users: int = 128,
    ) -> None:
        self._page_size = page_size
        self._retry = retry or RetryPolicy()
        self._sessions: SessionCache[GoogleSession] = SessionCache(
            build_session, close_session, max_cached_users
        )

    def changes(
        self,
        credentials: Credentials,
        *,
        cursor: str | None,
        page: str | None,
        window: SyncWindow,
    ) -> ChangePage:
        """Return one page of changes of the user's primary calendar.

        Args:
            credentials: a Google grant; ``user`` is the user's e-mail.
            cursor: the last run's ``nextSyncToken``; None for a full sync of ``window``.
            page: the previous page's ``nextPageToken`` within this run, or None.
            window: the sync window (sent as ``timeMin``/``timeMax`` on full syncs only).

        Returns:
            The page; ``sync_cursor`` (``nextSyncToken``) only on the last one.

        Raises:
            CursorExpired: 410 ``fullSyncRequired``.
            AuthorizationRevoked: ``invalid_grant`` on refresh, or 401 with a fresh token.
            ProviderUnavailable: 429, rate-limit 403, 5xx or no connection, after retries.
            ProviderRejected: any other refusal.
            ValueError: ``credentials`` are not for Google.
        """
        if credentials.provider is not Provider.GOOGLE:
            raise ValueError(f"Google source given {credentials.provider} credentials")
        session = self._sessions.get(credentials)
        params = self._list_params(cursor, page, window)
        with session.lock:
            adopt_access_token(session.google_credentials, credentials)
            body = self._list(session, params)
            tokens = unreported_tokens(session, credentials)
        items = body.get("items") or []
        next_page = body.get("nextPageToken")
        return ChangePage(
            events=tuple(google_event(item) for item in items),
            next_page=next_page,
            sync_cursor=None if next_page else body.get("nextSyncToken"),
            tokens=tokens,
        )

    def close(self) -> None:
        """Close every cached service's connections."""
        for session in self._sessions.clear():
            close_session(session)

    def _list_params(
        self, cursor: str | None, page: str | None, window: SyncWindow
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "calendarId": "primary",
            "singleEvents": True,
            "maxResults": self._page_size,
        }
        if cursor:
            params["syncToken"] = cursor
        else:
            params.update(timeMin=_rfc3339(window.start), timeMax=_rfc3339(window.end))
        if page:
            params["pageToken"] = page
        return params

    def _list(self, session: GoogleSession, params: dict[str, Any]) -> dict[str, Any]:
        def list_once() -> dict[str, Any]:
            request = session.events.list(**params)
            return dict(request.execute(num_retries=0))

        return call_google(self._retry, list_once, "events.list")


def build_session(credentials: Credentials) -> GoogleSession:
    """A user's Calendar v3 service and the google-auth credentials it refreshes."""
    google_credentials = GoogleCredentials(
        token=credentials.access_token,
        refresh_token=credentials.refresh_token,
        token_uri=credentials.token_url,
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
        expiry=naive_utc(credentials.expires_at),
    )
    service = calendar_service(google_credentials, credentials)
    return GoogleSession(service, google_credentials, {credentials.refresh_token})


def calendar_service(google_credentials: GoogleCredentials, credentials: Credentials) -> Any:
    """The Calendar v3 service at ``credentials.api_url``, with the bundled discovery doc."""
    return build(
        "calendar",
        "v3",
        credentials=google_credentials,
        static_discovery=True,
        client_options={"api_endpoint": credentials.api_url},
        cache_discovery=False,
    )


def close_session(session: GoogleSession) -> None:
    """Close the service's connections."""
    with session.lock:
        session.service.close()


def adopt_access_token(google_credentials: GoogleCredentials, credentials: Credentials) -> None:
    """Use the caller's access token when ours is missing or expired."""
    offered = credentials.access_token
    if offered and offered != google_credentials.token and not google_credentials.valid:
        google_credentials.token = offered
        google_credentials.expiry = naive_utc(credentials.expires_at)


def unreported_tokens(session: GoogleSession, credentials: Credentials) -> RefreshedTokens | None:
    """The tokens in use, if the caller does not have them (see ``adapters.calendar.source``)."""
    current = session.google_credentials
    token, refresh_token = current.token, current.refresh_token or credentials.refresh_token
    if not token or (token, refresh_token) == (credentials.access_token, credentials.refresh_token):
        return None
    session.refresh_tokens.add(refresh_token)
    expiry = current.expiry.replace(tzinfo=UTC) if current.expiry else None
    return RefreshedTokens(access_token=token, expires_at=expiry, refresh_token=refresh_token)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def naive_utc(moment: datetime | None) -> datetime | None:
    """Naive UTC, as google-auth keeps ``expiry`` as naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment else None
