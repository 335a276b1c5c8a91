"""``/oauth/{provider}/start`` and ``/oauth/{provider}/callback``: the browser connect flow.

``start`` takes the single-use ticket of a connect link (``POST /api/v1/users/{id}/connect``)
and redirects to the provider's consent page; ``callback`` takes the provider's answer and
connects the calendar. Both answer a browser (``Accept: text/html``) with a small HTML page
and anything else with JSON; failures are 4xx (503 when the provider or the broker is
down) with ``{"error": {"code", "message"}}`` or the same in a page. Nothing secret (ticket,
state, code, verifier, token) is logged or shown.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import sqlalchemy as sa
import structlog
from flask import Blueprint, Response, current_app, jsonify, redirect, request
from werkzeug.wrappers import Response as WerkzeugResponse

from ingest.connection_ports import (
    PROVIDERS,
    CalendarConnections,
    ConnectionFailure,
    failure_status,
)
from ingest.connections_api import EXTENSION

bp = Blueprint("oauth", __name__, url_prefix="/oauth")
log = structlog.get_logger("calsync.oauth")

#: Ties the callback to the browser that opened the link (HttpOnly, SameSite=Lax).
BINDING_COOKIE = "calsync_oauth"
#: Seconds the binding cookie lives: the attempt's lifetime.
BINDING_SECONDS = 600

#: Headers of every answer here: nothing cached, nothing leaked through Referer.
_PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_PAGE_POLICY = "default-src 'none'; frame-ancestors 'none'"

_NAMES = {"google": "Google Calendar", "microsoft": "Microsoft 365 calendar"}


@bp.get("/<provider>/start")
def start(provider: str) -> WerkzeugResponse:
    """Spend the link's ticket and send the browser to the provider's consent page."""
    port = _port(provider)
    ticket = request.args.get("ticket")
    if not ticket:
        raise ConnectionFailure(
            "invalid_ticket", "the link has no ticket; ask for a new connect link"
        )
    where = port.start(provider, ticket, request.args.get("user"))
    response = redirect(where.url, code=302)
    response.headers.update(_PRIVATE)
    response.set_cookie(
        BINDING_COOKIE,
        where.binding,
        max_age=BINDING_SECONDS,
        path=_callback_path(provider),
        secure=where.secure_cookie,
        httponly=True,
        samesite="Lax",
    )
    log.info("connect sent to provider", provider=provider)
    return response


@bp.get("/<provider>/callback")
def callback(provider: str) -> Response:
    """Exchange the provider's code and connect the calendar as ``calsync connect`` does."""
    port = _port(provider)
    connected = port.finish(provider, request.args.to_dict(), request.cookies.get(BINDING_COOKIE))
    name = _NAMES[provider]
    message = f"Your {name} is connected; its appointments are being synced."
    if connected.channel_error:
        message += " (Changes arrive by polling until push notifications can be set up.)"
    body = {
        "status": "connected",
        "provider": connected.provider,
        "user_id": connected.user_id,
        "reconnected": connected.reconnected,
        "channel_error": connected.channel_error,
    }
    response = _answer(200, body, "Calendar connected", message + " You can close this window.")
    response.delete_cookie(BINDING_COOKIE, path=_callback_path(provider))
    return response


@bp.errorhandler(ConnectionFailure)
def _refused(failure: ConnectionFailure) -> Response:
    status = failure_status(failure.code)
    provider = (request.view_args or {}).get("provider", "")
    log.info(
        "connect refused",
        code=failure.code,
        reason=failure.message,
        provider=provider if provider in PROVIDERS else None,
        path=request.path,
    )
    body = {"error": {"code": failure.code, "message": failure.message}}
    # The binding cookie stays: a stray or forged callback must not end the sign-in that
    # is still under way in this browser (the cookie is useless once its state is spent).
    return _answer(status, body, "Could not connect the calendar", failure.message)


@bp.errorhandler(sa.exc.OperationalError)
def _store_down(error: sa.exc.OperationalError) -> Response:
    log.warning("store unavailable", error=type(error).__name__, path=request.path)
    failure = ConnectionFailure("store_unavailable", "the store did not answer; try again")
    return _refused(failure)


def _port(provider: str) -> CalendarConnections:
    if provider not in PROVIDERS:
        raise ConnectionFailure("not_found", "unknown provider: use google or microsoft")
    port: CalendarConnections | None = current_app.extensions.get(EXTENSION)
    if port is None:
        raise ConnectionFailure("not_available", "calendar connections are not managed here")
    return port


def _callback_path(provider: str) -> str:
    return f"{bp.url_prefix}/{provider}/callback"


def _answer(status: int, body: Mapping[str, object], title: str, text: str) -> Response:
    """JSON, or a small page when the client is a browser."""
    wanted = request.accept_mimetypes.best_match(["application/json", "text/html"])
    if wanted == "text/html" and request.accept_mimetypes["text/html"]:
        page = (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title></head>\n<body><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(text)}</p></body></html>\n"
        )
        response = Response(page, status=status, mimetype="text/html")
        response.headers["Content-Security-Policy"] = _PAGE_POLICY
    else:
        response = jsonify(body)
        response.status_code = status
    response.headers.update(_PRIVATE)
    return response
