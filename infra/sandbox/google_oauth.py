"""Google's OAuth token endpoint (``POST /token``): refresh and service-account grants."""

from __future__ import annotations

import base64
import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from infra.sandbox.google_state import GoogleState
from infra.sandbox.tokens import AccessToken, InvalidGrant

#: The scope reported with every access token.
CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def blueprint(state: GoogleState) -> Blueprint:
    """The token endpoint at ``/token``."""
    bp = Blueprint("google_oauth", __name__)

    def token() -> Response | tuple[Response, int]:
        grant_type = request.form.get("grant_type")
        if grant_type == "refresh_token":
            return _refresh(state)
        if grant_type == JWT_BEARER:
            return _service_account(state)
        return _error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    bp.add_url_rule("/token", view_func=token, methods=["POST"])
    return bp


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
