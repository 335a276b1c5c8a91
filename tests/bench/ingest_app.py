"""The benchmark's WSGI app: the real composition root plus a bare Flask route as baseline.

gunicorn loads ``tests.bench.ingest_app:create()``; settings come from CALSYNC_* as usual.
"""

from __future__ import annotations

from flask import Flask

from infra.bootstrap import Container
from infra.log import configure_logging
from infra.settings import Settings


def create() -> Flask:
    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)  # as ``calsync serve`` does
    app = Container(settings).http_app()

    @app.post("/bench/bare")
    def bare() -> tuple[str, int]:
        return "", 202

    return app
