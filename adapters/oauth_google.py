"""Google browser OAuth with google-auth-oauthlib's ``Flow`` (authorization code + PKCE S256).

Offline access with ``prompt=consent`` so Google always returns a refresh token, even to a
user who consented before. Scopes: the user's identity (to check who signed in) and their
calendars' events and free/busy; nothing beyond the default calendar is read (R10).

oauthlib refuses plain-http endpoints unless ``OAUTHLIB_INSECURE_TRANSPORT=1`` (its switch
for local development against a sandbox); that refusal is reported as ``not_configured``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2 import InsecureTransportError, OAuth2Error

from adapters.oauth import (
    DEFAULT_TIMEOUT,
    AuthorizationRequest,
    Grant,
    OAuthApp,
    OAuthFailed,
    id_token_claims,
    refuse_error_response,
)

CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
#: Asked of the user: identity, events of their calendars (read, write, watch), free/busy.
SCOPES = (
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    CALENDAR_EVENTS,
    "https://www.googleapis.com/auth/calendar.freebusy",
)
#: Without these the connection cannot sync.
REQUIRED_SCOPES = frozenset({CALENDAR_EVENTS})

#: oauthlib errors that mean "try again later" rather than "this code is no good".
_TRANSIENT = {"server_error", "temporarily_unavailable"}


class GoogleOAuth:
    """Google's authorization-code flow through google-auth-oauthlib."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._timeout = timeout

    def authorization(
        self, app: OAuthApp, *, state: str, login_hint: str | None
    ) -> AuthorizationRequest:
        flow = _flow(app, state)
        options = {"prompt": "consent", "access_type": "offline"}
        if login_hint:
            options["login_hint"] = login_hint
        try:
            url, _state = flow.authorization_url(**options)
        except InsecureTransportError:
            raise OAuthFailed(
                "not_configured", "the Google authorization endpoint must be https"
            ) from None
        finally:
            flow.oauth2session.close()
        return AuthorizationRequest(url=url, flow=json.dumps({"code_verifier": flow.code_verifier}))

    def exchange(self, app: OAuthApp, flow: str, response: Mapping[str, str]) -> Grant:
        code = refuse_error_response(response, "Google")
        verifier = json.loads(flow)["code_verifier"]
        session = _flow(app, response.get("state"), code_verifier=verifier)
        try:
            token = _fetch(session, code, self._timeout)
        finally:
            session.oauth2session.close()
        refresh = token.get("refresh_token")
        if not refresh:
            raise OAuthFailed(
                "no_refresh_token", "Google granted no offline access (no refresh token)"
            )
        scopes = _scopes(token.get("scope"))
        if not scopes >= REQUIRED_SCOPES:
            raise OAuthFailed(
                "scope_not_granted",
                "Google calendar access was not granted: allow access to your calendar events",
            )
        email = id_token_claims(token.get("id_token")).get("email")
        return Grant(
            refresh_token=str(refresh),
            scopes=scopes,
            account_email=str(email) if email else None,
        )


def _flow(app: OAuthApp, state: str | None, code_verifier: str | None = None) -> Flow:
    config = {
        "web": {
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "auth_uri": app.authorize_url,
            "token_uri": app.token_url,
            "redirect_uris": [app.redirect_uri],
        }
    }
    return Flow.from_client_config(
        config,
        scopes=list(SCOPES),
        redirect_uri=app.redirect_uri,
        state=state,
        code_verifier=code_verifier,
        autogenerate_code_verifier=True,
    )


def _fetch(flow: Flow, code: str, timeout: float) -> Mapping[str, Any]:
    try:
        return dict(flow.fetch_token(code=code, timeout=timeout))
    except InsecureTransportError:
        raise OAuthFailed("not_configured", "the Google token endpoint must be https") from None
    except OAuth2Error as error:
        reason = error.error or "invalid_request"
        if reason in _TRANSIENT:
            raise OAuthFailed(
                "provider_unavailable", f"Google's token endpoint is unavailable ({reason})"
            ) from None
        raise OAuthFailed(
            "code_rejected", f"Google refused the authorization code ({reason})"
        ) from None
    except requests.RequestException as error:
        raise OAuthFailed(
            "provider_unavailable",
            f"Google's token endpoint could not be reached ({type(error).__name__})",
        ) from None
    except Warning as changed:
        # oauthlib raises a Warning when the scopes granted differ from those asked (Google's
        # granular consent lets the user untick some); the token rides on the warning.
        token = getattr(changed, "token", None)
        if token is None:
            raise
        return dict(token)


def _scopes(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(str(v) for v in value)
    return frozenset()
