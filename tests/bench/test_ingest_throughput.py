"""Webhook ingest at near bare-Flask speed (issue 4).

One gunicorn (infra/gunicorn_conf.py: 2 gthread workers) serves (a) a bare Flask route that
answers 202 and (b) ``POST /webhooks/google`` with a confirmed publish to a quorum queue.
wrk drives each at 16 connections; the figure is (b)/(a) in requests per second, plus (b)'s
p99 latency. Afterwards the queue must hold exactly as many hints as (b) answered 2xx.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.bench.conftest import report
from tests.conftest import queue_depth

ROOT = Path(__file__).resolve().parents[2]
DURATION = os.environ.get("BENCH_DURATION", "8s")
CONNECTIONS = 16


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wrk(url: str, script: Path) -> tuple[float, float, int, int]:
    """Requests/s, p99 latency in ms, completed requests and non-2xx responses of one run."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    print(out)
    return rps, float(p99.group(1)) * scale, requests, int(bad.group(1)) if bad else 0


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_google_webhook_throughput_against_bare_flask(tmp_path: Path, rabbitmq_vhost: str) -> None:
    from adapters.directory_file import parse_directory
    from adapters.sql.channels import SqlChannels
    from infra.bootstrap import Container
    from infra.settings import Settings
    from tests.factories import article_directory

    port = free_port()
    env = {
        **os.environ,
        "CALSYNC_VAR_DIR": str(tmp_path),
        "CALSYNC_BROKER_URL": rabbitmq_vhost,
        "CALSYNC_LISTEN": f"127.0.0.1:{port}",
        "CALSYNC_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    env.setdefault("CALSYNC_DATABASE_URL", f"sqlite:///{tmp_path}/calsync.sqlite3")
    container = Container(Settings.from_env(env))
    from infra import db

    db.upgrade(container.engine)
    container.directory.load(parse_directory(article_directory()))
    connection = container.connections.connect(
        "exempel", "karl", "google", '{"refresh_token": "x"}'
    )
    token = secrets.token_urlsafe(24)
    SqlChannels(container.engine).register("bench-channel", connection.id, "google", token)
    container.close()

    script = tmp_path / "google.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.headers["X-Goog-Channel-ID"] = "bench-channel"\n'
        f'wrk.headers["X-Goog-Channel-Token"] = "{token}"\n'
        'wrk.headers["X-Goog-Resource-ID"] = "res-1"\n'
        'wrk.headers["X-Goog-Resource-State"] = "exists"\n'
        'wrk.headers["X-Goog-Message-Number"] = "2"\n'
        'wrk.headers["X-Goog-Resource-URI"] = "https://www.googleapis.com/calendar/v3/calendars/primary/events"\n'
    )
    bare = tmp_path / "bare.lua"
    bare.write_text('wrk.method = "POST"\n')

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "infra/gunicorn_conf.py"),
            "-b",
            f"127.0.0.1:{port}",
            "tests.bench.ingest_app:create()",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz")
        base = f"http://127.0.0.1:{port}"
        wrk(f"{base}/bench/bare", bare)  # warm-up, both workers loaded
        bare_rps, bare_p99, _bare_requests, bare_bad = wrk(f"{base}/bench/bare", bare)
        hook_rps, hook_p99, hook_requests, hook_bad = wrk(f"{base}/webhooks/google", script)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert bare_bad == 0
    assert hook_bad == 0
    report(
        "Google webhook with confirmed publish",
        hook_rps,
        "req/s",
        baseline=bare_rps,
        baseline_name="bare Flask 202",
        target=0.8 * bare_rps,
    )
    print(f"BENCH p99 latency: webhook {hook_p99:.1f} ms (target <= 25 ms), bare {bare_p99:.1f} ms")
    # Every 2xx was confirmed by the broker, so each one's hint is in the queue (a request
    # cut off when wrk stopped may have been queued too, hence "at least").
    assert queue_depth(rabbitmq_vhost, "sync") >= hook_requests - hook_bad
