"""``calsync crm send FILE``: the event signed as the CRM signs it, posted, the answer printed;
failures are one line, exit 1 (2 for bad usage), and the secret is never shown."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ingest.signature import verify
from tests.e2e.conftest import ROOT

SECRET = "crm-secret-for-the-test-0123456789"
EXAMPLE = ROOT / "docs" / "examples" / "appointment-saved-ann.json"


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]
    status = 202

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        answer = (
            json.dumps({"id": json.loads(body)["id"]})
            if self.status == 202
            else json.dumps({"error": {"code": "invalid_body", "message": "data.start: no"}})
        ).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Handler", (_Receiver,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/crm/events", handler
    finally:
        server.shutdown()
        server.server_close()


Run = Callable[..., Any]


def test_the_event_is_signed_with_the_deployment_secret_and_its_dates_filled(
    calsync: Run, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    calsync.env["CALSYNC_CRM_SIGNING_SECRET"] = SECRET  # type: ignore[attr-defined]

    result = calsync("crm", "send", str(EXAMPLE), "--url", url)

    assert result.returncode == 0, result.stderr
    [(headers, body)] = handler.received
    verify(headers["X-Calsync-Signature"], body, SECRET, now=time.time())  # raises if not
    sent = json.loads(body)
    assert result.stdout == json.dumps({"id": sent["id"]}) + "\n"
    assert "{{" not in body.decode()
    assert sent["data"]["start"].endswith("T10:00:00Z")
    assert SECRET not in result.stdout + result.stderr


def test_without_a_url_it_posts_to_the_public_url(
    calsync: Run, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    calsync.env["CALSYNC_PUBLIC_URL"] = url.removesuffix("/crm/events")  # type: ignore[attr-defined]

    result = calsync("crm", "send", str(EXAMPLE))

    assert result.returncode == 0, result.stderr
    assert len(handler.received) == 1


def test_a_refusal_is_one_line_with_the_status_and_message(
    calsync: Run, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    handler.status = 400

    result = calsync("crm", "send", str(EXAMPLE), "--url", url)

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == f"calsync: error: {url} answered 400: data.start: no"


def test_nothing_listening_bad_json_and_a_missing_file(calsync: Run, tmp_path: Path) -> None:
    down = calsync("crm", "send", str(EXAMPLE), "--url", "http://127.0.0.1:9/crm/events")
    (tmp_path / "bad.json").write_text("{not json")
    bad = calsync("crm", "send", "bad.json", "--url", "http://127.0.0.1:9/crm/events")
    missing = calsync("crm", "send", "missing.json")

    assert down.returncode == 1
    assert down.stderr.splitlines()[-1].startswith(
        "calsync: error: cannot post to http://127.0.0.1:9/crm/events: ConnectError"
    )
    assert bad.returncode == 1
    assert bad.stderr.splitlines()[-1].startswith("calsync: error: bad.json: not JSON:")
    assert missing.returncode == 2
    assert missing.stderr.startswith("calsync: usage:")
