"""The browser connect flow behind ``ingest/oauth.py`` and ``ingest/connections_api.py``.

Who may start a connect: only the CRM, holding the account's API key, by asking
``POST /api/v1/users/{id}/connect`` for a link. The link carries a random single-use ticket
(256 bits, stored as a hash, valid ``ATTEMPT_TTL``); whoever opens it signs in at the
provider, and the calendar they grant becomes that user's, so the CRM hands the link to
that user only (like a password-reset link).

``start`` spends the ticket and makes the OAuth ``state`` (random, stored as a hash) and the
provider flow with its PKCE verifier (S256; stored encrypted with the token key), both
valid ``ATTEMPT_TTL``, plus a browser-binding cookie (stored as a hash). ``finish`` checks
state and cookie, spends the state, exchanges the code (google-auth-oauthlib or MSAL), and
then connects exactly as ``calsync connect`` does (``infra.connect``), which checks with the
provider that the calendar is the user's (R37; ``wrong_account``).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TypeVar
from urllib.parse import urlencode

import structlog

from adapters.oauth import AuthorizationRequest, Grant, OAuthApp, OAuthClient, OAuthFailed
from adapters.oauth_google import GoogleOAuth
from adapters.oauth_microsoft import MicrosoftOAuth
from adapters.sql.connection_status import CalendarUser, ConnectionStatus, SqlConnectionStatus
from adapters.sql.oauth_attempts import AttemptRefused, SqlOAuthAttempts, secret_hash
from domain.model import Provider
from infra.connect import (
    ConnectContainer,
    ConnectError,
    connect_calendar,
    disconnect_calendar,
    missing_oauth_settings,
)
from ingest.connection_ports import (
    BrowserRedirect,
    ConnectedCalendar,
    ConnectionFailure,
    ConnectLink,
)

log = structlog.get_logger("calsync.browser_connect")

#: How long a connect link may wait to be opened, and then the sign-in at the provider.
ATTEMPT_TTL = timedelta(minutes=10)

T = TypeVar("T")

_TICKET_FAILURES = {
    "unknown": ("invalid_ticket", "this connect link is not valid; ask for a new one"),
    "used": ("ticket_used", "this connect link was used already; ask for a new one"),
    "expired": ("ticket_expired", "this connect link has expired; ask for a new one"),
}
_STATE_FAILURES = {
    "unknown": (
        "invalid_state",
        "this sign-in answer does not belong to a connect in progress; start again",
    ),
    "used": ("state_used", "this sign-in answer was used already; start again"),
    "expired": ("state_expired", "the sign-in took too long; ask for a new connect link"),
}


class BrowserConnect:
    """Connect links, the OAuth start and callback, connection status and disconnect."""

    def __init__(
        self,
        container: ConnectContainer,
        clients: Mapping[Provider, OAuthClient] | None = None,
    ) -> None:
        self._container = container
        self._attempts = SqlOAuthAttempts(container.engine, container.cipher, container.clock)
        self._store = SqlConnectionStatus(container.engine)
        self._clients: Mapping[Provider, OAuthClient] = clients or {
            Provider.GOOGLE: GoogleOAuth(),
            Provider.MICROSOFT: MicrosoftOAuth(),
        }

    # -- the connect link (bearer key of the account) ------------------------------------

    def link(
        self, account_id: str, user_id: str, provider: str, appointment_type_id: str | None
    ) -> ConnectLink:
        kind = Provider(provider)
        self._user(account_id, user_id)
        self._app(kind)
        ticket = secrets.token_urlsafe(32)
        expires_at = self._attempts.issue(
            account_id=account_id,
            user_id=user_id,
            provider=kind.value,
            appointment_type_id=appointment_type_id,
            ticket=ticket,
            ttl=ATTEMPT_TTL,
        )
        query = urlencode({"user": user_id, "ticket": ticket})
        log.info("connect link issued", account_id=account_id, user_id=user_id, provider=provider)
        return ConnectLink(
            authorization_url=f"{self._public_url()}/oauth/{kind.value}/start?{query}",
            expires_at=expires_at,
            provider=kind.value,
            user_id=user_id,
        )

    # -- the browser ---------------------------------------------------------------------

    def start(self, provider: str, ticket: str, user_id: str | None) -> BrowserRedirect:
        kind = Provider(provider)
        try:
            attempt = self._attempts.by_ticket(ticket, kind.value)
        except AttemptRefused as refused:
            raise ConnectionFailure(*_TICKET_FAILURES[refused.reason]) from None
        if user_id is not None and user_id != attempt.user_id:
            raise ConnectionFailure(*_TICKET_FAILURES["unknown"])
        app = self._app(kind)
        user = self._user(attempt.account_id, attempt.user_id)
        state, binding = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        request: AuthorizationRequest = _oauth(
            lambda: self._clients[kind].authorization(app, state=state, login_hint=user.email)
        )
        try:
            self._attempts.start(
                attempt.id, state=state, binding=binding, flow=request.flow, ttl=ATTEMPT_TTL
            )
        except AttemptRefused as refused:
            raise ConnectionFailure(*_TICKET_FAILURES[refused.reason]) from None
        log.info(
            "connect started",
            account_id=attempt.account_id,
            user_id=attempt.user_id,
            provider=kind.value,
        )
        return BrowserRedirect(
            url=request.url,
            binding=binding,
            secure_cookie=self._public_url().startswith("https://"),
        )

    def finish(
        self, provider: str, response: Mapping[str, str], binding: str | None
    ) -> ConnectedCalendar:
        kind = Provider(provider)
        state = response.get("state")
        if not state:
            raise ConnectionFailure(
                "missing_state", "the provider's answer has no state; start again"
            )
        try:
            attempt = self._attempts.by_state(state, kind.value)
        except AttemptRefused as refused:
            raise ConnectionFailure(*_STATE_FAILURES[refused.reason]) from None
        if (
            binding is None
            or attempt.binding_hash is None
            or not hmac.compare_digest(secret_hash(binding), attempt.binding_hash)
        ):
            raise ConnectionFailure(
                "browser_mismatch",
                "this sign-in was started in another browser (or its cookie was blocked); "
                "open the connect link again in this browser",
            )
        try:
            flow = self._attempts.finish(attempt.id)
        except AttemptRefused as refused:
            raise ConnectionFailure(*_STATE_FAILURES[refused.reason]) from None
        app = self._app(kind)
        grant: Grant = _oauth(lambda: self._clients[kind].exchange(app, flow, response))
        # Whose calendar this is, connect_calendar asks the provider (R37, wrong_account):
        # the same check as the command line's, not the ID token's word for it.
        container = self._container
        try:
            result = connect_calendar(
                container,
                provider=kind,
                account_id=attempt.account_id,
                user_id=attempt.user_id,
                refresh_token=grant.refresh_token,
                appointment_type_id=attempt.appointment_type_id,
                push_channels=container.push_channels(kind),
            )
        except ConnectError as error:
            raise ConnectionFailure(_connect_code(error.code), str(error)) from None
        return ConnectedCalendar(
            provider=kind.value,
            user_id=attempt.user_id,
            reconnected=result.reconnected,
            channel_error=result.channel_error,
        )

    # -- status and disconnect (bearer key of the account) --------------------------------

    def status(self, account_id: str, user_id: str) -> ConnectionStatus:
        self._user(account_id, user_id)
        found = self._store.for_user(account_id, user_id)
        if found is None:
            raise ConnectionFailure(
                "not_connected", f"user {user_id!r} has not connected a calendar"
            )
        return found

    def disconnect(self, account_id: str, user_id: str) -> ConnectionStatus:
        self._user(account_id, user_id)
        try:
            disconnect_calendar(
                self._container,
                account_id=account_id,
                user_id=user_id,
                channels_for=self._container.push_channels,
            )
        except ConnectError as error:
            raise ConnectionFailure(_connect_code(error.code), str(error)) from None
        return self.status(account_id, user_id)

    # -- helpers --------------------------------------------------------------------------

    def _user(self, account_id: str, user_id: str) -> CalendarUser:
        user = self._store.user(account_id, user_id)
        if user is None:
            # Another account's user is indistinguishable from a missing one.
            raise ConnectionFailure("not_found", f"no user {user_id!r}")
        return user

    def _app(self, provider: Provider) -> OAuthApp:
        settings = self._container.settings
        missing = missing_oauth_settings(settings, provider)
        if missing:
            raise ConnectionFailure(
                "not_configured",
                f"{provider.value} calendars cannot be connected here: "
                f"{' and '.join(missing)} not set",
            )
        google = provider is Provider.GOOGLE
        return OAuthApp(
            client_id=(settings.google_client_id if google else settings.microsoft_client_id) or "",
            client_secret=(
                settings.google_client_secret if google else settings.microsoft_client_secret
            )
            or "",
            authorize_url=settings.google_auth_url,
            token_url=settings.google_token_url if google else settings.microsoft_token_url,
            redirect_uri=f"{self._public_url()}/oauth/{provider.value}/callback",
        )

    def _public_url(self) -> str:
        return self._container.settings.public_url.rstrip("/")


def _oauth(step: Callable[[], T]) -> T:
    try:
        return step()
    except OAuthFailed as failure:
        raise ConnectionFailure(failure.code, failure.message) from None
    except ValueError as error:  # a flow we stored that no longer parses
        log.warning("connect flow unreadable", error=type(error).__name__)
        raise ConnectionFailure(
            "invalid_state", "this sign-in cannot be finished; start again"
        ) from None


def _connect_code(code: str) -> str:
    """The HTTP-facing code of a ``ConnectError``."""
    return {"unknown_user": "not_found", "unknown_account": "not_found"}.get(code, code)
