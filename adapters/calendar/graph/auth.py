"""Access tokens for Graph: a plain OAuth refresh grant against the token endpoint.

A plain ``httpx`` POST rather than MSAL: MSAL insists on https authorities and brings its
own cache, while all we need is the refresh grant and its rotated refresh token.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator

from adapters.calendar.errors import (
    PROVIDER_ERRORS,
    AuthorizationRevoked,
    CalendarSourceError,
    ProviderRejected,
    ProviderUnavailable,
)
from adapters.calendar.retry import parse_retry_after
from adapters.calendar.source import Credentials, RefreshedTokens

#: Scopes asked for on refresh: whatever was consented for Graph, plus a new refresh token.
DEFAULT_SCOPE = "https://graph.microsoft.com/.default offline_access"

#: A token this close to its expiry is refreshed before use.
EXPIRY_MARGIN = timedelta(seconds=60)

#: OAuth ``error`` values that mean the user's grant is gone.
REVOKED_ERRORS = frozenset({"invalid_grant", "interaction_required", "consent_required"})


class RefreshTokenProvider(AccessTokenProvider):
    """Hands kiota a live access token, refreshing it (and following rotation) as needed.

    Used only on the source's event loop, so its state needs no thread lock.

    Args:
        credentials: the user's grant, and a cached access token if any.
        http: a plain client (no Graph middleware) for the token endpoint.
        scope: the ``scope`` of the refresh request.

    Attributes:
        refresh_tokens: every refresh token this grant has had here (rotation adds one).
        refreshes: how many refreshes succeeded so far.
    """

    def __init__(self, credentials: Credentials, http: httpx.AsyncClient, scope: str) -> None:
        self._credentials = credentials
        self._http = http
        self._scope = scope
        self._lock = asyncio.Lock()
        self.refresh_token = credentials.refresh_token
        self.access_token = credentials.access_token
        self.expires_at = credentials.expires_at
        self.refresh_tokens = {credentials.refresh_token}
        self.refreshes = 0

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        """A live access token for ``uri`` (any host: endpoints come from configuration).

        Raises:
            AuthorizationRevoked: the refresh token was refused.
            ProviderUnavailable: the token endpoint is throttling or failing.
            ProviderRejected: the token endpoint refused the client.
            httpx.TransportError: the token endpoint is unreachable.
        """
        async with self._lock:
            if not self.is_live():
                await self._refresh()
        assert self.access_token is not None
        return self.access_token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        """No host restriction: the API and token URLs come from the credentials."""
        return AllowedHostsValidator([])

    def is_live(self) -> bool:
        """Whether the current access token can be used for a while yet."""
        if self.access_token is None:
            return False
        return self.expires_at is None or datetime.now(UTC) + EXPIRY_MARGIN < self.expires_at

    def offer(self, credentials: Credentials) -> None:
        """Take the caller's access token if ours is missing or about to expire."""
        if credentials.access_token and not self.is_live():
            self.access_token, self.expires_at = credentials.access_token, credentials.expires_at

    def forget_access_token(self) -> None:
        """Drop the access token (the API refused it), so the next use refreshes."""
        self.access_token = self.expires_at = None

    def unreported(self, credentials: Credentials) -> RefreshedTokens | None:
        """The tokens in use, if ``credentials`` does not carry them already."""
        current = (self.access_token, self.refresh_token)
        if self.access_token is None or current == (
            credentials.access_token,
            credentials.refresh_token,
        ):
            return None
        return RefreshedTokens(self.access_token, self.expires_at, self.refresh_token)

    async def _refresh(self) -> None:
        grant = {
            "grant_type": "refresh_token",
            "refresh_token": self.refresh_token,
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret,
            "scope": self._scope,
        }
        response = await self._http.post(self._credentials.token_url, data=grant)
        if response.status_code >= 400:
            raise _refresh_error(response)
        answer = response.json()
        self.access_token = str(answer["access_token"])
        self.refresh_token = str(answer.get("refresh_token") or self.refresh_token)
        self.refresh_tokens.add(self.refresh_token)
        lifetime = answer.get("expires_in")
        self.expires_at = (
            datetime.now(UTC) + timedelta(seconds=int(lifetime)) if lifetime is not None else None
        )
        self.refreshes += 1


def _refresh_error(response: httpx.Response) -> CalendarSourceError:
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    code = answer.get("error") if isinstance(answer, dict) else None
    code = code if isinstance(code, str) else ""
    what = f"Microsoft token endpoint answered {response.status_code} {code}".rstrip()
    PROVIDER_ERRORS.labels("microsoft", code or str(response.status_code)).inc()
    if code in REVOKED_ERRORS:
        return AuthorizationRevoked(what)
    if response.status_code == 429 or response.status_code >= 500:
        return ProviderUnavailable(what, parse_retry_after(response.headers.get("retry-after")))
    return ProviderRejected(what, response.status_code, code)
