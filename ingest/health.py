"""Liveness and readiness."""

from __future__ import annotations

import structlog
from flask import Blueprint, Response, current_app, jsonify

from ingest.metrics import exposition
from ingest.ports import IngestPorts

bp = Blueprint("health", __name__)
log = structlog.get_logger("calsync.health")


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers; says nothing about its dependencies."""
    return jsonify({"status": "ok"})


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition of this process's metrics (and the store's gauges, if wired)."""
    body, content_type = exposition()
    return Response(body, content_type=content_type)


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when every dependency probe (database, broker) passes."""
    ports: IngestPorts = current_app.extensions["calsync"]
    checks: dict[str, str] = {}
    for name, probe in ports.readiness.items():
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported below
            log.warning("readiness probe failed", dependency=name, error=str(exc))
            checks[name] = f"unavailable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ready" if ready else "not_ready", "checks": checks}), (
        200 if ready else 503
    )
