"""``calsync run`` on the embedded default serves the HTTP service (what ``make run`` starts)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request

from tests.e2e.conftest import CALSYNC


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_json(url: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def serve_healthz_then_stop(calsync, command: str) -> tuple[dict, int, str]:
    """Start ``calsync <command>``, read /healthz, SIGTERM it: the health, status and stderr."""
    assert calsync("db", "upgrade").returncode == 0
    port = free_port()
    env = {**calsync.env, "CALSYNC_LISTEN": f"127.0.0.1:{port}"}
    process = subprocess.Popen(
        [*CALSYNC, command],
        cwd=calsync.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = wait_for_json(f"http://127.0.0.1:{port}/healthz")
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    return health, process.returncode, err


def test_run_serves_healthz_and_stops_cleanly_on_sigterm(calsync) -> None:
    health, status, err = serve_healthz_then_stop(calsync, "run")
    assert health == {"status": "ok"}
    assert status == 0, err
    assert "shutting down" in err


def test_serve_runs_gunicorn_with_its_config_and_serves_healthz(calsync) -> None:
    # `calsync serve` is the production server: gunicorn with infra/gunicorn_conf.py
    health, status, err = serve_healthz_then_stop(calsync, "serve")
    assert health == {"status": "ok"}
    assert status == 0, err
    assert "Booting worker" in err  # gunicorn's own workers, as configured
