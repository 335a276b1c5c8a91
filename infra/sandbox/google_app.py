"""The Google sandbox as a Flask app: Calendar v3, Directory rooms, token endpoint, admin API."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from infra.sandbox import google_batch, google_directory, google_oauth
from infra.sandbox.admin_api import AdminViews
from infra.sandbox.errors import ApiError
from infra.sandbox.google_admin import GoogleAdmin
from infra.sandbox.google_api import CALENDAR_PREFIX, CalendarViews
from infra.sandbox.google_state import GoogleState
from infra.sandbox.http_common import (
    answer_delay_hook,
    fault_hook,
    retry_after_headers,
    set_logged_user,
)
from infra.sandbox.request_log import RequestLogMiddleware
from infra.sandbox.tokens import Unauthenticated

log = logging.getLogger(__name__)

#: Google's ``status`` string for each HTTP status the sandbox returns.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

#: Reason, domain and message Google uses for an injected status.
FAULT_REASONS = {
    403: ("rateLimitExceeded", "usageLimits", "Rate Limit Exceeded"),
    429: ("rateLimitExceeded", "usageLimits", "Rate Limit Exceeded"),
    500: ("backendError", "global", "Backend Error"),
    503: ("backendError", "global", "The service is currently unavailable."),
}

API_PREFIXES = (CALENDAR_PREFIX + "/", "/admin/directory/")


def create_google_app(state: GoogleState) -> Flask:
    """Build the Google sandbox app around ``state``."""
    app = Flask("infra.sandbox.google")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["sandbox_state"] = state
    app.before_request(fault_hook(state.faults, _is_api, _fault_error))
    app.after_request(answer_delay_hook(state.faults, _is_api))
    calendar = CalendarViews(state)
    api_blueprints = [
        calendar.blueprint(),
        google_directory.blueprint(state),
        google_directory.blueprint(state, url_prefix=CALENDAR_PREFIX),
    ]
    for bp in api_blueprints:
        bp.before_request(lambda: _authenticate(state))
        app.register_blueprint(bp)
    app.register_blueprint(google_oauth.blueprint(state))
    app.register_blueprint(google_batch.blueprint())
    app.register_blueprint(AdminViews(GoogleAdmin(state, calendar.events)).blueprint())
    app.register_error_handler(ApiError, render_error)
    app.register_error_handler(HTTPException, _render_http_exception)
    app.register_error_handler(Exception, _render_bug)
    app.wsgi_app = RequestLogMiddleware(app.wsgi_app, state.requests)  # type: ignore[method-assign]
    return app


def _is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def _authenticate(state: GoogleState) -> None:
    try:
        token = state.tokens.authenticate(request.headers.get("Authorization"))
    except Unauthenticated as exc:
        raise _unauthenticated(exc.kind) from None
    g.actor = token.subject
    set_logged_user(token.subject)


def _unauthenticated(kind: str) -> ApiError:
    headers = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
    if kind == "missing":
        return ApiError(
            401,
            "required",
            "Request is missing required authentication credential. "
            "Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            headers=headers,
        )
    headers["WWW-Authenticate"] += ', error="invalid_token"'
    return ApiError(
        401,
        "authError",
        "Request had invalid authentication credentials. "
        "Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        headers=headers,
    )


def _fault_error(status: int, retry_after: int | None) -> ApiError:
    reason, domain, message = FAULT_REASONS.get(status, ("backendError", "global", "Backend Error"))
    return ApiError(
        status, reason, message, domain=domain, headers=retry_after_headers(retry_after)
    )


def render_error(error: ApiError) -> tuple[Response, int, dict[str, str]]:
    """Google's JSON error shape."""
    detail = {"domain": error.domain, "reason": error.reason, "message": error.message}
    if error.status == 401:
        detail.update(locationType="header", location="Authorization")
    body: dict[str, object] = {"code": error.status, "message": error.message, "errors": [detail]}
    if error.status in STATUS_NAMES:
        body["status"] = STATUS_NAMES[error.status]
    return jsonify({"error": body}), error.status, error.headers


def _render_bug(exc: Exception) -> tuple[Response, int, dict[str, str]]:
    # A sandbox bug: keep the traceback, answer in Google's shape so clients fail cleanly.
    log.exception("Google sandbox failed on %s %s", request.method, request.path)
    return render_error(ApiError(500, "backendError", f"Sandbox error: {exc}"))


def _render_http_exception(exc: HTTPException) -> tuple[Response, int, dict[str, str]]:
    status = exc.code or 500
    reason = {404: "notFound", 405: "methodNotAllowed"}.get(status, "badRequest")
    return render_error(ApiError(status, reason, exc.name))
