"""A local webhook receiver that records what the sandboxes deliver to it."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from infra.sandbox.server import QuietRequestHandler


@dataclass
class Received:
    """One request that reached the receiver."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Records every POST; answers Graph validation requests by echoing the token.

    ``status`` is what ordinary notifications get; ``validation_reply`` can replace the echo.
    """

    status: int = 202
    validation_reply: str | None = None
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=QuietRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL of the receiver."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        """Shut the receiver down."""
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        token = request.args.get("validationToken")
        record = Received(
            request.path, dict(request.args), dict(request.headers), request.get_data()
        )
        with self._lock:
            self.received.append(record)
        if token is not None:
            reply = token if self.validation_reply is None else self.validation_reply
            response = Response(reply, status=200, content_type="text/plain; charset=utf-8")
        else:
            response = Response(status=self.status)
        return response(environ, start_response)

    def notifications(self, path: str | None = None) -> list[Received]:
        """Received requests that are not validation handshakes."""
        with self._lock:
            return [
                r
                for r in self.received
                if "validationToken" not in r.query and (path is None or r.path == path)
            ]

    def validations(self) -> list[Received]:
        """Received validation handshakes."""
        with self._lock:
            return [r for r in self.received if "validationToken" in r.query]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 5.0) -> list[Received]:
        """Poll until ``count`` notifications arrived; returns what arrived."""
        deadline = time.monotonic() + timeout
        while len(self.notifications(path)) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.notifications(path)

    def wait_for_items(
        self, count: int, path: str | None = None, timeout: float = 5.0
    ) -> list[Any]:
        """Poll until ``count`` Graph items (across batches) arrived; returns the items."""
        deadline = time.monotonic() + timeout
        while True:
            items = [item for r in self.notifications(path) for item in r.json()["value"]]
            if len(items) >= count or time.monotonic() > deadline:
                return items
            time.sleep(0.01)

    def settle(self, quiet: float = 0.3) -> list[Received]:
        """Wait until nothing new arrived for ``quiet`` seconds; returns all notifications."""
        seen = -1
        while len(self.notifications()) != seen:
            seen = len(self.notifications())
            time.sleep(quiet)
        return self.notifications()
