"""gunicorn's gthread worker, buffering each request before a thread takes it; JSON for its errors.

Stock gthread hands a connection to a thread as soon as its first byte arrives, and the thread
then reads the request line, headers and body with blocking reads and no deadline. A client that
trickles a header line a second holds that thread for as long as it likes: 16 such clients
(2 workers x 8 threads) stop the service. Here the worker's poller reads each request (line,
headers and a ``Content-Length`` body) without blocking, as many connections at once as
``worker_connections`` allows, and queues it for a thread only once it is complete. A request
that is not complete within ``REQUEST_READ_SECONDS`` is answered 408 and closed.

gunicorn writes the errors it finds itself (414 request line too long, 431 headers too large,
400 malformed request) as HTML through one function, ``gunicorn.util.write_error``; this module
replaces it with the ``{"error": {"code", "message"}}`` body the application answers with.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
import selectors
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import TConn, ThreadWorker

#: Whole-request budget from the first byte (or the end of the previous request on a kept-alive
#: connection) to the last: generous for a webhook sender, short for a slow-loris.
REQUEST_READ_SECONDS = 10.0
#: Largest body the poller waits for; Flask refuses bigger ones (MAX_CONTENT_LENGTH) unread.
MAX_BUFFERED_BODY = 1024 * 1024
_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d{1,10})[ \t]*\r?$", re.I | re.M)
# Bodies the poller cannot size, or that the client sends only after an answer: the thread
# reads them as stock gthread does.
_THREAD_READS_BODY = re.compile(rb"^(transfer-encoding|expect)[ \t]*:", re.I | re.M)


def request_is_buffered(data: bytes, max_head: int) -> bool:
    """Whether a thread can take the request that ``data`` starts: it is complete, or it is
    one the thread must read or refuse itself (too large a head, body it cannot size)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return len(data) > max_head  # gunicorn's parser refuses it (414 or 431) from the buffer
    head = data[:end]
    lengths = _CONTENT_LENGTH.findall(head)
    if _THREAD_READS_BODY.search(head) or len(lengths) > 1:
        return True
    body = int(lengths[0]) if lengths else 0
    return body > MAX_BUFFERED_BODY or len(data) >= end + 4 + body


@dataclass
class _Reading:
    deadline: float
    data: bytearray = field(default_factory=bytearray)


class BufferingThreadWorker(ThreadWorker):
    """gthread whose threads only ever see complete requests (see the module's docstring)."""

    def init_process(self) -> None:
        self._reading: dict[TConn, _Reading] = {}
        self._max_head = (
            self.cfg.limit_request_line
            + self.cfg.limit_request_fields * (self.cfg.limit_request_field_size + 2)
            + 4
        )
        super().init_process()

    def accept(self, listener: socket.socket) -> None:
        if self.cfg.is_ssl:  # TLS needs its handshake in a thread first; not used here
            super().accept(listener)
            return
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._read_request(TConn(self.cfg, client, address, listener.getsockname()))

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        # The next request on a kept-alive connection is buffered like the first.
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_request(conn)

    def _read_request(self, conn: TConn) -> None:
        conn.sock.setblocking(False)
        self._reading[conn] = _Reading(time.monotonic() + REQUEST_READ_SECONDS)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_request_bytes, conn))

    def _on_request_bytes(self, conn: TConn, sock: socket.socket) -> None:
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._forget(conn)
            return
        reading = self._reading[conn]
        reading.data += chunk
        if request_is_buffered(bytes(reading.data), self._max_head):
            self.poller.unregister(sock)
            del self._reading[conn]
            conn.calsync_buffered = bytes(reading.data)
            conn.data_ready = True
            self.enqueue_req(conn)

    def handle(self, conn: TConn) -> Any:
        """In a thread: put the buffered bytes in front of the parser, then serve as gthread."""
        buffered = getattr(conn, "calsync_buffered", b"")
        if buffered:
            conn.calsync_buffered = b""
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(buffered)
        return super().handle(conn)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c, reading in self._reading.items() if reading.deadline <= now]:
            _send_quietly(
                conn.sock, _json_error(408, "Request Timeout", "request not sent in time")
            )
            self._forget(conn)

    def _forget(self, conn: TConn) -> None:
        self._reading.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):  # already unregistered
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()


def json_error_body(status: int, message: str) -> bytes:
    """The application's error body (``ingest.errors``), its code named after the status."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    code = re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def _json_error(status: int, reason: str, message: str) -> bytes:
    body = json_error_body(status, message)
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.send(data)  # non-blocking, best effort: the connection closes right after


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``write_error`` with the application's JSON error body instead of HTML."""
    util.write_nonblock(sock, _json_error(status_int, reason, mesg))


util.write_error = write_json_error
