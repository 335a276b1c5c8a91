"""HTTP front door: webhook receivers, CRM events and the read API (Flask)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from ingest import (
    api,
    connections_api,
    connections_list,
    crm,
    errors,
    explanations,
    google,
    health,
    microsoft,
    oauth,
    openapi,
)
from ingest.connection_ports import CalendarConnections
from ingest.console import ConsolePorts
from ingest.console import install as install_console
from ingest.ports import IngestPorts
from ingest.publishing import DEFAULT_PUBLISH_TIMEOUT


def create_app(
    ports: IngestPorts,
    config: dict[str, Any] | None = None,
    connections: CalendarConnections | None = None,
    console: ConsolePorts | None = None,
) -> Flask:
    """Build the HTTP application around ``ports`` (real adapters or test fakes).

    ``config`` overrides Flask settings, e.g. ``PUBLISH_TIMEOUT`` (seconds a request
    waits for the broker's confirm before answering 503). ``connections`` serves connect
    links, the browser OAuth flow, connection status and disconnect (without it, those
    routes answer 409 ``not_available``). ``console`` serves the on-call console under
    ``/console`` (without it, or without operator tokens, nothing is there).
    """
    app = Flask("calsync")
    app.config.update(
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
        PUBLISH_TIMEOUT=DEFAULT_PUBLISH_TIMEOUT,
    )
    app.config.update(config or {})
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["calsync"] = ports
    if connections is not None:
        app.extensions[connections_api.EXTENSION] = connections
    errors.install(app)
    blueprints = (
        health.bp,
        api.bp,
        connections_api.bp,
        explanations.bp,
        connections_list.bp,
        oauth.bp,
        google.bp,
        microsoft.bp,
        crm.bp,
        openapi.bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    if console is not None and console.tokens:
        install_console(app, console)
    return app
