"""OAuth refresh and access tokens: issue, exchange, check, expire and revoke.

Both providers share the mechanics; their token endpoints differ only in wire format.
A token's ``subject`` is the user it acts for, or ``None`` for an app-only token
(Microsoft's client-credentials grant).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from infra.sandbox.ids import opaque_token
from infra.sandbox.timeutil import utcnow

#: Lifetime of an access token unless a test shortens it (Google and Microsoft both use ~1 h).
DEFAULT_ACCESS_TOKEN_SECONDS = 3600


class InvalidGrant(Exception):
    """The refresh token is unknown or was revoked."""


class Unauthenticated(Exception):
    """An API call carried no access token, an unknown one, or an expired one.

    Attributes:
        kind: ``"missing"``, ``"invalid"`` or ``"expired"``.
    """

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class Grant:
    """What a refresh token stands for."""

    subject: str | None
    client_id: str
    revoked: bool = False


@dataclass
class AccessToken:
    """An issued access token."""

    token: str
    subject: str | None
    client_id: str
    expires_at: datetime
    refresh_token: str | None = None


class TokenStore:
    """Thread-safe registry of refresh grants and access tokens."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}
        self._access: dict[str, AccessToken] = {}
        self.lifetime_seconds = DEFAULT_ACCESS_TOKEN_SECONDS

    def reset(self) -> None:
        """Forget every token and restore the default lifetime."""
        with self._lock:
            self._grants.clear()
            self._access.clear()
            self.lifetime_seconds = DEFAULT_ACCESS_TOKEN_SECONDS

    def issue_refresh_token(self, subject: str | None, client_id: str = "sandbox-client") -> str:
        """Create a refresh token for ``subject`` as if the user had consented."""
        token = f"{self._prefix}rt.{opaque_token()}"
        with self._lock:
            self._grants[token] = Grant(subject=subject, client_id=client_id)
        return token

    def exchange(self, refresh_token: str, *, rotate: bool = False) -> tuple[AccessToken, str]:
        """Trade a refresh token for an access token.

        Returns:
            The access token and the refresh token to use next time (a new one if ``rotate``).

        Raises:
            InvalidGrant: the refresh token is unknown or revoked.
        """
        with self._lock:
            grant = self._grants.get(refresh_token)
            if grant is None or grant.revoked:
                raise InvalidGrant(refresh_token)
            next_refresh = refresh_token
            if rotate:
                next_refresh = f"{self._prefix}rt.{opaque_token()}"
                self._grants[next_refresh] = Grant(grant.subject, grant.client_id)
            return self._issue_access(grant.subject, grant.client_id, next_refresh), next_refresh

    def issue_access_token(self, subject: str | None, client_id: str) -> AccessToken:
        """An access token without a refresh token: app-only (``subject=None``, as from a
        client-credentials grant) or for a delegated service account."""
        with self._lock:
            return self._issue_access(subject, client_id, None)

    def _issue_access(
        self, subject: str | None, client_id: str, refresh: str | None
    ) -> AccessToken:
        expires = utcnow() + timedelta(seconds=self.lifetime_seconds)
        token = AccessToken(
            f"{self._prefix}at.{opaque_token()}", subject, client_id, expires, refresh
        )
        self._access[token.token] = token
        return token

    def authenticate(self, authorization: str | None) -> AccessToken:
        """Check an ``Authorization`` header value and return the token it carries.

        Raises:
            Unauthenticated: missing, unknown or expired token.
        """
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("missing")
        with self._lock:
            token = self._access.get(authorization[7:].strip())
        if token is None:
            raise Unauthenticated("invalid")
        if token.expires_at <= utcnow():
            raise Unauthenticated("expired")
        return token

    def revoke(self, *, refresh_token: str | None = None, subject: str | None = None) -> int:
        """Revoke one refresh token, or every refresh token of ``subject``; returns how many."""
        with self._lock:
            grants = [
                grant
                for token, grant in self._grants.items()
                if token == refresh_token or (subject is not None and grant.subject == subject)
            ]
            for grant in grants:
                grant.revoked = True
            return len(grants)

    def expire_access_tokens(self, subject: str | None = None) -> int:
        """Make live access tokens (of ``subject``, or all) expire now; returns how many."""
        now = utcnow()
        with self._lock:
            tokens = [t for t in self._access.values() if subject is None or t.subject == subject]
            for token in tokens:
                token.expires_at = now
            return len(tokens)
