"""JSON errors for every failure, and a trace id plus an access log line for every request."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

import structlog
from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from ingest.metrics import observe_request

log = structlog.get_logger("calsync.http")

#: Longest client-supplied request id we adopt as trace id; anything else gets a fresh one.
MAX_REQUEST_ID = 64


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with ``status`` and ``headers``."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def install(app: Flask) -> None:
    app.before_request(_start_trace)
    app.after_request(_log_request)
    app.teardown_request(_end_trace)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _start_trace() -> None:
    supplied = request.headers.get("X-Request-ID", "")
    valid = 0 < len(supplied) <= MAX_REQUEST_ID and supplied.replace("-", "").isalnum()
    trace_id = supplied if valid else structlog.contextvars.get_contextvars().get("trace_id")
    g.trace_id = trace_id or uuid.uuid4().hex
    g.started = time.perf_counter()
    structlog.contextvars.bind_contextvars(trace_id=g.trace_id)


def _log_request(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("trace_id", "")
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    elapsed_ms = round(elapsed * 1000, 2)
    route = request.url_rule.rule if request.url_rule is not None else None
    observe_request(route, request.method, response.status_code, elapsed)
    log.info(
        "request",
        method=request.method,
        path=request.path,
        status=response.status_code,
        duration_ms=elapsed_ms,
    )
    return response


def _end_trace(_exc: BaseException | None) -> None:
    structlog.contextvars.unbind_contextvars("trace_id")


def _api_error(exc: ApiError) -> Response:
    log.info("request refused", code=exc.code, reason=exc.message, path=request.path)
    response = error_response(exc.status, exc.code, exc.message)
    response.headers.update(exc.headers)
    return response


def _http_error(exc: HTTPException) -> Response:
    code = (exc.name or "error").lower().replace(" ", "_")
    status = exc.code or 500
    response = error_response(status, code, exc.description or exc.name or "error")
    headers = dict(exc.get_headers())
    for name in ("Allow", "Retry-After"):
        if name in headers:
            response.headers[name] = headers[name]
    return response


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error", path=request.path)
    return error_response(
        InternalServerError.code,
        "internal_error",
        f"unexpected error; quote trace id {g.get('trace_id', '')}",
    )
