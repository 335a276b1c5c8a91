"""Google's OAuth endpoints: the consent page (``GET /o/oauth2/auth``, which consents at once,
see ``oauth_codes``) and the token endpoint (``POST /token``): authorization-code (with
PKCE), refresh and service-account grants."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, request
from werkzeug.wrappers import Response as WerkzeugResponse

from infra.sandbox.google_state import GoogleState
from infra.sandbox.oauth_codes import (
    AuthorizationServer,
    AuthorizeRefused,
    CodeGrantError,
    install_admin,
    unsigned_jwt,
)
from infra.sandbox.tokens import AccessToken, InvalidGrant

#: The scope reported with every access token.
CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def blueprint(state: GoogleState) -> Blueprint:
    """The consent page at ``/o/oauth2/auth`` (and ``/o/oauth2/v2/auth``), the token
    endpoint at ``/token``, and the OAuth admin routes under ``/_admin/oauth``."""
    bp = Blueprint("google_oauth", __name__)
    server = AuthorizationServer(state.directory, state.lock)

    def authorize() -> WerkzeugResponse | tuple[str, int, dict[str, str]]:
        try:
            return redirect(server.authorize(request.args), code=302)
        except AuthorizeRefused as refused:
            page = f"Error 400: {refused.error}\n\n{refused.description}\n"
            return page, 400, {"Content-Type": "text/plain; charset=utf-8"}

    def token() -> Response | tuple[Response, int]:
        grant_type = request.form.get("grant_type")
        if grant_type == "authorization_code":
            return _authorization_code(state, server)
        if grant_type == "refresh_token":
            return _refresh(state)
        if grant_type == JWT_BEARER:
            return _service_account(state)
        return _error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    bp.add_url_rule("/token", view_func=token, methods=["POST"])
    bp.add_url_rule("/o/oauth2/auth", view_func=authorize, methods=["GET"])
    bp.add_url_rule("/o/oauth2/v2/auth", endpoint="authorize_v2", view_func=authorize)
    install_admin(bp, server)
    return bp


def _authorization_code(
    state: GoogleState, server: AuthorizationServer
) -> Response | tuple[Response, int]:
    try:
        issued = server.redeem(request.form, request.headers.get("Authorization"))
    except CodeGrantError as refused:
        return _error(refused.status, refused.error, refused.description)
    person = issued.person
    refresh = state.tokens.issue_refresh_token(person.email, issued.client_id)
    access, _ = state.tokens.exchange(refresh)
    answer = {**_token_response(state, access), "refresh_token": refresh, "scope": issued.scope}
    if "openid" in issued.scope.split():
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "https://accounts.google.com",
            "azp": issued.client_id,
            "aud": issued.client_id,
            "sub": person.id,
            "email": person.email,
            "email_verified": True,
            "iat": now,
            "exp": now + state.tokens.lifetime_seconds,
        }
        if issued.nonce:
            claims["nonce"] = issued.nonce
        answer["id_token"] = unsigned_jwt(claims)
    return jsonify(answer)


def _refresh(state: GoogleState) -> Response | tuple[Response, int]:
    if not request.form.get("client_id"):
        return _error(401, "invalid_client", "The OAuth client was not found.")
    try:
        access, _ = state.tokens.exchange(request.form.get("refresh_token", ""))
    except InvalidGrant:
        return _error(400, "invalid_grant", "Token has been expired or revoked.")
    return jsonify(_token_response(state, access))


def _service_account(state: GoogleState) -> Response | tuple[Response, int]:
    # The sandbox trusts the assertion without checking its signature: there is no key
    # registry, and the point is to exercise the client's flow, not Google's crypto.
    claims = _jwt_claims(request.form.get("assertion", ""))
    subject = claims.get("sub") or claims.get("iss")
    if not subject or state.directory.find_user(str(subject)) is None:
        return _error(400, "invalid_grant", "Invalid email or User ID")
    access = state.tokens.issue_access_token(str(subject), str(claims.get("iss", "")))
    return jsonify(_token_response(state, access))


def _jwt_claims(assertion: str) -> dict[str, Any]:
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _token_response(state: GoogleState, access: AccessToken) -> dict[str, Any]:
    return {
        "access_token": access.token,
        "expires_in": state.tokens.lifetime_seconds,
        "scope": CALENDAR_SCOPE,
        "token_type": "Bearer",
    }


def _error(status: int, error: str, description: str) -> tuple[Response, int]:
    return jsonify({"error": error, "error_description": description}), status
