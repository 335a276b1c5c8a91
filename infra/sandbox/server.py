"""Running the sandboxes on background threads: one port per provider."""

from __future__ import annotations

import socket
import ssl
import threading
from types import TracebackType
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from infra.sandbox.google_app import create_google_app
from infra.sandbox.google_state import GoogleState
from infra.sandbox.graph_app import create_graph_app
from infra.sandbox.graph_state import GraphState
from infra.sandbox.tls import LocalCertificate, create_local_certificate


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without the per-request access log line."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Say nothing; the sandbox keeps its own request log."""


class AppServer:
    """One WSGI app served by werkzeug on a daemon thread (``port=0`` picks a free port)."""

    def __init__(
        self,
        app: Flask,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.ssl_context = ssl_context
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and start serving.

        Raises:
            OSError: the port is taken or the host cannot be bound.
        """
        # Bind here rather than in werkzeug, which answers a busy port with sys.exit(1).
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.create_server((self.host, self.requested_port), family=family) as listener:
            self._server = make_server(
                self.host,
                self.requested_port,
                self.app,
                threaded=True,
                request_handler=QuietRequestHandler,
                ssl_context=self.ssl_context,
                fd=listener.fileno(),
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-{self.app.name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None, "server not started"
        return int(self._server.port)

    @property
    def url(self) -> str:
        """``http(s)://host:port`` without a trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host}:{self.port}"


class SandboxServer:
    """Both sandboxes, Google and Graph, each on its own port.

    With ``tls=True`` both serve https with a generated self-signed certificate; clients
    trust it through :attr:`ca_file` (MSAL needs this: it only accepts https authorities).

    Use as a context manager or call :meth:`start` and :meth:`stop`::

        with SandboxServer() as sandbox:
            build("calendar", "v3", ..., client_options={"api_endpoint": sandbox.google_api_url})
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        google_port: int = 0,
        graph_port: int = 0,
        tls: bool = False,
    ) -> None:
        self.certificate: LocalCertificate | None = create_local_certificate() if tls else None
        context = self.certificate.server_context() if self.certificate else None
        self.google_state = GoogleState()
        self.graph_state = GraphState()
        self.google = AppServer(create_google_app(self.google_state), host, google_port, context)
        self.graph = AppServer(create_graph_app(self.graph_state), host, graph_port, context)

    def start(self) -> SandboxServer:
        """Start both servers and their notification threads.

        Raises:
            OSError: a port is taken (nothing is left running then).
        """
        self.google.start()
        try:
            self.graph.start()
        except OSError:
            self.google.stop()
            raise
        self.google_state.dispatcher.start()
        self.graph_state.dispatcher.start()
        return self

    def stop(self) -> None:
        """Stop both servers."""
        self.google.stop()
        self.graph.stop()
        self.google_state.dispatcher.stop()
        self.graph_state.dispatcher.stop()
        self.google_state.outbound.close()
        self.graph_state.outbound.close()
        self.google_state.reset()
        self.graph_state.reset()
        if self.certificate is not None:
            self.certificate.remove()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def ca_file(self) -> str | None:
        """PEM file of the self-signed certificate when serving https, else ``None``."""
        return self.certificate.ca_file if self.certificate else None

    @property
    def google_url(self) -> str:
        """Root of the Google sandbox (admin API at ``/_admin``)."""
        return self.google.url

    @property
    def google_api_url(self) -> str:
        """The ``api_endpoint`` for ``googleapiclient.discovery.build("calendar", "v3")``."""
        return f"{self.google.url}/calendar/v3/"

    @property
    def google_token_url(self) -> str:
        """The ``token_uri`` for Google credentials."""
        return f"{self.google.url}/token"

    @property
    def graph_url(self) -> str:
        """Root of the Graph sandbox (admin API at ``/_admin``)."""
        return self.graph.url

    @property
    def graph_api_url(self) -> str:
        """The ``base_url`` for msgraph's request adapter (``.../v1.0``, no trailing slash)."""
        return f"{self.graph.url}/v1.0"

    def graph_token_url(self, tenant: str = "common") -> str:
        """The v2.0 token endpoint of ``tenant``."""
        return f"{self.graph.url}/{tenant}/oauth2/v2.0/token"

    def graph_authority(self, tenant: str = "common") -> str:
        """The authority URL for MSAL (needs the sandbox served over https, see ``tls``)."""
        return f"{self.graph.url}/{tenant}"
