"""The console's blueprint: who may come in, CSRF on every POST, and the page headers.

Every route but the sign-in needs a session cookie (``ingest.console.session``); an
``Authorization`` header is never looked at here. A GET without a session goes to the
sign-in page, a POST without one (or without its CSRF token) is refused with 403.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, redirect, render_template, request
from flask.typing import ResponseReturnValue

from ingest.console.ports import ConsolePorts
from ingest.console.session import COOKIE, PRE_COOKIE, Session, Sessions

EXTENSION = "calsync_console"
bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
#: Routes open without a session.
OPEN_ENDPOINTS = {"console.signin_form", "console.signin"}


def ports() -> ConsolePorts:
    found: ConsolePorts = current_app.extensions[EXTENSION][0]
    return found


def sessions() -> Sessions:
    found: Sessions = current_app.extensions[EXTENSION][1]
    return found


def current() -> Session:
    found: Session = g.console_session
    return found


@bp.before_request
def guard() -> ResponseReturnValue | None:
    g.csp_nonce = secrets.token_urlsafe(16)
    if not ports().tokens:
        return refused(404, "Not found.")
    if request.endpoint in OPEN_ENDPOINTS:
        return _check_signin_csrf() if request.method == "POST" else None
    session = sessions().session(request.cookies.get(COOKIE))
    if session is None:
        if request.method in ("GET", "HEAD"):
            return redirect(f"{bp.url_prefix}/signin?{urlencode({'next': request.full_path})}", 303)
        return refused(403, "Sign in first.")
    if request.method == "POST" and not sessions().csrf_ok(
        session.session_id, request.form.get("csrf")
    ):
        return refused(403, "The form's CSRF token is missing or wrong: reload the page and retry.")
    g.console_session = session
    return None


def _check_signin_csrf() -> Response | None:
    pre = request.cookies.get(PRE_COOKIE)
    if not pre or not sessions().csrf_ok(pre, request.form.get("csrf")):
        return refused(403, "The sign-in form expired: reload it and sign in again.")
    return None


@bp.after_request
def page_headers(response: Response) -> Response:
    # Inline CSS, one inline script with this response's nonce, no other source at all.
    nonce = g.get("csp_nonce", "")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
        "img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A console page, with what every page shows (operator, CSRF token, notice)."""
    session: Session | None = g.get("console_session")
    body = render_template(
        f"console/{template}",
        operator=session.operator if session else None,
        csrf=sessions().csrf_token(session.session_id) if session else "",
        nonce=g.get("csp_nonce", ""),
        notice=sessions().read_notice(request.args.get("notice")),
        **context,
    )
    return Response(body, status=status, mimetype="text/html")


def refused(status: int, message: str) -> Response:
    return page("refused.html", status=status, message=message)


def back_to(path: str, notice: str, **args: str) -> Response:
    """Redirect after a POST, with a signed notice of what was done."""
    query = urlencode({**{k: v for k, v in args.items() if v}, "notice": sessions().notice(notice)})
    return redirect(f"{path}?{query}", 303)  # type: ignore[return-value]
