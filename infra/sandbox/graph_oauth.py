"""Microsoft identity platform endpoints, per tenant: authorize (consents at once, see
``oauth_codes``), token (v2.0: authorization-code with PKCE, refresh, client credentials)
and OpenID discovery."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, request
from werkzeug.wrappers import Response as WerkzeugResponse

from infra.sandbox.graph_state import GraphState
from infra.sandbox.ids import guid
from infra.sandbox.oauth_codes import (
    AuthorizationServer,
    AuthorizeRefused,
    CodeGrantError,
    IssuedCode,
    install_admin,
    unsigned_jwt,
)
from infra.sandbox.timeutil import format_rfc3339, utcnow
from infra.sandbox.tokens import AccessToken, InvalidGrant

#: Scopes reported with delegated tokens.
DELEGATED_SCOPE = (
    "https://graph.microsoft.com/Calendars.ReadWrite https://graph.microsoft.com/User.Read"
)


def blueprint(state: GraphState) -> Blueprint:
    """``/{tenant}/oauth2/v2.0/authorize``, ``/{tenant}/oauth2/v2.0/token``,
    ``/{tenant}/v2.0/.well-known/openid-configuration`` and the OAuth admin routes."""
    bp = Blueprint("graph_oauth", __name__)
    server = AuthorizationServer(state.directory, state.lock)

    def authorize(tenant: str) -> WerkzeugResponse | tuple[str, int, dict[str, str]]:
        """Sign in and consent at once, then back to ``redirect_uri`` (see ``oauth_codes``)."""
        try:
            return redirect(server.authorize(request.args), code=302)
        except AuthorizeRefused as refused:
            page = f"AADSTS700016: {refused.error}: {refused.description}\n"
            return page, 400, {"Content-Type": "text/plain; charset=utf-8"}

    def token(tenant: str) -> Response | tuple[Response, int]:
        """The v2.0 token endpoint (the tenant is not checked)."""
        if request.form.get("grant_type") == "authorization_code":
            return _authorization_code(state, server, tenant)
        return _token(state)

    def openid_configuration(tenant: str) -> Response:
        """OpenID discovery, pointing back at this sandbox."""
        return jsonify(_openid_configuration(request.host_url.rstrip("/"), tenant))

    bp.add_url_rule("/<tenant>/oauth2/v2.0/token", view_func=token, methods=["POST"])
    bp.add_url_rule("/<tenant>/oauth2/v2.0/authorize", view_func=authorize, methods=["GET"])
    bp.add_url_rule(
        "/<tenant>/v2.0/.well-known/openid-configuration", view_func=openid_configuration
    )
    install_admin(bp, server)
    return bp


def _authorization_code(
    state: GraphState, server: AuthorizationServer, tenant: str
) -> Response | tuple[Response, int]:
    try:
        issued = server.redeem(request.form, request.headers.get("Authorization"))
    except CodeGrantError as refused:
        code = {"invalid_client": 7000215}.get(refused.error, 70000)
        if "code_verifier" in refused.description:
            code = 501481
        return _error(refused.status, refused.error, code, refused.description)
    person = issued.person
    refresh = state.tokens.issue_refresh_token(person.id, issued.client_id)
    access, _ = state.tokens.exchange(refresh)
    reserved = {"openid", "profile", "offline_access", "email"}
    granted = " ".join(s for s in issued.scope.split() if s not in reserved) or DELEGATED_SCOPE
    answer = _token_response(state, access, granted, refresh)
    if "openid" in issued.scope.split():
        answer["id_token"] = unsigned_jwt(_id_claims(state, issued, tenant))
        uid = {"uid": person.id, "utid": state.tenant_id}
        answer["client_info"] = base64.urlsafe_b64encode(json.dumps(uid).encode()).decode()
    return jsonify(answer)


def _id_claims(state: GraphState, issued: IssuedCode, tenant: str) -> dict[str, Any]:
    now = int(time.time())
    person = issued.person
    claims: dict[str, Any] = {
        "ver": "2.0",
        "iss": f"{request.host_url.rstrip('/')}/{state.tenant_id}/v2.0",
        "aud": issued.client_id,
        "iat": now,
        "nbf": now,
        "exp": now + state.tokens.lifetime_seconds,
        "tid": state.tenant_id,
        "oid": person.id,
        "sub": person.id,
        "name": person.display_name,
        "preferred_username": person.email,
    }
    if issued.nonce:
        claims["nonce"] = issued.nonce
    return claims


def _token(state: GraphState) -> Response | tuple[Response, int]:
    client_id = request.form.get("client_id")
    if not client_id:
        message = "The request body must contain the following parameter: 'client_id'."
        return _error(400, "invalid_request", 900144, message)
    grant_type = request.form.get("grant_type")
    if grant_type == "refresh_token":
        return _refresh(state)
    if grant_type == "client_credentials":
        access = state.tokens.issue_access_token(None, client_id)
        scope = "https://graph.microsoft.com/.default"
        return jsonify(_token_response(state, access, scope, None))
    message = f"The app requested an unsupported grant type '{grant_type}'."
    return _error(400, "unsupported_grant_type", 70003, message)


def _refresh(state: GraphState) -> Response | tuple[Response, int]:
    try:
        # Microsoft hands out a new refresh token with each refresh; the old one stays valid.
        access, refresh = state.tokens.exchange(request.form.get("refresh_token", ""), rotate=True)
    except InvalidGrant:
        return _error(
            400,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity "
            "or was revoked.",
        )
    scope = request.form.get("scope") or DELEGATED_SCOPE
    return jsonify(_token_response(state, access, scope, refresh))


def _token_response(
    state: GraphState, access: AccessToken, scope: str, refresh: str | None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": state.tokens.lifetime_seconds,
        "ext_expires_in": state.tokens.lifetime_seconds,
        "access_token": access.token,
    }
    if refresh is not None:
        answer["refresh_token"] = refresh
    return answer


def _error(status: int, error: str, code: int, description: str) -> tuple[Response, int]:
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description}",
        "error_codes": [code],
        "timestamp": format_rfc3339(utcnow()),
        "trace_id": guid(),
        "correlation_id": guid(),
    }
    return jsonify(body), status


def _openid_configuration(root: str, tenant: str) -> dict[str, Any]:
    base = f"{root}/{tenant}"
    return {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "issuer": f"{base}/v2.0",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "tenant_region_scope": None,
        "cloud_instance_name": "microsoftonline.com",
    }
