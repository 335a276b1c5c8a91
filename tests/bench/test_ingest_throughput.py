"""Webhook ingest at near bare-Flask speed (issue 4).

One gunicorn (infra/gunicorn_conf.py, unchanged: its workers, worker class, threads and
per-worker sockets) serves (a) a bare Flask route that answers 202 and (b)
``POST /webhooks/google`` with a confirmed publish to a quorum queue. wrk drives each at 16
connections, alternating (a) and (b) for ``BENCH_ROUNDS`` rounds so both see the same
machine load; the figure is (b)/(a) in requests per second (the best run of each), plus
both p99 latencies. Afterwards the queue must hold at least as many hints as (b) answered 2xx.
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
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.bench.conftest import report
from tests.conftest import queue_depth

ROOT = Path(__file__).resolve().parents[2]
DURATION = os.environ.get("BENCH_DURATION", "5s")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = 16


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Run:
    """One wrk run: requests/s, p50 and p99 latency in ms, completed and non-2xx requests,
    and the CPU the gunicorn workers and the broker spent per request, in µs."""

    rps: float
    p50: float
    p99: float
    requests: int
    bad: int
    server_cpu_us: float = 0.0
    broker_cpu_us: float | None = None


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far (Linux /proc)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def local_broker_pids() -> list[int]:
    """RabbitMQ's Erlang VM when it runs on this machine; empty for a remote broker."""
    found = subprocess.run(["pgrep", "-x", "beam.smp"], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def measured(url: str, script: Path, workers: list[int], broker: list[int]) -> Run:
    """A wrk run with the CPU time the server and the broker spent on it."""
    server_before, broker_before = cpu_seconds(workers), cpu_seconds(broker)
    run = wrk(url, script)
    server_cpu = cpu_seconds(workers) - server_before
    broker_cpu = cpu_seconds(broker) - broker_before
    return replace(
        run,
        server_cpu_us=server_cpu / run.requests * 1e6,
        broker_cpu_us=broker_cpu / run.requests * 1e6 if broker else None,
    )


def worker_pids(server: int) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-P", str(server)], capture_output=True, text=True, check=False
    )
    return [int(pid) for pid in found.stdout.split()]


def wrk(url: str, script: Path, duration: str = DURATION) -> Run:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Run(
        rps, latency(out, "50%"), latency(out, "99%"), requests, int(bad.group(1)) if bad else 0
    )


def latency(out: str, percentile: str) -> float:
    """A percentile of wrk's latency distribution, in ms."""
    found = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", out)
    assert found is not None, out
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)


def test_google_webhook_throughput_against_bare_flask(tmp_path: Path, broker_url: str) -> None:
    # broker_url, not the bare session vhost: its queues are emptied afterwards, so the tens of
    # thousands of hints this leaves do not sit in front of the next benchmark's worker.
    if shutil.which("wrk") is None:
        reason = "wrk is not installed (apt-get install wrk): ingest throughput NOT measured"
        print(f"\nBENCH SKIPPED: {reason}")
        pytest.skip(reason)
    from adapters.directory_file import parse_directory
    from adapters.sql.channels import SqlChannels
    from infra.bootstrap import Container
    from infra.settings import Settings
    from tests.factories import article_directory

    port = free_port()
    env = {
        **os.environ,
        "CALSYNC_VAR_DIR": str(tmp_path),
        "CALSYNC_BROKER_URL": broker_url,
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

    server_log = tmp_path / "gunicorn.log"
    log_file = server_log.open("w")
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
        stderr=log_file,
    )
    bares: list[Run] = []
    hooks: list[Run] = []
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz")
        base = f"http://127.0.0.1:{port}"
        # Warm-up: both workers import everything and open their broker connection.
        wrk(f"{base}/bench/bare", bare, "2s")
        warm = wrk(f"{base}/webhooks/google", script, "2s")
        workers, broker = worker_pids(server.pid), local_broker_pids()
        for _round in range(ROUNDS):
            bares.append(measured(f"{base}/bench/bare", bare, workers, broker))
            hooks.append(measured(f"{base}/webhooks/google", script, workers, broker))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log_file.close()
    for name, runs in (("bare", bares), ("webhook", hooks)):
        for run in runs:
            broker_cpu = "" if run.broker_cpu_us is None else f", broker {run.broker_cpu_us:.0f}"
            print(
                f"  {name:8} {run.rps:8,.0f} req/s  p50 {run.p50:6.1f} ms  p99 {run.p99:6.1f} ms"
                f"  ({run.requests} requests, {run.bad} non-2xx)"
                f"  CPU µs/request: gunicorn {run.server_cpu_us:.0f}{broker_cpu}"
            )
    assert all(run.bad == 0 for run in bares + hooks), server_log.read_text()[-3000:]
    best_bare = max(bares, key=lambda run: run.rps)
    best_hook = max(hooks, key=lambda run: run.rps)
    report(
        "Google webhook with confirmed publish",
        best_hook.rps,
        "req/s",
        baseline=best_bare.rps,
        baseline_name="bare Flask 202",
        target=0.8 * best_bare.rps,
    )
    # Why the ratio stops where it does on a small machine: the broker's CPU per confirmed
    # quorum message alone is most of what a whole bare request costs, on the same cores.
    if best_hook.broker_cpu_us is not None:
        print(
            f"BENCH CPU per request: bare {best_bare.server_cpu_us:.0f} µs; webhook "
            f"{best_hook.server_cpu_us:.0f} µs in gunicorn + {best_hook.broker_cpu_us:.0f} µs "
            f"in RabbitMQ, on {os.cpu_count()} cores shared with wrk"
        )
    print(
        f"BENCH p99 latency (best runs): webhook {best_hook.p99:.1f} ms (target <= 25 ms), "
        f"bare {best_bare.p99:.1f} ms; lowest webhook p99 {min(r.p99 for r in hooks):.1f} ms"
    )
    # Every 2xx was confirmed by the broker, so each one's hint is in the queue (a request
    # cut off when wrk stopped may have been queued too, hence "at least").
    answered = sum(run.requests - run.bad for run in [warm, *hooks])
    assert queue_depth(broker_url, "sync") >= answered
