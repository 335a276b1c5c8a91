"""The Graph sandbox as a Flask app: Graph v1.0, identity platform endpoints, admin API."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from infra.sandbox import graph_oauth, graph_times
from infra.sandbox.admin_api import AdminViews
from infra.sandbox.errors import ApiError
from infra.sandbox.graph_admin import GraphAdmin
from infra.sandbox.graph_api import GRAPH_PREFIX, GraphViews
from infra.sandbox.graph_state import GraphState
from infra.sandbox.http_common import (
    answer_delay_hook,
    fault_hook,
    retry_after_headers,
    set_logged_user,
)
from infra.sandbox.ids import guid
from infra.sandbox.request_log import RequestLogMiddleware
from infra.sandbox.timeutil import utcnow
from infra.sandbox.tokens import Unauthenticated

log = logging.getLogger(__name__)

#: Error code and message Graph uses for an injected status.
FAULT_CODES = {
    429: ("activityLimitReached", "The request has been throttled."),
    500: ("generalException", "An internal server error occurred."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable."),
    504: ("UnknownError", "Gateway timeout."),
}

#: The ``Prefer`` options the sandbox honours, as echoed in ``Preference-Applied``.
APPLIED_PREFERENCES = ("outlook.timezone", "idtype", "odata.maxpagesize")

UNAUTHENTICATED_MESSAGES = {
    "missing": "Access token is empty.",
    "invalid": "Access token validation failure. Invalid audience.",
    "expired": "Access token has expired or is not yet valid.",
}


def create_graph_app(state: GraphState) -> Flask:
    """Build the Graph sandbox app around ``state``."""
    app = Flask("infra.sandbox.graph")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["sandbox_state"] = state
    app.before_request(fault_hook(state.faults, _is_api, _fault_error))
    app.after_request(answer_delay_hook(state.faults, _is_api))
    views = GraphViews(state)
    api = views.blueprint()
    api.before_request(lambda: _authenticate(state))
    api.after_request(_preference_applied)
    app.register_blueprint(api)
    app.register_blueprint(graph_oauth.blueprint(state))
    admin = GraphAdmin(state, views.events)
    app.register_blueprint(AdminViews(admin).blueprint())
    app.register_blueprint(admin.lifecycle_blueprint())
    app.register_error_handler(ApiError, render_error)
    app.register_error_handler(HTTPException, _render_http_exception)
    app.register_error_handler(Exception, _render_bug)
    app.wsgi_app = RequestLogMiddleware(app.wsgi_app, state.requests)  # type: ignore[method-assign]
    return app


def _is_api(path: str) -> bool:
    return path.startswith(GRAPH_PREFIX + "/")


def _authenticate(state: GraphState) -> None:
    try:
        token = state.tokens.authenticate(request.headers.get("Authorization"))
    except Unauthenticated as exc:
        raise ApiError(
            401,
            "InvalidAuthenticationToken",
            UNAUTHENTICATED_MESSAGES[exc.kind],
            headers={"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'},
        ) from None
    g.token = token
    g.actor = token.subject
    person = state.directory.find_user(token.subject) if token.subject else None
    set_logged_user(person.email if person else None)


def _preference_applied(response: Response) -> Response:
    preferences = graph_times.parse_prefer(request.headers.getlist("Prefer"))
    applied = [
        f'{name}="{preferences[name]}"' for name in APPLIED_PREFERENCES if name in preferences
    ]
    if applied:
        response.headers["Preference-Applied"] = ", ".join(applied).replace("idtype=", "IdType=")
    return response


def _fault_error(status: int, retry_after: int | None) -> ApiError:
    code, message = FAULT_CODES.get(status, ("generalException", "An error occurred."))
    return ApiError(status, code, message, headers=retry_after_headers(retry_after))


def render_error(error: ApiError) -> tuple[Response, int, dict[str, str]]:
    """Graph's JSON error shape."""
    request_id = guid()
    body = {
        "error": {
            "code": error.reason,
            "message": error.message,
            "innerError": {
                "date": utcnow().strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": request.headers.get("client-request-id", request_id),
            },
        }
    }
    return jsonify(body), error.status, error.headers


def _render_bug(exc: Exception) -> tuple[Response, int, dict[str, str]]:
    # A sandbox bug: keep the traceback, answer in Graph's shape so clients fail cleanly.
    log.exception("Graph sandbox failed on %s %s", request.method, request.path)
    return render_error(ApiError(500, "generalException", f"Sandbox error: {exc}"))


def _render_http_exception(exc: HTTPException) -> tuple[Response, int, dict[str, str]]:
    status = exc.code or 500
    code = {404: "ResourceNotFound", 405: "MethodNotAllowed"}.get(status, "BadRequest")
    return render_error(ApiError(status, code, exc.name))
