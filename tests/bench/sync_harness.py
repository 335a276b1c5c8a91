"""A shared harness for the sync-worker benchmarks: real processes, real servers.

Three processes besides PostgreSQL and RabbitMQ, so that no figure is bent by a shared GIL:

- the **sandbox** (``python -m infra.sandbox``): fake Google Calendar, with its request log;
- the **worker** (``python -m tests.bench.sync_harness``): exactly the ``sync`` consumer of
  ``calsync worker --queue sync`` (same composition root, same ``Worker`` and ``SyncHandler``),
  plus a pass-through handler that writes how many hints it handled to a status file after
  each one, and per-stage sync timings (provider page, resolution, planning, writes);
- the **test** itself: ingest (``POST /webhooks/google`` through the real Flask app, publishing
  with confirms to RabbitMQ, as ``calsync serve`` does) and the read API, both through Flask's
  test client, and SQL reads of the store to tell when it has settled.

``BENCH_PROFILE=1`` runs the worker under cProfile and prints its top functions afterwards.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: The account every benchmark loads.
ACCOUNT = "bench"
#: The Google list-changes call in the sandbox's request log.
GOOGLE_LIST_PATH = re.compile(r"/calendars/primary/events$")
#: Tables ``World.analyze`` gives statistics to: what is loaded before any sync.
DIRECTORY_TABLES = (
    "accounts",
    "account_domains",
    "users",
    "user_emails",
    "companies",
    "contacts",
    "contact_emails",
    "calendar_connections",
    "push_channels",
)
#: Tables a sync writes.
APPOINTMENT_TABLES = (
    "appointments",
    "appointment_participants",
    "appointment_rooms",
    "event_links",
    "event_explanations",  # only deletes here: every benchmark event is synced
)
#: Events start this far ahead, inside R9's window (today .. three months on).
FIRST_START = timedelta(days=2)


# --- reporting ----------------------------------------------------------------------------


def report_at_most(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float,
    baseline_name: str,
    target: float,
) -> None:
    """``report`` for a figure whose target is a maximum (fewer calls, less latency)."""
    from tests.bench.conftest import report

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        report(name, value, unit, baseline=baseline, baseline_name=baseline_name)
    verdict = "met" if value <= target else "NOT MET"
    print(captured.getvalue().rstrip("\n") + f"  target <= {target:,.0f} {unit}: {verdict}")


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


# --- event bodies -------------------------------------------------------------------------


def first_slot() -> datetime:
    """Where event slots start: the top of the hour, ``FIRST_START`` from now."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + FIRST_START


def slot_start(n: int, base: datetime) -> datetime:
    """Start of event ``n``: half-hour slots from ``base``, 2,000 of them (R9 window)."""
    return base + timedelta(minutes=30 * (n % 2000))


def event_body(
    owner_email: str, n: int, *, contacts: int, base: datetime | None = None
) -> dict[str, Any]:
    """Google event ``n`` owned by ``owner_email``: three contacts, a colleague, a stranger.

    Attendees never include another sandbox user, so no copy lands in a second calendar.
    """
    begin = slot_start(n, base or first_slot())
    people = [(n * 7 + k * 131) % contacts for k in range(3)]
    return {
        "summary": f"Meeting {n}",
        "description": "Agenda: pricing, rollout, next steps.",
        "location": "Room 4",
        "start": {"dateTime": rfc3339(begin)},
        "end": {"dateTime": rfc3339(begin + timedelta(minutes=30))},
        "attendees": [
            {"email": owner_email, "responseStatus": "accepted"},
            *({"email": f"person{p}@customer{p // 10}.example"} for p in people),
            {"email": f"colleague{n}@seller.example"},
            {"email": f"stranger{n}@elsewhere.example", "responseStatus": "declined"},
        ],
    }


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the sandbox process ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SandboxProcess:
    """``python -m infra.sandbox`` on free ports; ``admin`` talks to its Google side."""

    def __init__(self, tmp_path: Path) -> None:
        import httpx

        from infra.sandbox.client import SandboxAdminClient

        google, graph = free_port(), free_port()
        self.google_url = f"http://127.0.0.1:{google}"
        self.graph_url = f"http://127.0.0.1:{graph}"
        self._log = (tmp_path / "sandbox.log").open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infra.sandbox",
                *("--google-port", str(google)),
                *("--graph-port", str(graph)),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.admin = SandboxAdminClient(self.google_url, timeout=60)
        deadline = time.monotonic() + 30
        try:
            while True:
                try:
                    self.admin.reset()
                    break
                except (OSError, httpx.TransportError):
                    assert self.process.poll() is None, "the sandbox exited"
                    assert time.monotonic() < deadline, "the sandbox did not start"
                    time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def list_calls(self, users: set[str] | None = None) -> list[dict[str, Any]]:
        """Google change-listing calls so far (of ``users`` only, when given)."""
        return [
            r
            for r in self.admin.requests()
            if r["method"] == "GET"
            and GOOGLE_LIST_PATH.search(r["path"])
            and (users is None or r["user"] in users)
        ]

    def stop(self) -> None:
        self.admin.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


# --- the worker process -------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """One sync worker process (see ``worker_main``)."""

    process: subprocess.Popen
    status_file: Path
    profile_file: Path | None
    log_file: Path

    def status(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.status_file.read_text()))
        except (OSError, ValueError):
            return {"handled": 0}

    def handled(self) -> int:
        return int(self.status().get("handled", 0))

    def peak_rss_mib(self) -> float:
        """VmHWM of the worker process: its peak resident set size."""
        text = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", text)
        assert match is not None, text
        return int(match.group(1)) / 1024

    def cpu_seconds(self) -> float:
        """User plus system CPU time the worker process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_file.read_text()[-3000:]
            raise AssertionError(f"worker exited with {self.process.returncode}:\n{tail}")

    def stop(self) -> dict[str, Any]:
        """SIGTERM (in-flight work finishes), then the final status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.profile_file is not None and self.profile_file.exists():
            print_profile(self.profile_file)
            self.profile_file = None  # printed once, however often stop is called
        return self.status()


@dataclass
class Workers:
    """The sync worker processes of a run, seen as one (counts summed, peak RSS the max)."""

    processes: list[WorkerProcess]

    def status(self) -> dict[str, Any]:
        merged: dict[str, Any] = {"handled": 0, "failed": 0}
        for status in (process.status() for process in self.processes):
            merged["handled"] += status.get("handled", 0)
            merged["failed"] += status.get("failed", 0)
            if "gc_tracked_objects" in status:
                merged["gc_tracked_objects"] = max(
                    merged.get("gc_tracked_objects", 0), status["gc_tracked_objects"]
                )
            for key in ("outcomes", "stage_seconds", "stage_calls"):
                into = merged.setdefault(key, {})
                for name, value in status.get(key, {}).items():
                    into[name] = into.get(name, 0) + value
        return merged

    def handled(self) -> int:
        return int(self.status()["handled"])

    def peak_rss_mib(self) -> float:
        return max(process.peak_rss_mib() for process in self.processes)

    def cpu_seconds(self) -> float:
        return sum(process.cpu_seconds() for process in self.processes)

    def check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()

    @property
    def log_files(self) -> list[Path]:
        return [process.log_file for process in self.processes]

    def stop(self) -> dict[str, Any]:
        for process in self.processes:
            process.stop()
        return self.status()


def print_profile(path: Path, top: int = 40) -> None:
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    print(f"\n--- worker profile ({path}) ---\n{out.getvalue()}")


# --- the world: store, sandbox users, connections, ingest, read API -----------------------


@dataclass
class BenchConnection:
    id: str
    user_id: str
    email: str
    channel_id: str
    secret: str


@dataclass
class World:
    """A store with a directory, connected sandbox users, and the ingest/read-API app."""

    tmp_path: Path
    database_url: str
    broker_url: str
    sandbox: SandboxProcess
    contacts: int
    connections: list[BenchConnection] = field(default_factory=list)
    workers: list[WorkerProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        from adapters.directory_file import parse_directory
        from infra import db
        from infra.bootstrap import Container
        from infra.log import configure_logging
        from infra.settings import Settings
        from tests.factories import bulk_directory

        configure_logging("console", "WARNING")  # this process: ingest and the read API

        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CALSYNC_VAR_DIR": str(self.tmp_path),
            "CALSYNC_DATABASE_URL": self.database_url,
            "CALSYNC_BROKER_URL": self.broker_url,
            "CALSYNC_GOOGLE_API_URL": self.sandbox.google_url + "/",
            "CALSYNC_GOOGLE_TOKEN_URL": self.sandbox.google_url + "/token",
            "CALSYNC_GRAPH_API_URL": self.sandbox.graph_url + "/v1.0",
            "CALSYNC_MICROSOFT_TOKEN_URL": self.sandbox.graph_url + "/common/oauth2/v2.0/token",
            "CALSYNC_GOOGLE_CLIENT_ID": "calsync-test",
            "CALSYNC_GOOGLE_CLIENT_SECRET": "s",
            "CALSYNC_MICROSOFT_CLIENT_ID": "calsync-test",
            "CALSYNC_MICROSOFT_CLIENT_SECRET": "s",
            "CALSYNC_LOG_FORMAT": "json",
            "CALSYNC_LOG_LEVEL": os.environ.get("CALSYNC_LOG_LEVEL", "INFO"),
        }
        self.container = Container(Settings.from_env(self.env))
        self.engine = self.container.engine
        db.upgrade(self.engine)
        self.container.directory.load(
            parse_directory(bulk_directory(ACCOUNT, contacts=self.contacts, users=40))
        )
        self.api_key = self.container.accounts.rotate_key(ACCOUNT)
        self.http = self.container.http_app().test_client()

    # -- setup --------------------------------------------------------------------------

    def connect(self, count: int) -> list[BenchConnection]:
        """``count`` more users with a sandbox calendar, a connection and a push channel."""
        from adapters.calendar.stored import StoredTokens

        made = []
        for _ in range(count):
            n = len(self.connections)
            email = f"user{n}@seller.example"
            user = self.sandbox.admin.create_user(email, time_zone="UTC")
            record = self.container.connections.connect(
                ACCOUNT, f"u{n}", "google", StoredTokens(user["refresh_token"]).dump()
            )
            secret = uuid.uuid4().hex
            channel = f"bench-channel-{n}"
            self.container.channels.register(channel, record.id, "google", secret)
            made.append(BenchConnection(record.id, f"u{n}", email, channel, secret))
            self.connections.extend(made[-1:])
        return made

    def create_events(self, connection: BenchConnection, count: int, first: int = 0) -> None:
        """``count`` events in the connection's sandbox calendar, numbered from ``first``."""
        base = first_slot()
        for start in range(first, first + count, 500):
            bodies = [
                event_body(connection.email, n, contacts=self.contacts, base=base)
                for n in range(start, min(first + count, start + 500))
            ]
            self.sandbox.admin.create_events(connection.email, bodies, sendUpdates="none")

    def analyze(self, *, everything: bool = False) -> None:
        """Give PostgreSQL planner statistics for the directory (or every table), as
        autovacuum has long done in production by the time a directory is synced against.

        Without them, the directory lookup right after a fresh load plans nested loops over
        every contact of the account (about 20x slower per page). Analyzing the appointment
        tables while they are still empty is worse: foreign-key checks then scan the whole
        ``appointments`` table for every participant row (a sync 3x slower, growing with the
        table). ``BENCH_ANALYZE=all`` analyzes every table at the worker's start, empty ones
        included; ``none`` leaves statistics to autovacuum.
        """
        mode = "all" if everything else os.environ.get("BENCH_ANALYZE", "directory")
        if self.engine.dialect.name != "postgresql" or mode == "none":
            return
        tables = "" if mode == "all" else ", ".join(DIRECTORY_TABLES)
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"ANALYZE {tables}")
            conn.commit()

    def table_scans(self, tables: Sequence[str] = APPOINTMENT_TABLES) -> dict[str, dict]:
        """PostgreSQL's scan counters of ``tables`` (empty on SQLite)."""
        if self.engine.dialect.name != "postgresql":
            return {}
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT relname, seq_scan, seq_tup_read, idx_scan FROM pg_stat_user_tables"
                    " WHERE relname = ANY(:names)"
                ),
                {"names": list(tables)},
            ).all()
        return {name: {"seq_scan": s, "seq_tup_read": r, "idx_scan": i} for name, s, r, i in rows}

    def table_scans_since(self, before: dict[str, dict]) -> dict[str, dict]:
        return {
            table: {k: v - before[table][k] for k, v in counters.items()}
            for table, counters in self.table_scans().items()
        }

    def start_workers(self, count: int | None = None) -> Workers:
        """``count`` sync worker processes (default ``BENCH_SYNC_WORKERS``, else one), all
        consuming once this returns; the directory is analyzed first."""
        self.analyze()
        count = count or int(os.environ.get("BENCH_SYNC_WORKERS", "1"))
        return Workers([self._start_worker(f"worker{n}") for n in range(count)])

    def _start_worker(self, name: str) -> WorkerProcess:
        status = self.tmp_path / f"{name}.status.json"
        profile = self.tmp_path / f"{name}.prof" if os.environ.get("BENCH_PROFILE") else None
        log_file = self.tmp_path / f"{name}.log"
        env = {**self.env, "BENCH_STATUS_FILE": str(status)}
        if profile is not None:
            env["BENCH_PROFILE_FILE"] = str(profile)
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.sync_harness"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file.open("w"),
        )
        worker = WorkerProcess(process, status, profile, log_file)
        self.workers.append(worker)
        deadline = time.monotonic() + 60
        while not status.exists():  # written once the consumer is registered
            worker.check_alive()
            assert time.monotonic() < deadline, "the worker did not start consuming"
            time.sleep(0.05)
        return worker

    # -- traffic ------------------------------------------------------------------------

    def post_hint(self, connection: BenchConnection, number: int = 2, http: Any = None) -> None:
        """What Google posts after a change: through the real ingest endpoint."""
        response = (http or self.http).post(
            "/webhooks/google",
            headers={
                "X-Goog-Channel-ID": connection.channel_id,
                "X-Goog-Channel-Token": connection.secret,
                "X-Goog-Resource-ID": f"resource-{connection.user_id}",
                "X-Goog-Resource-State": "exists",
                "X-Goog-Message-Number": str(number),
            },
        )
        assert response.status_code == 200, response.get_data(as_text=True)

    def appointments(
        self, connection: BenchConnection, http: Any = None, **query: str
    ) -> list[dict[str, Any]]:
        """The read API's answer for the connection's user (through ``http`` if given)."""
        response = (http or self.http).get(
            "/api/v1/appointments",
            query_string={"user": connection.user_id, **query},
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return list(response.get_json())

    # -- the store's state -------------------------------------------------------------

    def sync_state(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Per connection: requested and finished generations, lease holder, links stored."""
        import sqlalchemy as sa

        from adapters.sql.tables import calendar_connections, event_links

        c, link = calendar_connections.c, event_links.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.id, c.sync_requested, c.sync_done, c.lease_owner).where(c.id.in_(ids))
            ).mappings()
            state = {row["id"]: {**row, "links": 0} for row in rows}
            counts = conn.execute(
                sa.select(link.connection_id, sa.func.count())
                .where(link.connection_id.in_(ids))
                .group_by(link.connection_id)
            ).all()
            for connection_id, count in counts:
                state[connection_id]["links"] = count
        return state

    def settled(self, expected_links: dict[str, int]) -> bool:
        """Every connection holds its events, nothing requested is unfinished, no lease held."""
        state = self.sync_state(list(expected_links))
        return all(
            state[cid]["links"] == links
            and state[cid]["sync_requested"] == state[cid]["sync_done"]
            and state[cid]["lease_owner"] is None
            for cid, links in expected_links.items()
        )

    def wait_settled(
        self,
        worker: Workers,
        *,
        handled: int,
        expected_links: dict[str, int],
        timeout: float,
        poll: float = 0.01,
    ) -> float:
        """Wait until the worker handled ``handled`` hints and the store settled; when it did.

        The hint count comes from the worker's status file (no database load while waiting);
        the store is checked once every hint is handled.
        """
        deadline = time.monotonic() + timeout
        while True:
            status = worker.status()
            assert not status.get("failed"), f"a hint failed: {status}; see {worker.log_files}"
            if status.get("handled", 0) >= handled:
                at = time.perf_counter()
                if self.settled(expected_links):
                    return at
            worker.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not settled after {timeout} s: handled {worker.status()}, expected "
                    f"{handled}; store {self.sync_state(list(expected_links))}"
                )
            time.sleep(poll)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.container.close()


@contextlib.contextmanager
def world(
    tmp_path: Path, database_url: str, broker_url: str, *, contacts: int = 2000
) -> Iterator[World]:
    """A sandbox process and a prepared store, torn down afterwards."""
    sandbox = SandboxProcess(tmp_path)
    made: World | None = None
    try:
        made = World(tmp_path, database_url, broker_url, sandbox, contacts)
        yield made
    finally:
        if made is not None:
            made.close()
        sandbox.stop()


def database_url_of(engine: Any) -> str:
    return str(engine.url.render_as_string(hide_password=False))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered))
    return ordered[max(0, min(len(ordered), rank) - 1)]


# --- the worker process's own code ----------------------------------------------------------


class _Stages:
    """Seconds spent per sync stage, accumulated in the worker process."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed


def _instrument(stages: _Stages) -> None:
    """Time each stage of ``CalendarSyncer`` (module globals and methods, looked up per call).

    Only what exists is wrapped: a renamed stage drops out of the breakdown, nothing fails.
    """
    from adapters.calendar.google import source as google
    from workers import calendar_sync

    targets = [
        (google.GoogleCalendarSource, "changes", "provider_page"),
        (calendar_sync, "load_context", "load_context"),
        (calendar_sync, "plan_page", "plan_page"),
        (calendar_sync, "apply_plans", "apply_plans"),
        (calendar_sync.CalendarSyncer, "handle_hint", "handle_hint"),
        (calendar_sync.CalendarSyncer, "_apply", "apply_page_transaction"),
        (calendar_sync.CalendarSyncer, "_resolve", "resolve"),
    ]
    for owner, name, label in targets:
        function = getattr(owner, name, None)
        if function is not None:
            setattr(owner, name, stages.wrap(label, function))


def _time_garbage_collection(stages: _Stages) -> None:
    """Count the garbage collector's pauses as stages of their own (``gc0``..``gc2``)."""
    import gc

    started = [0.0]

    def on_collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        name = f"gc{info['generation']}"
        stages.seconds[name] = stages.seconds.get(name, 0.0) + time.perf_counter() - started[0]
        stages.calls[name] = stages.calls.get(name, 0) + 1

    gc.callbacks.append(on_collection)


class _StatusHandler:
    """Passes each hint to the real handler, then records progress in the status file."""

    def __init__(self, inner: Any, path: Path, stages: _Stages, profiler: Any = None) -> None:
        self._inner, self._path, self._stages = inner, path, stages
        self._profiler = profiler  # enabled per message: cProfile sees only its own thread
        self._lock = threading.Lock()  # the consumer thread and the start-up announcement
        self.handled = 0
        self.failed = 0

    def handle(self, envelope: Any, context: Any) -> None:
        if self._profiler is not None:
            self._profiler.enable()
        try:
            self._inner.handle(envelope, context)
        except BaseException:
            self.failed += 1
            raise
        finally:
            if self._profiler is not None:
                self._profiler.disable()
            self.handled += 1
            self.write()

    def write(self, *, final: bool = False) -> None:
        from workers.sync import SYNC_RUNS

        outcomes = {
            sample.labels["outcome"]: sample.value
            for metric in SYNC_RUNS.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        }
        status = {
            "handled": self.handled,
            "failed": self.failed,
            "outcomes": outcomes,
            "stage_seconds": self._stages.seconds,
            "stage_calls": self._stages.calls,
        }
        if final:  # what a full collection has to walk (too slow to count after every hint)
            import gc

            status["gc_tracked_objects"] = len(gc.get_objects())
        with self._lock:
            temporary = self._path.with_suffix(".tmp")
            temporary.write_text(json.dumps(status))
            temporary.replace(self._path)


def worker_main() -> int:
    """``calsync worker --queue sync``, plus the status file and optional profiling."""
    from adapters.broker import topology
    from infra.bootstrap import Container
    from infra.log import configure_logging
    from infra.settings import Settings
    from workers.base import Worker
    from workers.runner import run_workers
    from workers.sync import SyncHandler

    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    container = Container(settings)
    container.declare_broker()
    stages = _Stages()
    _instrument(stages)
    _time_garbage_collection(stages)
    profile_file = os.environ.get("BENCH_PROFILE_FILE")
    profiler = None
    if profile_file:
        import cProfile

        profiler = cProfile.Profile()
    handler = _StatusHandler(
        SyncHandler(container.syncer()), Path(os.environ["BENCH_STATUS_FILE"]), stages, profiler
    )
    worker = Worker(settings.broker_url, topology.SYNC, handler)

    def announce() -> None:
        worker.consuming.wait()
        handler.write()

    threading.Thread(target=announce, daemon=True).start()
    try:
        return run_workers([worker])
    finally:
        if profiler is not None and profile_file:
            profiler.dump_stats(profile_file)
        handler.write(final=True)
        container.close()


if __name__ == "__main__":
    sys.exit(worker_main())
