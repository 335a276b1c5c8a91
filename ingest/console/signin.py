"""Signing in with an operator token, and out."""

from __future__ import annotations

import secrets

import structlog
from flask import Response, redirect, request

from ingest.console import web
from ingest.console.session import (
    COOKIE,
    MAX_AGE_SECONDS,
    PATH,
    PRE_COOKIE,
    PRE_MAX_AGE_SECONDS,
    Session,
)

log = structlog.get_logger("calsync.console")


def _cookie(response: Response, name: str, value: str, max_age: int) -> None:
    # Secure: browsers keep it off plain http, except on localhost (Chromium and Firefox
    # count http://localhost and 127.0.0.1 as secure); Strict: no other site's page sends it.
    response.set_cookie(
        name, value, max_age=max_age, path=PATH, secure=True, httponly=True, samesite="Strict"
    )


def _next_page() -> str:
    wanted = request.values.get("next", "")
    # Only a console path: never a redirect to another site (``//evil`` is one).
    if wanted.startswith(f"{PATH}") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return PATH


@web.bp.get("/signin")
def signin_form(error: str | None = None, status: int = 200) -> Response:
    pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    response = web.page(
        "signin.html",
        status=status,
        signin_csrf=web.sessions().csrf_token(pre),
        next_page=_next_page(),
        error=error,
    )
    _cookie(response, PRE_COOKIE, pre, PRE_MAX_AGE_SECONDS)
    return response


@web.bp.post("/signin")
def signin() -> Response:
    operator = request.form.get("operator", "").strip() or "operator"
    cookie = web.sessions().sign_in(request.form.get("token", ""), operator)
    if cookie is None:
        log.warning("console sign-in refused", remote_addr=request.remote_addr)
        return signin_form("That is not an operator token (or the name has odd characters).", 403)
    log.info("console sign-in", operator=operator, remote_addr=request.remote_addr)
    response: Response = redirect(_next_page(), 303)  # type: ignore[assignment]
    _cookie(response, COOKIE, cookie, MAX_AGE_SECONDS)
    response.delete_cookie(PRE_COOKIE, path=PATH, secure=True, httponly=True, samesite="Strict")
    return response


@web.bp.post("/signout")
def signout() -> Response:
    session: Session = web.current()
    log.info("console sign-out", operator=session.operator)
    response: Response = redirect(f"{PATH}/signin", 303)  # type: ignore[assignment]
    response.delete_cookie(COOKIE, path=PATH, secure=True, httponly=True, samesite="Strict")
    return response
