"""Starting the sandboxes: in-process and as the ``calsync sandbox`` command."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx

from infra.sandbox.server import SandboxServer


def test_both_sandboxes_start_well_under_two_seconds() -> None:
    started = time.monotonic()
    with SandboxServer() as sandbox:
        elapsed = time.monotonic() - started
        assert httpx.get(f"{sandbox.google_url}/_admin/users").json() == []
        assert httpx.get(f"{sandbox.graph_url}/_admin/users").json() == []
    assert elapsed < 2
    assert sandbox.google.port != sandbox.graph.port


def test_the_command_prints_its_addresses_and_stops_on_sigterm() -> None:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.sandbox", "--google-port", "0", "--graph-port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().split() for _ in range(7)]
        ready = time.monotonic() - started

        assert lines[0][-1].endswith("/calendar/v3/")
        assert lines[1][-1].endswith("/token")
        assert lines[3][-1].endswith("/v1.0")
        assert lines[4][-1].endswith("/common/oauth2/v2.0/token")
        assert httpx.get(f"{lines[5][-1]}/users").json() == []
        # Includes starting the interpreter and importing Flask, httpx and the apps.
        assert ready < 3, f"the command took {ready:.2f}s to print its addresses"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
