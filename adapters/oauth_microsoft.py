"""Microsoft browser OAuth with MSAL's auth-code flow (PKCE S256, state and nonce by MSAL).

``initiate_auth_code_flow`` makes the whole flow (state, PKCE verifier, nonce); it is kept
server-side and given back to ``acquire_token_by_auth_code_flow``, which checks the state
and the ID token's nonce. MSAL adds ``openid profile offline_access`` to the scopes asked,
so a refresh token comes back. Each call builds its own application object: the token
cache then lives only as long as the exchange, and no grant stays in process memory.

The authority is the token URL without ``/oauth2/v2.0/token`` (``CALSYNC_MICROSOFT_TOKEN_URL``,
e.g. ``https://login.microsoftonline.com/common``). MSAL accepts only https authorities.

The answer comes back in the query (``response_mode=query``), not as a cross-site form
post: the cookie binding the callback to the browser is ``SameSite=Lax``, which a
cross-site POST would not carry. The code in the URL is single use, bound to the PKCE
verifier kept server-side, never logged, and the callback answers ``no-referrer``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

import msal
import requests

from adapters.oauth import (
    DEFAULT_TIMEOUT,
    AuthorizationRequest,
    Grant,
    OAuthApp,
    OAuthFailed,
    refuse_error_response,
)

CALENDARS_READ_WRITE = "https://graph.microsoft.com/Calendars.ReadWrite"
#: Asked of the user (MSAL adds ``openid profile offline_access``).
SCOPES = (CALENDARS_READ_WRITE,)

TOKEN_PATH = "/oauth2/v2.0/token"  # noqa: S105 - a path

# MSAL warns on every query-mode request; the choice is deliberate (see above).
warnings.filterwarnings(
    "ignore",
    message="response_mode='form_post' is recommended",
    category=UserWarning,
    module="msal",
)
#: Token-endpoint errors that mean "try again later" rather than "this code is no good".
_TRANSIENT = {"server_error", "temporarily_unavailable"}


def authority_for(token_url: str) -> str:
    """The MSAL authority of a v2.0 token endpoint.

    Raises:
        OAuthFailed: ``not_configured`` when the URL is not ``.../{tenant}/oauth2/v2.0/token``
            over https.
    """
    if not token_url.startswith("https://") or not token_url.endswith(TOKEN_PATH):
        raise OAuthFailed(
            "not_configured",
            "CALSYNC_MICROSOFT_TOKEN_URL must be an https v2.0 token endpoint "
            "(https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token)",
        )
    return token_url.removesuffix(TOKEN_PATH)


class MicrosoftOAuth:
    """Microsoft identity platform's authorization-code flow through MSAL."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._timeout = timeout

    def authorization(
        self, app: OAuthApp, *, state: str, login_hint: str | None
    ) -> AuthorizationRequest:
        client = self._client(app)
        try:
            flow = client.initiate_auth_code_flow(
                list(SCOPES), redirect_uri=app.redirect_uri, state=state, login_hint=login_hint
            )
        except ValueError as error:
            raise OAuthFailed("not_configured", f"MSAL refused the request: {error}") from None
        return AuthorizationRequest(url=flow["auth_uri"], flow=json.dumps(flow))

    def exchange(self, app: OAuthApp, flow: str, response: Mapping[str, str]) -> Grant:
        refuse_error_response(response, "Microsoft")
        client = self._client(app)
        try:
            result = client.acquire_token_by_auth_code_flow(json.loads(flow), dict(response))
        except ValueError:
            # MSAL's message quotes both states: say what happened without it.
            raise OAuthFailed(
                "code_rejected", "Microsoft's answer does not belong to this sign-in"
            ) from None
        except RuntimeError:
            raise OAuthFailed(
                "code_rejected", "Microsoft's ID token does not belong to this sign-in (nonce)"
            ) from None
        except requests.RequestException as error:
            raise OAuthFailed(
                "provider_unavailable",
                f"Microsoft's token endpoint could not be reached ({type(error).__name__})",
            ) from None
        return _grant(result)

    def _client(self, app: OAuthApp) -> msal.ConfidentialClientApplication:
        authority = authority_for(app.token_url)
        try:
            return msal.ConfidentialClientApplication(
                app.client_id,
                client_credential=app.client_secret,
                authority=authority,
                # The authority is this deployment's configuration, not user input; the
                # instance check would ask login.microsoftonline.com about a sandbox.
                validate_authority=False,
                instance_discovery=False,
                timeout=self._timeout,
                token_cache=msal.TokenCache(),
            )
        except requests.RequestException as error:
            raise OAuthFailed(
                "provider_unavailable",
                f"Microsoft's sign-in service could not be reached ({type(error).__name__})",
            ) from None
        except ValueError:
            raise OAuthFailed(
                "provider_unavailable",
                "Microsoft's sign-in configuration (OpenID discovery) could not be read",
            ) from None


def _grant(result: Mapping[str, Any]) -> Grant:
    error = result.get("error")
    if error:
        reason = str(error)[:64]
        if reason in _TRANSIENT:
            raise OAuthFailed(
                "provider_unavailable", f"Microsoft's token endpoint is unavailable ({reason})"
            )
        raise OAuthFailed("code_rejected", f"Microsoft refused the authorization code ({reason})")
    refresh = result.get("refresh_token")
    if not refresh:
        raise OAuthFailed("no_refresh_token", "Microsoft granted no offline access")
    scopes = frozenset(str(result.get("scope") or "").split())
    if not any(s.lower().endswith("calendars.readwrite") for s in scopes):
        raise OAuthFailed(
            "scope_not_granted",
            "Microsoft calendar access was not granted: allow Calendars.ReadWrite",
        )
    claims = result.get("id_token_claims") or {}
    email = claims.get("preferred_username") or claims.get("email") or claims.get("upn")
    return Grant(
        refresh_token=str(refresh),
        scopes=scopes,
        account_email=str(email) if email else None,
    )
