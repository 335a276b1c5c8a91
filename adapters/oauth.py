"""Browser OAuth (authorization code with PKCE) for Google and Microsoft: the shared parts.

Each provider's client (``adapters/oauth_google.py`` with google-auth-oauthlib,
``adapters/oauth_microsoft.py`` with MSAL) turns a state into the URL the browser is sent
to, plus a *flow*: what the callback needs later (the PKCE verifier, and for MSAL its nonce
and the rest of its auth-code flow). The flow is a secret: the caller keeps it server-side,
encrypted, and hands it back once. The callback's query is then exchanged for a grant.

Every failure is an ``OAuthFailed`` whose message is safe to show and to log: it never holds
a code, state, verifier, token or client secret.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# requests-oauthlib logs token request bodies and responses at DEBUG, and MSAL logs token
# cache events: keep both, and oauthlib, away from DEBUG whatever the root level is.
for _library in ("requests_oauthlib", "oauthlib", "msal"):
    logging.getLogger(_library).setLevel(logging.WARNING)

#: Seconds a token-endpoint or discovery call may take; the user is waiting on it.
DEFAULT_TIMEOUT = 10.0


class OAuthFailed(Exception):
    """The authorization did not produce a usable grant.

    Attributes:
        code: ``access_denied`` (the user said no), ``provider_error`` (the provider sent
            the browser back with another error), ``code_rejected`` (the token endpoint
            refused the code: reused, expired, PKCE mismatch, wrong client), ``no_refresh_token``,
            ``scope_not_granted`` (calendar access was not granted), ``not_configured`` (our
            OAuth settings are unusable) or ``provider_unavailable``.
        message: what happened, safe to show the user and to log.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class OAuthApp:
    """This deployment's OAuth client at one provider, and where it is sent back to."""

    client_id: str
    client_secret: str = field(repr=False)
    #: Google: the authorization endpoint. Microsoft: unused (MSAL discovers it from the
    #: authority, which is the token URL without ``/oauth2/v2.0/token``).
    authorize_url: str
    token_url: str
    redirect_uri: str


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser, and the flow to keep (secret) for the callback."""

    url: str = field(repr=False)
    flow: str = field(repr=False)


@dataclass(frozen=True)
class Grant:
    """What the code bought: the refresh token, the scopes granted, who signed in."""

    refresh_token: str = field(repr=False)
    scopes: frozenset[str]
    #: The address the user signed in with (ID token ``email`` / ``preferred_username``),
    #: None when the provider did not say.
    account_email: str | None


class OAuthClient(Protocol):
    """One provider's browser OAuth."""

    def authorization(
        self, app: OAuthApp, *, state: str, login_hint: str | None
    ) -> AuthorizationRequest:
        """The authorization URL (with ``state`` and an S256 PKCE challenge) and its flow.

        Raises:
            OAuthFailed: ``not_configured`` or ``provider_unavailable``.
        """
        ...

    def exchange(self, app: OAuthApp, flow: str, response: Mapping[str, str]) -> Grant:
        """Trade the callback's query (``code``, ``state`` or ``error``) for a grant.

        Raises:
            OAuthFailed: see its ``code``.
        """
        ...


def refuse_error_response(response: Mapping[str, str], provider: str) -> str:
    """The authorization code of a callback query; raises for an ``error`` or no code."""
    error = response.get("error")
    if error:
        shown = _token_word(error)
        if shown == "access_denied":
            raise OAuthFailed(
                "access_denied",
                f"{provider} access was not granted (the consent was declined); "
                "ask for a new connect link to try again",
            )
        raise OAuthFailed("provider_error", f"{provider} answered the sign-in with {shown}")
    code = response.get("code")
    if not code:
        raise OAuthFailed("provider_error", f"{provider} sent the browser back without a code")
    return code


def id_token_claims(id_token: str | None) -> dict[str, Any]:
    """The claims of an ID token received straight from the token endpoint.

    Not signature-checked: OpenID Connect Core 3.1.3.7 lets a client that got the token
    from the token endpoint over TLS rely on TLS instead. Malformed tokens give no claims.
    """
    if not id_token:
        return {}
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _token_word(value: str) -> str:
    """An OAuth error code as safe to echo: letters, digits and ``_`` only, bounded."""
    kept = "".join(c for c in value if c.isascii() and (c.isalnum() or c == "_"))[:64]
    return kept or "an error"
