"""Running the HTTP service: gunicorn for ``serve``, one process for ``run``."""

from __future__ import annotations

import runpy
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from flask import Flask
from gunicorn.app.base import BaseApplication
from sqlalchemy.engine import make_url
from werkzeug.serving import WSGIRequestHandler, make_server

from adapters.broker.addresses import shown as shown_broker_url
from infra.bootstrap import Container
from infra.gunicorn_worker import json_error_body
from workers.runner import run_workers

log = structlog.get_logger("calsync.server")
CONFIG_FILE = Path(__file__).with_name("gunicorn_conf.py")


class _Gunicorn(BaseApplication):
    def __init__(self, container: Container) -> None:
        self._container = container
        super().__init__()

    def load_config(self) -> None:
        # BaseApplication reads no config file of its own: take gunicorn_conf's settings,
        # as gunicorn's ``-c`` would.
        for name, value in runpy.run_path(str(CONFIG_FILE)).items():
            if name in self.cfg.settings and value is not None:
                self.cfg.set(name, value)
        settings = self._container.settings
        self.cfg.set("bind", f"{settings.listen_host}:{settings.listen_port}")
        if settings.http_workers is not None:
            self.cfg.set("workers", settings.http_workers)

    def load(self) -> Flask:
        # Built in each worker after the fork: no connection is shared across processes.
        # The master checked the schema before forking, so the engine's pool holds a
        # connection every worker inherited: forget it here (without closing the master's
        # socket), or two workers talk over one PostgreSQL connection at once (500s).
        self._container.engine.dispose(close=False)
        return self._container.http_app()


def serve_with_gunicorn(container: Container) -> None:
    container.declare_broker()
    log.info("serving", listen=f"{container.settings.listen_host}:{container.settings.listen_port}")
    _Gunicorn(container).run()


class ListenFailed(Exception):
    """The HTTP service cannot listen where ``CALSYNC_LISTEN`` says (the message says why)."""


class JsonErrorRequestHandler(WSGIRequestHandler):
    """werkzeug's handler, answering the errors it finds itself (414 request line too long,
    431 headers too large, 400 malformed request) with the application's JSON body, not HTML."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        reason = self.responses.get(code, ("Error", ""))[0]
        self.log_error("code %d, message %s", code, message or reason)
        body = json_error_body(code, message or reason)
        self.send_response(code, reason)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def run_single_machine(
    container: Container, on_listening: Callable[[str], None] | None = None
) -> None:
    """HTTP service, every worker and the scheduler in one process, until SIGINT or SIGTERM.

    ``on_listening`` is given the service's URL once its socket is bound.
    """
    settings = container.settings
    container.declare_broker()
    with _listening_socket(settings.listen_host, settings.listen_port) as listening:
        server = make_server(
            settings.listen_host,
            settings.listen_port,
            container.http_app(),
            threaded=True,
            request_handler=JsonErrorRequestHandler,
            fd=listening.fileno(),  # Werkzeug takes a copy of it
        )
    stop = threading.Event()

    workers = threading.Thread(
        target=run_workers,
        args=([*container.workers(), container.scheduler()],),
        kwargs={"stop": stop},
        name="workers",
        daemon=True,
    )

    def _shutdown(signum: int, _frame: Any) -> None:
        log.info("shutting down", signal=signal.Signals(signum).name)
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    workers.start()
    url = f"http://{settings.listen_host}:{server.port}"
    if on_listening is not None:
        on_listening(url)
    log.info(
        "calsync running",
        url=url,
        database=_safe_url(settings.database_url),
        broker=shown_broker_url(settings.broker_url),
    )
    server.serve_forever()
    workers.join(timeout=30)  # in-flight messages finish (run_workers' grace period)


def _listening_socket(host: str, port: int) -> socket.socket:
    """Bound here, not by Werkzeug: on a taken port it prints its own lines and exits."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
        listening.listen(socket.SOMAXCONN)
    except OSError as error:
        listening.close()
        raise ListenFailed(
            f"cannot listen on {host}:{port}: {error.strerror or error}; "
            "stop what uses it or set CALSYNC_LISTEN to another host:port"
        ) from None
    return listening


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a kombu URL SQLAlchemy cannot parse: show scheme only
        return url.split("://", 1)[0] + "://…"
