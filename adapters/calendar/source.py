"""The calendar-source port: read one user's calendar changes, page by page.

Implementations: ``GoogleCalendarSource`` (Google Calendar API v3) and
``GraphCalendarSource`` (Microsoft Graph v1.0). Both read only the user's default calendar
(R10), translate every event into a ``domain.model.ProviderEvent`` and every vendor error
into the errors of ``adapters.calendar.errors``.

A sync run::

    page = source.changes(creds, cursor=stored_cursor, page=None, window=window)
    while True:
        store(page.events)                          # with page.next_page / page.sync_cursor
        if page.tokens:
            creds = creds.with_tokens(page.tokens)  # persist them too
        if page.next_page is None:
            break                                   # page.sync_cursor is the next run's cursor
        page = source.changes(creds, cursor=stored_cursor, page=page.next_page, window=window)

Token refresh is reported, not hidden: a source refreshes access tokens itself (and follows
refresh-token rotation), and every ``ChangePage`` whose tokens differ from those in the
``Credentials`` it was given carries them in ``tokens``, until the caller passes them back.
So a refresh that happened in a call that then failed is still reported by the next page.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from adapters.calendar.errors import (
    AuthorizationRevoked,
    CalendarSourceError,
    CursorExpired,
    ProviderRejected,
    ProviderUnavailable,
)
from domain.eligibility import SyncWindow
from domain.model import Provider, ProviderEvent

__all__ = [
    "UNKNOWN_VERSION_TIME",
    "AuthorizationRevoked",
    "CalendarSource",
    "CalendarSourceError",
    "ChangePage",
    "Credentials",
    "CursorExpired",
    "ProviderRejected",
    "ProviderUnavailable",
    "RefreshedTokens",
]

#: ``EventVersion.updated`` of a deletion notice that carries no modification time (Graph
#: ``@removed``; a Google item without ``updated``). It is older than any real version, so
#: under R16 it never overwrites one; the sync engine must therefore apply a cancellation
#: (``ProviderEvent.is_cancelled``) as "the event is gone" without comparing versions.
UNKNOWN_VERSION_TIME = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RefreshedTokens:
    """Tokens a source obtained that the caller does not have yet; persist them.

    Attributes:
        access_token: the access token in use now.
        expires_at: when it expires (aware UTC), if the provider said.
        refresh_token: the refresh token to use from now on; differs from the one passed
            in when the provider rotated it (Microsoft does on every refresh).
    """

    access_token: str = field(repr=False)
    expires_at: datetime | None
    refresh_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Credentials:
    """One user's OAuth grant for one provider, and where to use it.

    Attributes:
        provider: which service the grant is for.
        refresh_token: the long-lived grant.
        client_id: the OAuth client the grant was issued to.
        client_secret: that client's secret.
        token_url: the OAuth token endpoint (refresh grant).
        api_url: Google: the Calendar API root (``.../calendar/v3/``); Graph: the
            ``.../v1.0`` base URL.
        user: Google: the user's e-mail (their ``primary`` calendar is read); Graph: the
            user's id or UPN.
        access_token: a cached access token, if the caller has one.
        expires_at: when ``access_token`` expires (aware).
    """

    provider: Provider
    refresh_token: str = field(repr=False)
    client_id: str
    client_secret: str = field(repr=False)
    token_url: str
    api_url: str
    user: str
    access_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None

    def with_tokens(self, tokens: RefreshedTokens) -> Credentials:
        """Return these credentials with the tokens a source reported."""
        return replace(
            self,
            access_token=tokens.access_token,
            expires_at=tokens.expires_at,
            refresh_token=tokens.refresh_token,
        )


@dataclass(frozen=True, slots=True)
class ChangePage:
    """One page of changes.

    Attributes:
        events: the changed events, deleted and cancelled ones as ``status="cancelled"``
            (a deleted item may carry only its id; see ``UNKNOWN_VERSION_TIME``).
        next_page: resumes this sync run (pass it as ``page`` with the same ``cursor``);
            None on the last page.
        sync_cursor: only on the last page: the cursor of the next run (Google
            ``nextSyncToken``, Graph ``@odata.deltaLink``).
        tokens: tokens the caller does not have yet (see the module docstring), else None.
    """

    events: tuple[ProviderEvent, ...]
    next_page: str | None
    sync_cursor: str | None
    tokens: RefreshedTokens | None = None


class CalendarSource(Protocol):
    """Reads changes of a user's default calendar (R10)."""

    def changes(
        self,
        credentials: Credentials,
        *,
        cursor: str | None,
        page: str | None,
        window: SyncWindow,
    ) -> ChangePage:
        """Return one page of changes.

        Args:
            credentials: the user's grant; its ``provider`` must match the source.
            cursor: the ``sync_cursor`` of the last finished run; None for a full sync of
                ``window`` (R9), which lists every live event overlapping it. Incremental
                results may include events outside the window: filter them.
            page: ``next_page`` of the previous page of this run, or None to start it.
            window: the sync window; used only by a full sync's first request (the
                providers remember it in their cursors).

        Returns:
            The page; see ``ChangePage``.

        Raises:
            CursorExpired: start again with ``cursor=None, page=None``.
            AuthorizationRevoked: the user must reconnect.
            ProviderUnavailable: retry later; in-call retries are used up.
            ProviderRejected: a permanent refusal.
            ValueError: ``credentials`` are for another provider (a caller's mistake).
        """
        ...

    def close(self) -> None:
        """Release connections and threads; the source must not be used afterwards."""
        ...
