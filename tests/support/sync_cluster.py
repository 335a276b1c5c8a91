"""A sync cluster for chaos tests: real ``calsync worker`` processes over one store and broker.

What runs:

- the store: a migrated PostgreSQL database (the ``postgres_engine`` fixture's);
- the broker: a RabbitMQ vhost with the topology declared (the ``rabbitmq_vhost`` fixture's);
- the providers: the Google and Graph sandboxes, reached through the real client libraries;
- ingest: our Flask app behind a threaded werkzeug server on ``CALSYNC_PUBLIC_URL``, so the
  sandboxes' push notifications (and Graph's subscription handshake) reach the real webhooks;
- N ``calsync worker --queue sync`` subprocesses, each logging JSON to a file of its own.

Calendars are connected the way ``calsync connect`` does it (``infra.connect``), so each one
has a real push channel at the sandbox. The cluster can post hints as the provider would,
wait until everything is settled, dump the store canonically (nothing that differs between
two runs of one script: ids, timestamps, provider event ids), and kill or start workers.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import httpx
import sqlalchemy as sa
from kombu import Connection
from werkzeug.serving import BaseWSGIServer, make_server

from adapters.broker import topology
from adapters.directory_file import parse_directory
from adapters.sql.tables import (
    appointment_participants,
    appointment_rooms,
    appointments,
    calendar_connections,
    event_links,
    metadata,
)
from domain.model import Provider
from infra.bootstrap import Container
from infra.connect import connect_calendar
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import QuietRequestHandler, SandboxServer
from infra.settings import Settings
from tests.factories import article_directory
from tests.support.processes import calsync_worker

Json = dict[str, Any]
T = TypeVar("T")

ACCOUNT = "exempel"
CLIENT_ID, CLIENT_SECRET = "calsync-test", "test-secret"
#: The path (a regex) of each provider's change-listing call, for faults and the request log.
LIST_PATH = {
    Provider.GOOGLE: r"/calendars/primary/events$",
    Provider.MICROSOFT: r"/calendarView/delta(\(\))?$",
}
#: The sync queue and its retry queues: where a hint can wait before it is settled.
SYNC_QUEUES = (
    topology.SYNC.name,
    *(topology.SYNC.retry_queue(delay) for delay in topology.RETRY_DELAYS_SECONDS),
)
#: Longest wait for anything the cluster waits on (a deadline, never a delay).
TIMEOUT = 40.0
POLL_SECONDS = 0.1
#: Settled means the same settled snapshot this many times in a row.
SETTLED_SNAPSHOTS = 2


def wait_for(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str) -> T:
    """``fetch()`` until ``done`` accepts it; fails naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if done(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s (last: {found!r})")
        time.sleep(POLL_SECONDS)


# -- events in the provider's own format --------------------------------------------------


@dataclass(frozen=True)
class Meeting:
    """A one-hour meeting ``day`` days from today at ``hour`` UTC, inside the sync window."""

    subject: str
    day: int
    hour: int = 9
    attendees: tuple[str, ...] = ()
    organizer: str | None = None
    location: str = ""

    def body(self, provider: Provider) -> Json:
        """The event as a calendar app would create it."""
        start, end = _slot(self.day, self.hour)
        if provider is Provider.GOOGLE:
            body: Json = {
                "summary": self.subject,
                "start": {"dateTime": start + "Z"},
                "end": {"dateTime": end + "Z"},
                "attendees": [{"email": a} for a in self.attendees],
            }
            if self.location:
                body["location"] = self.location
            if self.organizer:
                body["organizer"] = {"email": self.organizer}
            return body
        body = {
            "subject": self.subject,
            "start": {"dateTime": start, "timeZone": "UTC"},
            "end": {"dateTime": end, "timeZone": "UTC"},
            "attendees": [
                {"emailAddress": {"address": a}, "type": "required"} for a in self.attendees
            ],
        }
        if self.location:
            body["location"] = {"displayName": self.location}
        if self.organizer:
            body["organizer"] = {"emailAddress": {"address": self.organizer}}
        return body


def edit_body(
    provider: Provider,
    *,
    subject: str | None = None,
    moved_to: tuple[int, int] | None = None,
    attendees: Sequence[str] | None = None,
    location: str | None = None,
) -> Json:
    """A patch as the calendar app sends it: new subject, (day, hour), attendees, location."""
    google = provider is Provider.GOOGLE
    patch: Json = {}
    if subject is not None:
        patch["summary" if google else "subject"] = subject
    if moved_to is not None:
        start, end = _slot(*moved_to)
        if google:
            patch.update(start={"dateTime": start + "Z"}, end={"dateTime": end + "Z"})
        else:
            patch.update(
                start={"dateTime": start, "timeZone": "UTC"},
                end={"dateTime": end, "timeZone": "UTC"},
            )
    if attendees is not None:
        patch["attendees"] = (
            [{"email": a} for a in attendees]
            if google
            else [{"emailAddress": {"address": a}, "type": "required"} for a in attendees]
        )
    if location is not None:
        patch["location"] = location if google else {"displayName": location}
    return patch


#: Meetings are placed relative to the day the module is imported, so every run of one
#: script puts them on the same days, inside the sync window (R9).
TODAY = datetime.now(UTC).date()


def _slot(day: int, hour: int) -> tuple[str, str]:
    on: date = TODAY + timedelta(days=day)
    return f"{on.isoformat()}T{hour:02d}:00:00", f"{on.isoformat()}T{hour + 1:02d}:00:00"


# -- the pieces ---------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """One ``calsync worker --queue sync`` process and its JSON log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_records(self) -> list[Json]:
        """The JSON log lines written so far (anything else is skipped)."""
        records = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def mark(self) -> int:
        """Where the log stands now, for :meth:`events`."""
        return len(self.log_records())

    def events(self, since: int = 0) -> list[str]:
        """The ``event`` of each log record after ``since`` (a :meth:`mark`)."""
        return [str(r.get("event")) for r in self.log_records()[since:]]

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Calendar:
    """A user's sandbox calendar, connected: the sandbox person, our connection, its channel."""

    provider: Provider
    user_id: str
    person: Json
    connection_id: str
    channel_id: str
    channel_secret: str
    admin: SandboxAdminClient

    @property
    def email(self) -> str:
        return str(self.person["email"])

    def create(self, meeting: Meeting) -> Json:
        """Create ``meeting`` in this calendar as its owner (or the inviter) would."""
        return self.admin.create_event(self.email, meeting.body(self.provider))

    def edit(self, event_id: str, **changes: Any) -> Json:
        """Change an event (see ``edit_body``)."""
        return self.admin.update_event(self.email, event_id, edit_body(self.provider, **changes))

    def cancel(self, event_id: str) -> None:
        """The organizer cancels the meeting."""
        self.admin.cancel_event(self.email, event_id)

    def list_requests(self) -> list[Json]:
        """This calendar's change-listing calls in the sandbox's log (finished ones; the
        log names the user a call acted for by e-mail, on both sandboxes)."""
        pattern = re.compile(LIST_PATH[self.provider])
        return [
            r
            for r in self.admin.requests()
            if pattern.search(r["path"]) and r["user"] == self.email
        ]


@dataclass
class _LateApp:
    """A WSGI app set after the server is bound (the app's settings need the server's port)."""

    app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


@dataclass
class SyncCluster:
    """The store, broker, sandboxes, ingest and worker processes of one test module.

    Call :meth:`start` once, :meth:`reset` before each scenario, :meth:`close` at the end
    (it kills every worker still running, whatever happened).
    """

    database_url: str
    broker_url: str
    sandbox: SandboxServer
    workdir: Path
    #: ``CALSYNC_SYNC_LEASE_SECONDS`` of the workers (None: the setting's default, 60 s).
    lease_seconds: float | None = None
    workers: list[WorkerProcess] = field(default_factory=list)
    admins: dict[Provider, SandboxAdminClient] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._secret_key = secrets.token_urlsafe(32)
        self._signing_secret = secrets.token_urlsafe(32)
        self._late = _LateApp()
        self.public_url = ""  # ingest's address, once started
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._container: Container | None = None
        self._http = httpx.Client(timeout=10)
        self._engine = sa.create_engine(self.database_url, pool_pre_ping=True)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> SyncCluster:
        self.admins = {
            Provider.GOOGLE: SandboxAdminClient(self.sandbox.google_url),
            Provider.MICROSOFT: SandboxAdminClient(self.sandbox.graph_url),
        }
        self._server = make_server(
            "127.0.0.1", 0, self._late, threaded=True, request_handler=QuietRequestHandler
        )
        self.public_url = f"http://127.0.0.1:{self._server.server_port}"
        self._container = Container(Settings.from_env(self.environment()))
        self._late.app = self._container.http_app()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Kill every worker, stop ingest, let go of every connection."""
        self.stop_workers(self.workers)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._container is not None:
            self._container.close()
        for admin in self.admins.values():
            admin.close()
        self._http.close()
        self._engine.dispose()

    @property
    def container(self) -> Container:
        assert self._container is not None, "cluster not started"
        return self._container

    def environment(self) -> dict[str, str]:
        """The ``CALSYNC_*`` settings every process of the cluster shares."""
        env = {
            "CALSYNC_VAR_DIR": str(self.workdir / "var"),
            "CALSYNC_DATABASE_URL": self.database_url,
            "CALSYNC_BROKER_URL": self.broker_url,
            "CALSYNC_PUBLIC_URL": self.public_url,
            "CALSYNC_SECRET_KEY": self._secret_key,
            "CALSYNC_CRM_SIGNING_SECRET": self._signing_secret,
            "CALSYNC_GOOGLE_API_URL": self.sandbox.google_url + "/",
            "CALSYNC_GOOGLE_TOKEN_URL": self.sandbox.google_token_url,
            "CALSYNC_GRAPH_API_URL": self.sandbox.graph_api_url,
            "CALSYNC_MICROSOFT_TOKEN_URL": self.sandbox.graph_token_url(),
            "CALSYNC_GOOGLE_CLIENT_ID": CLIENT_ID,
            "CALSYNC_GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
            "CALSYNC_MICROSOFT_CLIENT_ID": CLIENT_ID,
            "CALSYNC_MICROSOFT_CLIENT_SECRET": CLIENT_SECRET,
            "CALSYNC_LOG_FORMAT": "json",
            "CALSYNC_LOG_LEVEL": "INFO",
        }
        if self.lease_seconds is not None:
            env["CALSYNC_SYNC_LEASE_SECONDS"] = str(self.lease_seconds)
        return env

    def reset(self, *, with_lucas: bool = False) -> None:
        """An empty store with the article's directory, empty sandboxes and sync queues.

        Call it only while the workers are idle (after :meth:`wait_settled`).
        """
        for admin in self.admins.values():
            admin.reset()
        with self._engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        self.container.directory.load(parse_directory(article_directory(with_lucas=with_lucas)))
        with Connection(self.broker_url) as connection:
            for queue in (*SYNC_QUEUES, topology.DEAD_LETTER_QUEUE):
                connection.default_channel.queue_purge(queue)

    # -- workers --------------------------------------------------------------------------

    def start_worker(self) -> WorkerProcess:
        """Start one more worker and wait until it consumes."""
        (worker,) = self._spawn(1)
        return worker

    def run_workers(self, count: int) -> list[WorkerProcess]:
        """Have exactly ``count`` live workers: running ones are kept (they are idle between
        scenarios), extra ones stopped, missing ones started together."""
        live = self.live_workers()
        self.stop_workers(live[count:])
        return live[:count] + self._spawn(count - len(live[:count]))

    def _spawn(self, count: int) -> list[WorkerProcess]:
        """Start ``calsync worker --queue sync`` ``count`` times; wait until all consume."""
        started = []
        for _ in range(count):
            name = f"worker-{len(self.workers) + 1}"
            log_path = self.workdir / f"{name}.log"
            process = calsync_worker(topology.SYNC.name, self.environment(), log_path)
            worker = WorkerProcess(name, process, log_path)
            self.workers.append(worker)
            started.append(worker)
        expected = len(self.live_workers())
        wait_for(
            lambda: (all(w.alive() for w in started), self.consumers()),
            lambda seen: not seen[0] or seen[1] >= expected,
            TIMEOUT,
            f"{expected} workers consuming",
        )
        for worker in started:
            assert worker.alive(), f"{worker.name} died on start:\n{worker.tail()}"
        return started

    def live_workers(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.alive()]

    def kill_worker(self, worker: WorkerProcess) -> float:
        """SIGKILL the worker; returns when (epoch seconds, the request log's clock)."""
        killed_at = time.time()
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(timeout=10)
        return killed_at

    def stop_workers(self, workers: Sequence[WorkerProcess]) -> None:
        """SIGTERM each (in-flight messages finish), then SIGKILL any still there after 10 s."""
        running = [w for w in workers if w.alive()]
        for worker in running:
            worker.process.send_signal(signal.SIGTERM)
        for worker in running:
            try:
                worker.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(timeout=10)

    def consumers(self) -> int:
        """Consumers registered on the sync queue."""
        with Connection(self.broker_url) as connection:
            _name, _ready, consumers = connection.default_channel.queue_declare(
                topology.SYNC.name, passive=True
            )
            return int(consumers)

    # -- calendars and hints --------------------------------------------------------------

    def person(self, provider: Provider, email: str, *meetings: Meeting) -> Json:
        """A sandbox user with a calendar at ``email``, holding ``meetings`` already."""
        admin = self.admins[provider]
        person = admin.create_user(email, time_zone="Europe/Stockholm")
        if meetings:
            admin.create_events(email, [m.body(provider) for m in meetings])
        return person

    def connect(self, provider: Provider, user_id: str, person: Json) -> Calendar:
        """Connect ``person``'s sandbox calendar for ``user_id`` like ``calsync connect``:
        tokens stored, push channel opened at the sandbox, initial sync queued."""
        admin = self.admins[provider]
        result = connect_calendar(
            self.container,
            provider=provider,
            account_id=ACCOUNT,
            user_id=user_id,
            refresh_token=person["refresh_token"],
        )
        assert result.channel_id is not None, result.channel_error
        (live,) = [s for s in admin.subscriptions() if s["id"] == result.channel_id]
        secret = live["token"] if provider is Provider.GOOGLE else live["clientState"]
        return Calendar(
            provider, user_id, person, result.connection_id, result.channel_id, secret, admin
        )

    def hint(self, calendar: Calendar) -> int:
        """Post what the provider posts after a change; returns the HTTP status."""
        if calendar.provider is Provider.GOOGLE:
            response = self._http.post(
                f"{self.public_url}/webhooks/google",
                headers={
                    "X-Goog-Channel-ID": calendar.channel_id,
                    "X-Goog-Channel-Token": calendar.channel_secret,
                    "X-Goog-Resource-ID": "resource",
                    "X-Goog-Resource-State": "exists",
                    "X-Goog-Message-Number": "7",
                },
            )
        else:
            item = {
                "subscriptionId": calendar.channel_id,
                "clientState": calendar.channel_secret,
                "changeType": "updated",
                "resource": f"Users/{calendar.person['id']}/Events/x",
            }
            response = self._http.post(
                f"{self.public_url}/webhooks/microsoft", json={"value": [item]}
            )
        return response.status_code

    # -- settling -------------------------------------------------------------------------

    def waiting_hints(self) -> dict[str, int]:
        """Messages (ready or unacked) in the sync queue and its retry queues.

        Asks ``rabbitmqctl``, the only way to see unacked ones without the management API.
        """
        vhost = unquote(urlsplit(self.broker_url).path.lstrip("/")) or "/"
        command = ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers"]
        listed = subprocess.run(
            [*command, "name", "messages"], check=True, capture_output=True, text=True, timeout=30
        ).stdout
        counts = dict(line.split("\t") for line in listed.splitlines() if "\t" in line)
        return {name: int(counts.get(name, 0)) for name in SYNC_QUEUES}

    def ready_hints(self) -> int:
        """Messages ready in the sync queue and its retry queues (a quick look)."""
        with Connection(self.broker_url) as connection:
            channel = connection.default_channel
            return sum(int(channel.queue_declare(name, passive=True)[1]) for name in SYNC_QUEUES)

    def dead_letters(self) -> int:
        """Messages in the dead-letter queue (nobody consumes it in the cluster)."""
        with Connection(self.broker_url) as connection:
            _name, ready, _consumers = connection.default_channel.queue_declare(
                topology.DEAD_LETTER_QUEUE, passive=True
            )
            return int(ready)

    def sync_state(self) -> list[tuple[str, int, int, str | None]]:
        """Each connection's (id, sync_requested, sync_done, lease_owner)."""
        c = calendar_connections.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.id, c.sync_requested, c.sync_done, c.lease_owner).order_by(c.id)
            ).all()
        return [(r.id, r.sync_requested, r.sync_done, r.lease_owner) for r in rows]

    def wait_settled(self, timeout: float = TIMEOUT) -> None:
        """Wait until nothing is left to do: every requested sync done and no lease held,
        no hint in the sync or retry queues (ready or unacked), and nothing new at the
        sandboxes (deliveries, provider calls) over consecutive snapshots."""
        last: object = None
        same = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snapshot = self._snapshot()
            same = same + 1 if snapshot is not None and snapshot == last else 1
            last = snapshot
            if (
                snapshot is not None
                and same >= SETTLED_SNAPSHOTS
                and not any(self.waiting_hints().values())
                and self._snapshot() == snapshot
            ):
                return
            time.sleep(0.15)
        raise AssertionError(
            f"not settled within {timeout:.0f} s: queues {self.waiting_hints()}, "
            f"connections {self.sync_state()}\n"
            + "\n".join(f"--- {w.name}\n{w.tail()}" for w in self.workers)
        )

    def idle(self) -> bool:
        """Whether nothing is pending right now (one quick look, no waiting)."""
        return self._snapshot() is not None

    def _snapshot(self) -> object | None:
        """What must not change while settled, or None while something is pending."""
        state = self.sync_state()
        if any(requested != done or owner is not None for _id, requested, done, owner in state):
            return None
        if self.ready_hints():
            return None
        sandbox = [
            (len(admin.deliveries()), len(admin.requests())) for admin in self.admins.values()
        ]
        return (state, sandbox)

    # -- the store ------------------------------------------------------------------------

    def dump(self) -> list[Json]:
        """The account's appointments with participants, rooms and links, canonically:
        ids, timestamps and the provider's event ids, iCalUIDs and etags left out (they
        differ between two runs of one script), everything sorted, duplicates kept."""
        with self._engine.connect() as conn:

            def rows(table: sa.Table, *where: sa.ColumnElement[bool]) -> list[Json]:
                return [
                    dict(row) for row in conn.execute(sa.select(table).where(*where)).mappings()
                ]

            found = rows(appointments, appointments.c.account_id == ACCOUNT)
            children: dict[str, Json] = {
                row["id"]: {"participants": [], "rooms": [], "links": []} for row in found
            }
            for row in rows(
                appointment_participants, appointment_participants.c.account_id == ACCOUNT
            ):
                children[row["appointment_id"]]["participants"].append(
                    _pick(row, *PARTICIPANT_FIELDS)
                )
            for row in rows(appointment_rooms, appointment_rooms.c.appointment_id.in_(children)):
                children[row["appointment_id"]]["rooms"].append(_pick(row, "email", "name"))
            for row in rows(event_links, event_links.c.account_id == ACCOUNT):
                children[row["appointment_id"]]["links"].append(_pick(row, *LINK_FIELDS))
        dumped = []
        for row in found:
            fields = {k: _plain(v) for k, v in row.items() if k not in RUN_SPECIFIC_FIELDS}
            for name, items in children[row["id"]].items():
                fields[name] = sorted(items, key=_canonical)
            dumped.append(fields)
        return sorted(dumped, key=_canonical)

    def subjects(self) -> list[str]:
        """Subjects of the account's appointments, sorted (duplicates kept)."""
        with self._engine.connect() as conn:
            found = conn.execute(
                sa.select(appointments.c.subject).where(appointments.c.account_id == ACCOUNT)
            ).scalars()
            return sorted(found)

    def wait_stored(self, subject: str, timeout: float = TIMEOUT) -> None:
        """Wait until an appointment called ``subject`` is in the store."""
        wait_for(self.subjects, lambda found: subject in found, timeout, f"{subject!r} stored")

    def link_count(self) -> int:
        with self._engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(event_links)).scalar_one()
            )


#: Appointment columns that differ between two runs of one script.
RUN_SPECIFIC_FIELDS = frozenset({"id", "account_id", "created_at", "updated_at"})
PARTICIPANT_FIELDS = (
    "position",
    "email",
    "kind",
    "user_id",
    "contact_id",
    "company_id",
    "display_name",
    "response",
)
#: Link columns that say the same in two runs (not the provider's ids, etags or times).
LINK_FIELDS = ("provider", "calendar_owner_user_id", "instance_start", "gone", "version_sequence")


def _pick(row: Any, *names: str) -> Json:
    return {name: _plain(row[name]) for name in names}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


def _canonical(item: Any) -> str:
    return json.dumps(item, sort_keys=True, default=str)


def overlapping(requests: Sequence[Json]) -> list[tuple[Json, Json]]:
    """Pairs of logged calls that ran at the same time (each call's [started, finished])."""
    ordered = sorted(requests, key=lambda r: r["started"])
    pairs = []
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            if second["started"] >= first["finished"]:
                break
            pairs.append((first, second))
    return pairs
