"""HTTP front door: webhook receivers, CRM events and the read API (Flask)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from ingest import api, errors, health
from ingest.ports import IngestPorts


def create_app(ports: IngestPorts, config: dict[str, Any] | None = None) -> Flask:
    """Build the HTTP application around ``ports`` (real adapters or test fakes)."""
    app = Flask("calsync")
    app.config.update(MAX_CONTENT_LENGTH=1024 * 1024, JSON_SORT_KEYS=False)
    app.config.update(config or {})
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["calsync"] = ports
    errors.install(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    return app
