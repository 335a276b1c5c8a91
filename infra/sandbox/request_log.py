"""A log of provider API calls with start and end times, for tests to count and order them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl

#: WSGI environ key under which the apps leave the authenticated user for the log.
USER_ENVIRON_KEY = "sandbox.user"

#: Paths under this prefix are the sandbox's own controls, not provider calls.
ADMIN_PREFIX = "/_admin"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass
class RequestRecord:
    """One provider call. ``started``/``finished`` are Unix timestamps in seconds."""

    method: str
    path: str
    query: dict[str, str]
    user: str | None
    status: int
    started: float
    finished: float


class RequestLog:
    """Thread-safe, append-only list of :class:`RequestRecord`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        """Add a finished request."""
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        """Forget everything logged so far."""
        with self._lock:
            self._records.clear()

    def as_dicts(self) -> list[dict[str, Any]]:
        """The records in arrival order, as JSON-ready dicts."""
        with self._lock:
            return [asdict(record) for record in self._records]


class RequestLogMiddleware:
    """WSGI middleware that times every non-admin request and logs it."""

    def __init__(self, app: WsgiApp, log: RequestLog) -> None:
        self._app = app
        self._log = log

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(ADMIN_PREFIX):
            return self._app(environ, start_response)
        started = time.time()
        status_holder: list[int] = []

        def recording_start_response(status: str, *args: Any) -> Any:
            status_holder.append(int(status.split(" ", 1)[0]))
            return start_response(status, *args)

        body = list(self._app(environ, recording_start_response))
        self._log.append(
            RequestRecord(
                method=environ.get("REQUEST_METHOD", ""),
                path=path,
                query=dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)),
                user=environ.get(USER_ENVIRON_KEY),
                status=status_holder[0] if status_holder else 0,
                started=started,
                finished=time.time(),
            )
        )
        return body
