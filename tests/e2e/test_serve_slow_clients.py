"""``calsync serve`` keeps answering while slow clients trickle requests, and closes them; the
servers' own errors are JSON."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.e2e.conftest import CALSYNC
from tests.e2e.test_run import free_port, wait_for_json

SLOW_CLIENTS = 64
TRICKLE_SECONDS = 20.0


@contextmanager
def serving(calsync, command: str = "serve") -> Iterator[int]:
    """``calsync COMMAND`` on a free loopback port, answering /healthz; its port."""
    assert calsync("db", "upgrade").returncode == 0
    port = free_port()
    env = {**calsync.env, "CALSYNC_LISTEN": f"127.0.0.1:{port}"}
    process = subprocess.Popen(
        [*CALSYNC, command],
        cwd=calsync.cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_json(f"http://127.0.0.1:{port}/healthz")
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


class Trickler(threading.Thread):
    """Slow clients: each opens a request and sends one more header line a second, forever;
    one the server closes is replaced, so the pressure lasts the whole run."""

    def __init__(self, port: int, count: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.first = [self._open() for _ in range(count)]
        self.current = list(self.first)
        self.stop = threading.Event()

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        return sock

    def run(self) -> None:
        line = 0
        while not self.stop.wait(1.0):
            line += 1
            for n, sock in enumerate(self.current):
                try:
                    sock.sendall(f"X-Slow-{line}: {n}\r\n".encode())
                except OSError:
                    sock.close()
                    self.current[n] = self._open()


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server answered or closed ``sock`` (which never finished its request)."""
    if sock.fileno() < 0:
        return True  # the Trickler closed it when the server refused a header line
    sock.settimeout(0.5)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return False
    except OSError:
        return True  # reset
    return data == b"" or data.startswith(b"HTTP/1.1 408")


def healthz_within_a_second(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        return response.status == 200 and b'"ok"' in response.read()
    except OSError:
        return False
    finally:
        connection.close()


@pytest.mark.slow
def test_healthz_answers_within_a_second_while_64_clients_trickle_headers(calsync) -> None:
    with serving(calsync) as port:
        # Given 64 clients on loopback each sending a header line a second
        trickler = Trickler(port, SLOW_CLIENTS)
        trickler.start()
        try:
            # When /healthz is asked again and again for 20 s meanwhile
            answers: list[bool] = []
            deadline = time.monotonic() + TRICKLE_SECONDS
            while time.monotonic() < deadline:
                answers.append(healthz_within_a_second(port))
                time.sleep(0.25)
        finally:
            trickler.stop.set()
            trickler.join(timeout=10)

        # Then every answer came within its second, and the server closed the half-sent
        # requests instead of waiting on them for ever
        assert len(answers) >= 10
        assert all(answers), f"{answers.count(False)} of {len(answers)} /healthz timed out"
        still_open = [sock for sock in trickler.first if not closed_by_server(sock)]
        assert still_open == [], f"{len(still_open)} half-sent requests were never closed"
        for sock in trickler.current:
            sock.close()


def raw_answer(port: int, request: bytes) -> tuple[int, str, dict]:
    """Send ``request`` as is; the status, content type and JSON body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.getheader("Content-Type", ""), json.loads(response.read())


def server_errors(limit: int) -> list[tuple[int, bytes]]:
    """Requests the HTTP server refuses itself, past a request line or header of ``limit``."""
    many_headers = b"".join(f"X-H{n}: v\r\n".encode() for n in range(200))
    return [
        (414, b"GET /" + b"a" * limit + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        (431, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many_headers + b"\r\n"),
        (400, b"GET /healthz extra HTTP/1.1\r\nHost: x\r\n\r\n"),
    ]


@pytest.mark.slow
# Just past each server's request-line limit (gunicorn 8,190, werkzeug 65,536): a server closing
# with much of the request unread resets the connection, and the client may lose the answer.
@pytest.mark.parametrize(("command", "limit"), [("serve", 8_200), ("run", 65_600)])
def test_errors_the_server_finds_itself_are_json(calsync, command: str, limit: int) -> None:
    with serving(calsync, command) as port:
        for status, request in server_errors(limit):
            answer, content_type, body = raw_answer(port, request)

            assert (answer, content_type) == (status, "application/json"), request[:40]
            assert set(body["error"]) == {"code", "message"}
