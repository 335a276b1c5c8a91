"""Many machines, proven: a three-node RabbitMQ cluster loses a node under load, nothing is lost.

The test makes its own cluster (``tests/support/rabbit_cluster.py``: three nodes on
loopback, joined with ``join_cluster``, removed afterwards; the machine's broker is never
touched), declares the topology on it (every quorum queue with a replica on each node), and
runs ``calsync serve`` (gunicorn) and ``calsync worker --queue sync`` / ``--queue crm`` with
``CALSYNC_BROKER_URL`` listing the three nodes, on PostgreSQL and the Google sandbox.

Two phases, each under a bounded load of Google notifications and CRM saves posted through
``calsync serve`` (a 503 is retried as Google and the CRM retry):

- **sync**: the node leading the ``sync`` queue is killed (SIGKILL: a crash) mid-load and
  started again later;
- **crm**: the node leading the ``crm`` queue is stopped (``rabbitmqctl stop``: a
  maintenance stop) mid-load and started again later.

Each phase's leader is also the node the publishers and consumers are connected to at that
moment (``crm`` is declared through node 2, which the clients move to when node 1 dies), so
both the queue's failover and the clients' move to a surviving node are exercised.

Then every hint answered 2xx was handled by the sync worker and its meeting is in the store
exactly once, every save answered 202 is stored exactly once, and the figures are printed:
2xx sent, found, duplicated (handled more than once, absorbed), the longest stretch of 503s at
ingest and how long the consumers took to come back. Marked ``slow``: about two minutes.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from kombu import Connection, Queue

from adapters.broker import topology
from adapters.broker.declare import declare_topology
from adapters.broker.envelope import message_id_for
from adapters.calendar.stored import StoredTokens
from adapters.directory_file import parse_directory
from adapters.sql.tables import appointments, event_links, inbox, metadata, outbox
from infra.bootstrap import Container
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from infra.settings import Settings
from ingest.signature import sign
from tests.conftest import IN_CI
from tests.support.calendar_sandbox import sandbox_settings
from tests.support.dates import days_ahead, rfc3339
from tests.support.processes import calsync_worker, dying_with_parent
from tests.support.rabbit_cluster import (
    RabbitCluster,
    RabbitNode,
    rabbitmqctl,
    server_installed,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

ACCOUNT = "drill"
USERS = [f"u{i}" for i in range(4)]
CONTACT_EMAIL = "eva@kund.example"
CHANNEL_SECRET = "drill-channel-secret"
#: Per phase: Google notifications (each after a new meeting in one of the four calendars)
#: and CRM saves (each a new appointment), paced over about 20 seconds.
HINTS_PER_USER = 50
SAVES = 50
LOAD_SECONDS = 20.0
#: A 503 is tried again after this pause, as the provider or the CRM would (sooner, here).
RETRY_PAUSE = 0.25
#: Deadlines (never delays): for a request to be accepted at last, for the phase's steps,
#: for everything accepted to be stored.
ACCEPT_DEADLINE = 60.0
STEP_DEADLINE = 60.0
SETTLE_DEADLINE = 90.0
POLL = 0.2


def directory() -> dict[str, Any]:
    return {
        "accounts": [
            {
                "id": ACCOUNT,
                "name": "Drill AB",
                "extra_colleague_domains": [],
                "users": [
                    {
                        "id": user,
                        "name": f"User {user}",
                        "email": email_of(user),
                        "time_zone": "Europe/Stockholm",
                    }
                    for user in USERS
                ],
                "companies": [{"id": "kund", "name": "Kund AB"}],
                "contacts": [
                    {
                        "id": "eva",
                        "name": "Eva Kund",
                        "emails": [CONTACT_EMAIL],
                        "company_id": "kund",
                    }
                ],
            }
        ]
    }


def email_of(user: str) -> str:
    return f"{user}@drill.example"


def wait_until(check: Callable[[], Any], what: str, deadline: float = STEP_DEADLINE) -> Any:
    """``check()`` until it is truthy; fails naming ``what`` at the deadline."""
    end = time.monotonic() + deadline
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {deadline:.0f} s")
        time.sleep(POLL)


# -- the processes --------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (gunicorn's own lines are skipped)."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name}\n" + "\n".join(text)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def calsync_serve(environment: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``calsync serve`` with exactly ``environment``'s CALSYNC_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    env.update(environment)
    calsync = Path(sys.executable).with_name("calsync")
    command = [str(calsync)] if calsync.exists() else [sys.executable, "-m", "infra.cli"]
    with log_path.open("wb") as log:
        return subprocess.Popen(
            dying_with_parent([*command, "serve"]),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the world ------------------------------------------------------------------------------


@dataclass
class World:
    cluster: RabbitCluster
    engine: sa.Engine
    sandbox: SandboxServer
    admin: SandboxAdminClient
    base_url: str
    crm_secret: str
    serve: Process
    workers: dict[str, Process]
    #: Where the processes' logs and the load's requests are written.
    folder: Path
    #: Each user's channel id.
    channels: dict[str, str] = field(default_factory=dict)

    def queue_depths(self) -> dict[str, int]:
        """Messages (ready and unacked) in every queue of the cluster."""
        return {name: depth for name, (depth, _c) in self.cluster_queues().items()}

    def cluster_queues(self) -> dict[str, tuple[int, int]]:
        out = rabbitmqctl(
            "-n", self.cluster.any_running().name, "-q", "list_queues",
            "--no-table-headers", "name", "messages", "consumers",
        )  # fmt: skip
        found = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[1].isdigit():
                found[parts[0]] = (int(parts[1]), int(parts[2]))
        return found


def require_rabbitmq_server() -> None:
    reason = server_installed()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"{reason}; CI=true requires the cluster drill to run", pytrace=False)
    pytest.skip(f"SKIPPED LOUDLY: {reason}; install RabbitMQ to run the cluster drill")


@pytest.fixture(scope="module")
def cluster() -> Iterator[RabbitCluster]:
    """Three fresh nodes, joined; killed and deleted afterwards whatever happens."""
    require_rabbitmq_server()
    made = RabbitCluster()
    try:
        yield made.start()
    finally:
        made.close()


def declare(cluster: RabbitCluster) -> None:
    """The topology, with ``crm`` led by node 2 and everything else by node 1.

    A quorum queue's first leader is the node the declaring client is connected to; the
    clients start on node 1 and move to node 2 when it dies, so each phase finds them on
    the node it stops.
    """
    with Connection(cluster.nodes[1].url(), connect_timeout=5) as connection:
        Queue(topology.CRM.name, queue_arguments=topology.work_queue_arguments()).bind(
            connection.default_channel
        ).declare()
    with Connection(cluster.nodes[0].url(), connect_timeout=5) as connection:
        declare_topology(connection)


@pytest.fixture(scope="module")
def world(
    cluster: RabbitCluster, postgres_engine: sa.Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    declare(cluster)
    folder = tmp_path_factory.mktemp("cluster-drill")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sandbox = SandboxServer().__enter__()
    admin = SandboxAdminClient(sandbox.google_url)
    port = free_port()
    crm_secret = secrets.token_urlsafe(16)
    environment = {
        "CALSYNC_VAR_DIR": str(folder / "var"),
        "CALSYNC_DATABASE_URL": postgres_engine.url.render_as_string(hide_password=False),
        "CALSYNC_BROKER_URL": cluster.broker_url(),
        "CALSYNC_LISTEN": f"127.0.0.1:{port}",
        "CALSYNC_SECRET_KEY": secrets.token_urlsafe(32),
        "CALSYNC_CRM_SIGNING_SECRET": crm_secret,
        "CALSYNC_LOG_FORMAT": "json",
        "CALSYNC_LOG_LEVEL": "INFO",
        **sandbox_settings(sandbox),
    }
    with postgres_engine.begin() as conn:  # the session's database, emptied for the drill
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    container = Container(Settings.from_env(environment))
    processes: list[Process] = []
    try:
        admin.reset()
        container.directory.load(parse_directory(directory()))
        channels = {}
        for user in USERS:
            person = admin.create_user(email_of(user), time_zone="Europe/Stockholm")
            record = container.connections.connect(
                ACCOUNT, user, "google", StoredTokens(person["refresh_token"]).dump()
            )
            channels[user] = f"drill-channel-{user}"
            container.channels.register(channels[user], record.id, "google", CHANNEL_SECRET)
        serve = Process(
            "serve", calsync_serve(environment, folder / "serve.log"), folder / "serve.log"
        )
        processes.append(serve)
        workers = {}
        for queue in (topology.SYNC.name, topology.CRM.name):
            log_path = folder / f"worker-{queue}.log"
            workers[queue] = Process(queue, calsync_worker(queue, environment, log_path), log_path)
            processes.append(workers[queue])
        made = World(
            cluster=cluster,
            engine=postgres_engine,
            sandbox=sandbox,
            admin=admin,
            base_url=f"http://127.0.0.1:{port}",
            crm_secret=crm_secret,
            serve=serve,
            workers=workers,
            folder=folder,
            channels=channels,
        )
        wait_until(lambda: healthy(made.base_url), "calsync serve answering /healthz")
        wait_until(
            lambda: all(made.cluster_queues()[q][1] == 1 for q in workers),
            "one consumer on sync and on crm",
        )
        yield made
    finally:
        for process in processes:
            process.stop()
        container.close()
        admin.close()
        sandbox.__exit__(None, None, None)
        with postgres_engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# -- the load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One request of the load: what, when (epoch seconds), how it was answered."""

    kind: str  # "hint" or "save"
    key: str  # the meeting's subject, or the CRM event id
    trace_id: str
    sent: float
    answered: float
    status: int  # 0: no HTTP answer at all


@dataclass
class Load:
    """Hints and saves of one phase, paced over LOAD_SECONDS by threads of their own."""

    world: World
    phase: str
    attempts: list[Attempt] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.threads = [
            threading.Thread(target=self._hints, args=(user, i), daemon=True)
            for i, user in enumerate(USERS)
        ]
        self.threads.append(threading.Thread(target=self._saves, daemon=True))

    def start(self) -> Load:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self.threads)

    def accepted(self, kind: str, since: float = 0.0) -> int:
        with self.lock:
            return sum(
                1 for a in self.attempts if a.kind == kind and a.status < 300 and a.sent >= since
            )

    def _pace(self, n: int, count: int) -> None:
        due = self.started + LOAD_SECONDS * n / count
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)

    def _hints(self, user: str, offset: int) -> None:
        with httpx.Client(base_url=self.world.base_url, timeout=10) as http:
            for n in range(HINTS_PER_USER):
                self._pace(n, HINTS_PER_USER)
                subject = f"Drill {self.phase} {user} {n:03d}"
                start = days_ahead(2 + n % 40, hour=7 + offset * 2, minute=0)
                self.world.admin.create_event(
                    email_of(user),
                    {
                        "summary": subject,
                        "start": {"dateTime": rfc3339(start)},
                        "end": {"dateTime": rfc3339(start + timedelta(minutes=30))},
                        "attendees": [{"email": email_of(user)}, {"email": CONTACT_EMAIL}],
                    },
                )
                headers = {
                    "X-Goog-Channel-ID": self.world.channels[user],
                    "X-Goog-Channel-Token": CHANNEL_SECRET,
                    "X-Goog-Resource-ID": "drill",
                    "X-Goog-Resource-State": "exists",
                    "X-Goog-Message-Number": str(n + 1),
                }

                def post(h: dict[str, str], headers: dict[str, str] = headers) -> httpx.Response:
                    return http.post("/webhooks/google", headers={**headers, **h})

                self._until_accepted("hint", subject, post)

    def _saves(self) -> None:
        with httpx.Client(base_url=self.world.base_url, timeout=10) as http:
            for n in range(SAVES):
                self._pace(n, SAVES)
                event_id = f"drill-{self.phase}-{n:03d}"
                start = days_ahead(3 + n % 30, hour=12, minute=0)
                raw = json.dumps(
                    {
                        "id": event_id,
                        "type": "appointment.saved",
                        "account_id": ACCOUNT,
                        "occurred_at": datetime.now(start.tzinfo).isoformat(),
                        "data": {
                            "id": f"crm-{event_id}",
                            "organizer_user_id": USERS[n % len(USERS)],
                            "subject": f"Save {event_id}",
                            "start": start.isoformat(),
                            "end": (start + timedelta(hours=1)).isoformat(),
                            "time_zone": "Europe/Stockholm",
                            "contact_ids": ["eva"],
                            "invite": False,
                        },
                    }
                ).encode()

                def post(h: dict[str, str], raw: bytes = raw) -> httpx.Response:
                    at = int(time.time())
                    signature = f"t={at},v1={sign(self.world.crm_secret, at, raw)}"
                    return http.post(
                        "/crm/events",
                        content=raw,
                        headers={
                            **h,
                            "Content-Type": "application/json",
                            "X-Calsync-Signature": signature,
                        },
                    )

                self._until_accepted("save", event_id, post)

    def _until_accepted(
        self, kind: str, key: str, send: Callable[[dict[str, str]], httpx.Response]
    ) -> None:
        deadline = time.monotonic() + ACCEPT_DEADLINE
        for attempt in itertools.count():
            trace_id = f"{kind}-{key}-{attempt}".replace(" ", "-")
            sent = time.time()
            try:
                status = send({"X-Request-ID": trace_id}).status_code
            except httpx.HTTPError:
                status = 0
            with self.lock:
                self.attempts.append(Attempt(kind, key, trace_id, sent, time.time(), status))
            if status < 300 and status != 0:
                return
            if status not in {0, 503}:
                self.errors.append(f"{kind} {key}: HTTP {status}")
                return
            if time.monotonic() > deadline:
                self.errors.append(f"{kind} {key}: not accepted within {ACCEPT_DEADLINE:.0f} s")
                return
            time.sleep(RETRY_PAUSE)


# -- what happened -------------------------------------------------------------------------


def longest_503_stretch(attempts: list[Attempt]) -> tuple[float, int, int]:
    """The longest time from a first 503 (or no answer in 10 s) to the next 2xx answer, the
    503s and the requests never answered (one kind)."""
    longest, opened, count, unanswered = 0.0, None, 0, 0
    for attempt in sorted(attempts, key=lambda a: a.sent):
        if attempt.status in {0, 503}:
            count += attempt.status == 503
            unanswered += attempt.status == 0
            opened = attempt.sent if opened is None else opened
        elif opened is not None:
            longest = max(longest, attempt.answered - opened)
            opened = None
    return longest, count, unanswered


def epoch(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00")).timestamp()


@dataclass
class QueueFigures:
    queue: str
    sent_2xx: int
    found: int
    duplicated: int
    extra: int
    responses_503: int
    unanswered: int
    longest_503: float
    consumer_reconnect: float | None
    consumer_recovery: float | None

    def line(self) -> str:
        reconnect = (
            "not disconnected"
            if self.consumer_reconnect is None
            else f"consuming again after {self.consumer_reconnect:.1f} s"
        )
        recovery = "-" if self.consumer_recovery is None else f"{self.consumer_recovery:.1f} s"
        return (
            f"  {self.queue:5} 2xx sent {self.sent_2xx}, found {self.found}, duplicated "
            f"{self.duplicated} (extra, answered 503 yet queued: {self.extra}); 503s "
            f"{self.responses_503}, unanswered {self.unanswered}, longest 503 stretch "
            f"{self.longest_503:.1f} s; consumer "
            f"{reconnect}, first delivery handled {recovery} after the stop"
        )


def consumer_times(worker: Process, queue: str, stopped_at: float) -> tuple[float | None, float]:
    """When (after ``stopped_at``) the worker consumed again and first handled a delivery
    on its new consumer; seconds after the stop. A worker whose connection survived handles
    its next delivery on the consumer it had."""
    records = [r for r in worker.records() if r.get("queue") == queue and "timestamp" in r]
    later = [r for r in records if epoch(r) > stopped_at]
    consuming = [r for r in later if r.get("event") == "consuming"]
    since = epoch(consuming[0]) if consuming else stopped_at
    handled = [r for r in later if r.get("event") == "message handled" and epoch(r) >= since]
    assert handled, f"no {queue} delivery handled after the stop\n{worker.tail()}"
    reconnect = epoch(consuming[0]) - stopped_at if consuming else None
    return reconnect, epoch(handled[0]) - stopped_at


def handled_since(worker: Process, queue: str, since: float) -> bool:
    """Whether the worker has handled a delivery of ``queue`` after ``since`` (epoch)."""
    return any(
        r.get("event") == "message handled" and r.get("queue") == queue and epoch(r) > since
        for r in worker.records()
    )


def handled_counts(worker: Process, key: str, event: str = "message handled") -> Counter[str]:
    return Counter(str(r.get(key)) for r in worker.records() if r.get("event") == event)


@dataclass
class PhaseReport:
    phase: str
    how: str
    node: str
    clients_moved: list[str]
    hints: QueueFigures
    saves: QueueFigures
    seconds: float

    def text(self) -> str:
        return "\n".join(
            [
                f"phase {self.phase}: {self.how} {self.node} (leader of {self.phase}) mid-load, "
                f"started again; {self.seconds:.0f} s",
                f"  clients that moved to another node: {', '.join(self.clients_moved) or 'none'}",
                self.hints.line(),
                self.saves.line(),
            ]
        )


def stored_subjects(engine: sa.Engine, phase: str) -> Counter[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(appointments.c.subject).where(appointments.c.subject.like(f"Drill {phase} %"))
        ).scalars()
        return Counter(rows)


def stored_crm_ids(engine: sa.Engine, phase: str) -> Counter[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(appointments.c.crm_id).where(
                appointments.c.crm_id.like(f"crm-drill-{phase}-%")
            )
        ).scalars()
        return Counter(rows)


def run_phase(world: World, phase: str, how: str) -> PhaseReport:
    """Load, stop the leader of ``phase``'s queue mid-way (``kill`` or ``stop``), start it
    again, wait until everything accepted is stored; check it and report the figures."""
    cluster, started = world.cluster, time.monotonic()
    leader: RabbitNode = cluster.leader(phase)
    expected_subjects = {f"Drill {phase} {u} {n:03d}" for u in USERS for n in range(HINTS_PER_USER)}
    load = Load(world, phase).start()

    # When a quarter of the hints are accepted, the queue's leader goes away
    total_hints = len(USERS) * HINTS_PER_USER
    wait_until(lambda: load.accepted("hint") >= total_hints // 4, "a quarter of the hints")
    stopped_at = time.time()
    (cluster.kill if how == "kill" else cluster.stop)(leader)
    assert cluster.leader(phase) != leader, "the queue kept its leader on a stopped node"

    # And once ingest accepts again and both consumers handle deliveries, it starts again
    wait_until(lambda: load.accepted("hint", since=stopped_at) >= 10, "hints accepted again")
    wait_until(lambda: load.accepted("save", since=stopped_at) >= 3, "saves accepted again")
    for queue, worker in world.workers.items():
        wait_until(
            functools.partial(handled_since, worker, queue, stopped_at),
            f"a {queue} delivery handled after the stop",
        )
    cluster.restart(leader)
    wait_until(load.done, "the end of the load", deadline=LOAD_SECONDS + 2 * ACCEPT_DEADLINE)
    (world.folder / f"attempts-{phase}.json").write_text(
        json.dumps({"stopped_at": stopped_at, "attempts": [a.__dict__ for a in load.attempts]})
    )
    assert load.errors == []

    # Then everything accepted is stored, exactly once, and the queues are empty
    accepted_saves = {a.key for a in load.attempts if a.kind == "save" and a.status == 202}
    wait_until(
        lambda: (
            set(stored_subjects(world.engine, phase)) == expected_subjects
            and set(stored_crm_ids(world.engine, phase)) == {f"crm-{k}" for k in accepted_saves}
        ),
        "every meeting and save stored",
        deadline=SETTLE_DEADLINE,
    )
    wait_until(
        lambda: not any(world.queue_depths().values()), "empty queues", deadline=SETTLE_DEADLINE
    )
    tails = "\n".join(p.tail() for p in (world.serve, *world.workers.values()))
    subjects = stored_subjects(world.engine, phase)
    assert set(subjects) == expected_subjects, tails
    assert set(subjects.values()) == {1}, tails  # no meeting twice
    crm_ids = stored_crm_ids(world.engine, phase)
    assert len(accepted_saves) == SAVES, tails
    assert set(crm_ids.values()) == {1}, tails  # no save twice
    with world.engine.connect() as conn:
        links = conn.execute(
            sa.select(sa.func.count())
            .select_from(event_links.join(appointments))
            .where(appointments.c.subject.like(f"Drill {phase} %"))
        ).scalar_one()
        save_ids = {message_id_for(ACCOUNT, k) for k in accepted_saves}
        claimed = set(
            conn.execute(
                sa.select(inbox.c.message_id).where(inbox.c.message_id.in_(save_ids))
            ).scalars()
        )
        requests = conn.execute(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.message_id.isnot(None))
        ).scalar_one()
    assert links == len(expected_subjects)
    assert claimed == save_ids
    assert requests >= len(accepted_saves)

    # Figures: hints by trace id in the sync worker's log, saves by message id in the crm's
    sync_log = world.workers[topology.SYNC.name]
    crm_log = world.workers[topology.CRM.name]
    hint_2xx = {a.trace_id for a in load.attempts if a.kind == "hint" and a.status == 200}
    hint_503 = {a.trace_id for a in load.attempts if a.kind == "hint" and a.status != 200}
    handled_hints = handled_counts(sync_log, "trace_id")
    stored = handled_counts(crm_log, "message_id", "CRM save stored; calendar write requested")
    seen_before = handled_counts(crm_log, "message_id", "CRM event seen before; ignored")
    handled_saves = handled_counts(crm_log, "message_id")
    assert all(stored[m] == 1 for m in save_ids), "a save was applied twice"
    assert {t for t in hint_2xx if handled_hints[t] == 0} == set(), "a 2xx'd hint never handled"

    figures = {}
    for kind, queue in (("hint", topology.SYNC.name), ("save", topology.CRM.name)):
        attempts = [a for a in load.attempts if a.kind == kind]
        longest, count, unanswered = longest_503_stretch(attempts)
        reconnect, recovery = consumer_times(world.workers[queue], queue, stopped_at)
        if kind == "hint":
            found = sum(1 for t in hint_2xx if handled_hints[t] > 0)
            duplicated = sum(1 for t in hint_2xx if handled_hints[t] > 1)
            extra = sum(1 for t in hint_503 if handled_hints[t] > 0)
            sent = len(hint_2xx)
        else:
            found = len(claimed & {m for m in save_ids if handled_saves[m] > 0})
            duplicated = sum(1 for m in save_ids if handled_saves[m] + seen_before[m] > 1)
            extra = 0  # a save retried after a 503 keeps its message id: absorbed, not extra
            sent = len(save_ids)
        figures[kind] = QueueFigures(
            queue, sent, found, duplicated, extra, count, unanswered, longest, reconnect, recovery
        )
    assert figures["hint"].found == figures["hint"].sent_2xx
    assert figures["save"].found == figures["save"].sent_2xx
    moved = clients_moved(world, stopped_at)
    return PhaseReport(
        phase, how, leader.name, moved, figures["hint"], figures["save"], time.monotonic() - started
    )


def clients_moved(world: World, stopped_at: float) -> list[str]:
    """Which clients connected to another node after the stop (from their log lines)."""
    moved = []
    restored = [
        r
        for r in world.serve.records()
        if r.get("event") == "broker connection restored" and epoch(r) > stopped_at
    ]
    if restored:
        moved.append(f"{len(restored)} ingest publisher(s)")
    for queue, worker in world.workers.items():
        if any(
            r.get("event") == "consuming" and r.get("queue") == queue and epoch(r) > stopped_at
            for r in worker.records()
        ):
            moved.append(f"{queue} consumer")
    return moved


# -- the drill ------------------------------------------------------------------------------


def test_every_replica_on_every_node(world: World) -> None:
    # Given the topology declared on the cluster, each quorum queue has a replica on each node
    queues = world.cluster.queues()
    names = sorted(node.name for node in world.cluster.nodes)
    for queue in (topology.SYNC.name, topology.CRM.name, topology.DEAD_LETTER_QUEUE):
        _leader, members, online = queues[queue]
        assert members == names, (queue, queues[queue])
        assert online == names, (queue, queues[queue])
    assert world.cluster.leader(topology.SYNC.name) == world.cluster.nodes[0]
    assert world.cluster.leader(topology.CRM.name) == world.cluster.nodes[1]


def test_the_sync_leader_killed_under_load_loses_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    report = run_phase(world, topology.SYNC.name, "kill")
    with capsys.disabled():
        print("\n" + report.text())


def test_the_crm_leader_stopped_under_load_loses_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    report = run_phase(world, topology.CRM.name, "stop")
    with capsys.disabled():
        print("\n" + report.text())
