"""What the connect, disconnect and browser OAuth endpoints need; the composition root fills it.

The flow (README "Connecting a calendar"):

1. the CRM, with the account's API key, asks ``POST /api/v1/users/{id}/connect`` for a link;
   the answer's ``authorization_url`` is ``/oauth/{provider}/start?user=..&ticket=..``, a
   single-use ticket valid for 10 minutes;
2. the user's browser opens it: the ticket is spent, an OAuth ``state`` and a PKCE verifier
   are made and kept server-side, a cookie binds the attempt to this browser, and the
   browser goes to the provider;
3. the provider sends the browser back to ``/oauth/{provider}/callback``: the state is
   spent (single use, 10 minutes), the code exchanged, and the calendar connected exactly
   as ``calsync connect`` does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from adapters.sql.connection_status import ConnectionStatus

#: Providers a calendar can be connected with.
PROVIDERS = ("google", "microsoft")


class ConnectionFailure(Exception):
    """A connect step failed; ``code`` says which way (the HTTP layer picks the status).

    ``message`` is safe to show and to log: no ticket, state, code, verifier or token.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ConnectLink:
    """A single-use link that starts a user's browser connect."""

    authorization_url: str = field(repr=False)
    expires_at: datetime
    provider: str
    user_id: str


@dataclass(frozen=True)
class BrowserRedirect:
    """Where ``/start`` sends the browser, and the cookie that ties the callback to it."""

    url: str = field(repr=False)
    binding: str = field(repr=False)
    #: Send the cookie over https only (the public URL is https).
    secure_cookie: bool


@dataclass(frozen=True)
class ConnectedCalendar:
    """A finished browser connect."""

    provider: str
    user_id: str
    reconnected: bool
    #: Why no push channel was opened (the calendar then syncs by polling), or None.
    channel_error: str | None


class CalendarConnections(Protocol):
    def link(
        self, account_id: str, user_id: str, provider: str, appointment_type_id: str | None
    ) -> ConnectLink:
        """A connect link for the account's user.

        Raises:
            ConnectionFailure: ``not_found`` (no such user), ``not_configured``.
        """
        ...

    def start(self, provider: str, ticket: str, user_id: str | None) -> BrowserRedirect:
        """Spend a link's ticket and prepare the provider's sign-in.

        Raises:
            ConnectionFailure: ``invalid_ticket``, ``ticket_used``, ``ticket_expired``,
                ``not_configured``, ``provider_unavailable``.
        """
        ...

    def finish(
        self, provider: str, response: Mapping[str, str], binding: str | None
    ) -> ConnectedCalendar:
        """Spend the state of the provider's answer, exchange its code, connect the calendar.

        Raises:
            ConnectionFailure: ``missing_state``, ``invalid_state``, ``state_used``,
                ``state_expired``, ``browser_mismatch``, ``access_denied``, ``provider_error``,
                ``code_rejected``, ``no_refresh_token``, ``scope_not_granted``,
                ``wrong_account``, ``provider_unavailable``, ``sync_not_queued``, ...
        """
        ...

    def status(self, account_id: str, user_id: str) -> ConnectionStatus:
        """The user's connection.

        Raises:
            ConnectionFailure: ``not_found`` (no such user), ``not_connected``.
        """
        ...

    def disconnect(self, account_id: str, user_id: str) -> ConnectionStatus:
        """Stop the user's push channel, forget the grant, keep the appointments; idempotent.

        Raises:
            ConnectionFailure: ``not_found`` (no such user), ``not_connected``.
        """
        ...


#: HTTP status of each failure code; anything not listed is 400.
FAILURE_STATUS = {
    "not_found": 404,
    "not_connected": 404,
    "access_denied": 403,
    "scope_not_granted": 403,
    "not_configured": 409,
    "not_available": 409,
    "wrong_account": 409,
    "ticket_used": 410,
    "ticket_expired": 410,
    "state_used": 410,
    "state_expired": 410,
    "provider_unavailable": 503,
    "sync_not_queued": 503,
    "store_unavailable": 503,
}


def failure_status(code: str) -> int:
    return FAILURE_STATUS.get(code, 400)
