"""``calsync demo``: the help article's scenarios end to end, printed as a table.

Everything runs in one process on the embedded default (a SQLite store and the embedded
broker in a temporary directory; nothing of ``var/`` is touched):

* the sandbox Google and Microsoft calendars (``infra.sandbox``);
* our HTTP app (ingest + API) on a local port that is ``CALSYNC_PUBLIC_URL``, so the
  sandbox's push notifications (and Graph's validation handshake) reach the real webhooks;
* the sync, CRM, outbox relay and write-back workers in a thread.

Then the other direction (``infra.demo_writeback``): appointments saved in the CRM are
posted to ``/crm/events`` and written to Karl's calendars, with and without invitations.

The directory has two accounts with the same people: ``exempel`` (Karl; Johanna is no user)
for scenarios 1 and 2, and ``exempel-gbg`` (Karl, and Lucas at gbg.exempel.se) for
scenario 3. A sandbox holds one calendar per address, so Karl's calendar in ``exempel`` is
on Google and his calendar in ``exempel-gbg`` is on Microsoft: scenario 3 and the
Microsoft meeting (Karl meets the contact Eva) are booked there. Meetings are created in
the sandbox as a person would; nothing is posted to the webhooks by hand: the sync worker
acts on the connections' initial sync and the providers' push notifications.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import structlog
from werkzeug.serving import make_server

from adapters.directory_file import parse_directory
from adapters.sql.appointments import AppointmentFilter, AppointmentRecord
from domain.model import Provider
from infra import db, demo_writeback
from infra.bootstrap import Container
from infra.connect import ConnectError, connect_calendar
from infra.demo_output import print_table
from infra.log import configure_logging
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import QuietRequestHandler, SandboxServer
from infra.settings import Settings
from workers.runner import run_workers

#: Longest wait for the synced meetings to show in the CRM calendars.
SYNC_TIMEOUT = 20.0
#: Seconds between two looks at the read side while waiting.
POLL_INTERVAL = 0.2

ACCOUNT = "exempel"
ACCOUNT_GBG = "exempel-gbg"
KARL = "karl.andersson@exempel.se"
EXTERNAL = "anna.berg@leverantor.se"

Json = dict[str, Any]


@dataclass(frozen=True)
class Meeting:
    """One meeting of the demo and what the article says becomes of it.

    ``expected`` maps each participant's e-mail to its kind, None when it is not synced.
    """

    scenario: str
    account_id: str
    user_id: str
    provider: Provider
    subject: str
    attendees: tuple[str, ...]
    organizer: str | None
    expected: dict[str, str] | None


MEETINGS = (
    Meeting(
        "1",
        ACCOUNT,
        "karl",
        Provider.GOOGLE,
        "Scenario 1: an external person invites Karl and Johanna",
        ("karl@exempel.se", "johanna.svennson@exempel.se", EXTERNAL),
        EXTERNAL,
        {"karl@exempel.se": "user", EXTERNAL: "external"},
    ),
    Meeting(
        "2",
        ACCOUNT,
        "karl",
        Provider.GOOGLE,
        "Scenario 2: Karl books Johanna at gbg.exempel.se",
        ("johanna@gbg.exempel.se",),
        None,
        {KARL: "user", "johanna@gbg.exempel.se": "external"},
    ),
    Meeting(
        "3",
        ACCOUNT_GBG,
        "karl",
        Provider.MICROSOFT,
        "Scenario 3: as 2, but Lucas is a user at gbg.exempel.se",
        ("johanna@gbg.exempel.se",),
        None,
        None,
    ),
    Meeting(
        "MS",
        ACCOUNT_GBG,
        "karl",
        Provider.MICROSOFT,
        "Microsoft meeting: Karl meets the contact Eva",
        ("eva@kund.se",),
        None,
        {KARL: "user", "eva@kund.se": "contact"},
    ),
)


def directory() -> Json:
    """Two accounts with the same people; only ``exempel-gbg`` has Lucas as a user."""

    def account(account_id: str, name: str, with_lucas: bool) -> Json:
        users: list[Json] = [
            {
                "id": "karl",
                "name": "Karl Andersson",
                "email": KARL,
                "aliases": ["karl@exempel.se", "karl@sthlm.exempel.se"],
                "time_zone": "Europe/Stockholm",
            }
        ]
        if with_lucas:
            users.append(
                {
                    "id": "lucas",
                    "name": "Lucas",
                    "email": "lucas@gbg.exempel.se",
                    "time_zone": "Europe/Stockholm",
                }
            )
        return {
            "id": account_id,
            "name": name,
            "extra_colleague_domains": [],
            "users": users,
            "companies": [{"id": "kund", "name": "Kund AB"}],
            "contacts": [
                {"id": "eva", "name": "Eva Kund", "emails": ["eva@kund.se"], "company_id": "kund"}
            ],
        }

    return {
        "accounts": [
            account(ACCOUNT, "Exempel AB", with_lucas=False),
            account(ACCOUNT_GBG, "Exempel AB (with Lucas in Gothenburg)", with_lucas=True),
        ]
    }


def run_demo(out: TextIO, *, work_dir: Path | None = None) -> int:
    """Run the scenarios end to end and print what each CRM calendar shows.

    Args:
        out: where the table goes.
        work_dir: the directory for the store, the broker and the secrets (default: a
            temporary directory, removed afterwards).

    Returns:
        0 when every meeting came out as the article says, 1 otherwise.
    """
    with ExitStack() as stack:
        stack.enter_context(_quiet_logging())
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore", DeprecationWarning)
        if work_dir is None:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="calsync-")))
        sandbox = stack.enter_context(SandboxServer())
        late = _LateApp()
        server = make_server(
            "127.0.0.1", 0, late, threaded=True, request_handler=QuietRequestHandler
        )
        container = Container(_settings(work_dir, sandbox, f"http://127.0.0.1:{server.port}"))
        stack.callback(container.close)
        db.upgrade(container.engine)
        container.declare_broker()
        container.directory.load(parse_directory(directory()))
        late.app = container.http_app()
        stack.enter_context(_serving(server))
        stop = threading.Event()
        worker = threading.Thread(
            target=run_workers,
            args=(container.workers(["sync", "crm", "outbox-relay", "writeback"]),),
            kwargs={"stop": stop, "grace_seconds": 5},
            name="demo-workers",
            daemon=True,
        )
        worker.start()

        def stop_worker() -> None:
            stop.set()
            worker.join(timeout=15)

        stack.callback(stop_worker)
        admins = {
            Provider.GOOGLE: stack.enter_context(SandboxAdminClient(sandbox.google_url)),
            Provider.MICROSOFT: stack.enter_context(SandboxAdminClient(sandbox.graph_url)),
        }
        try:
            _connect_all(container, admins)
        except ConnectError as error:
            out.write(f"calsync demo: cannot connect a calendar: {error}\n")
            return 1
        start = container.clock().replace(hour=9, minute=0, second=0, microsecond=0)
        for day, meeting in enumerate(MEETINGS, start=1):
            _book(admins[meeting.provider], meeting, start + timedelta(days=day))
        found = _wait_for_sync(container)
        status = _report(out, container, found)
        planned = demo_writeback.saves(ACCOUNT, ACCOUNT_GBG)
        demo_writeback.post_saves(container, f"http://127.0.0.1:{server.port}", planned)
        written = demo_writeback.wait_for_writes(container, planned)
        out.write(
            "\nThe other direction: appointments saved in the CRM, with Eva, written to "
            "Karl's calendars:\n"
        )
        wrong = demo_writeback.report_writes(out, planned, written, admins, KARL)
        if wrong:
            out.write("NOT as the rules say: " + "; ".join(wrong) + "\n")
            return 1
        out.write(f"All {len(planned)} CRM saves reached the calendars as the rules say.\n")
        return status
    return 1  # pragma: no cover - ExitStack does not swallow exceptions


def _settings(work_dir: Path, sandbox: SandboxServer, public_url: str) -> Settings:
    """Settings from this dict only: the user's ``CALSYNC_*`` variables do not leak in."""
    return Settings.from_env(
        {
            "CALSYNC_VAR_DIR": str(work_dir),
            "CALSYNC_PUBLIC_URL": public_url,
            "CALSYNC_SECRET_KEY": secrets.token_urlsafe(32),
            "CALSYNC_CRM_SIGNING_SECRET": secrets.token_urlsafe(32),
            "CALSYNC_GOOGLE_API_URL": sandbox.google_url + "/",
            "CALSYNC_GOOGLE_TOKEN_URL": sandbox.google_token_url,
            "CALSYNC_GRAPH_API_URL": sandbox.graph_api_url,
            "CALSYNC_MICROSOFT_TOKEN_URL": sandbox.graph_token_url(),
            "CALSYNC_GOOGLE_CLIENT_ID": "calsync-demo",
            "CALSYNC_GOOGLE_CLIENT_SECRET": "demo-secret",
            "CALSYNC_MICROSOFT_CLIENT_ID": "calsync-demo",
            "CALSYNC_MICROSOFT_CLIENT_SECRET": "demo-secret",
            "CALSYNC_LOG_LEVEL": "WARNING",
            "CALSYNC_LOG_FORMAT": "console",
        }
    )


class _LateApp:
    """A WSGI app set after the server is bound (the app's settings need the server's port)."""

    app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


@contextmanager
def _serving(server: Any) -> Iterator[None]:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="demo-http"
    )
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def _quiet_logging() -> Iterator[None]:
    """Warnings only while the demo runs; the previous set-up afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    configure_logging("console", "WARNING")
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


def _connect_all(container: Container, admins: dict[Provider, SandboxAdminClient]) -> None:
    """One sandbox calendar per (account, user) with meetings, connected with its token."""
    calendars = {(m.account_id, m.user_id, m.provider) for m in MEETINGS}
    for account_id, user_id, provider in sorted(calendars):
        made = admins[provider].create_user(KARL, time_zone="Europe/Stockholm")
        connect_calendar(
            container,
            provider=provider,
            account_id=account_id,
            user_id=user_id,
            refresh_token=made["refresh_token"],
        )


def _book(admin: SandboxAdminClient, meeting: Meeting, start: datetime) -> None:
    """Create the meeting in Karl's calendar as he (or the inviter) would."""
    end = start + timedelta(hours=1)
    if meeting.provider is Provider.GOOGLE:
        body: Json = {
            "summary": meeting.subject,
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "attendees": [{"email": a} for a in meeting.attendees],
        }
        if meeting.organizer:
            body["organizer"] = {"email": meeting.organizer}
    else:
        body = {
            "subject": meeting.subject,
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "attendees": [
                {"emailAddress": {"address": a}, "type": "required"} for a in meeting.attendees
            ],
        }
        if meeting.organizer:
            body["organizer"] = {"emailAddress": {"address": meeting.organizer}}
    admin.create_event(KARL, body)


def _appointments(container: Container, account_id: str, user_id: str) -> list[AppointmentRecord]:
    return container.appointments.list(account_id, AppointmentFilter(user_id=user_id))


def _wait_for_sync(container: Container) -> dict[str, AppointmentRecord]:
    """The appointment of each meeting, once every meeting that should sync has.

    A meeting that should not sync (scenario 3) is booked before one that should in the
    same calendar, so the sync that brings the later one has seen the earlier one too.
    """
    wanted = {m.scenario for m in MEETINGS if m.expected is not None}
    deadline = time.monotonic() + SYNC_TIMEOUT
    while True:
        found: dict[str, AppointmentRecord] = {}
        for meeting in MEETINGS:
            for record in _appointments(container, meeting.account_id, meeting.user_id):
                if record.subject == meeting.subject:
                    found[meeting.scenario] = record
        if wanted <= found.keys() or time.monotonic() > deadline:
            return found
        time.sleep(POLL_INTERVAL)


def _participants(record: AppointmentRecord | None) -> dict[str, str]:
    return {p.email: p.kind for p in record.participants} if record else {}


def _describe(participants: dict[str, str]) -> str:
    return ", ".join(f"{email} ({kind})" for email, kind in participants.items()) or "-"


def _report(out: TextIO, container: Container, found: dict[str, AppointmentRecord]) -> int:
    out.write(
        "Calsync demo: the help article's scenarios through the sandbox Google and "
        "Microsoft calendars\n"
        f"accounts: {ACCOUNT} (user Karl; his calendar on Google), "
        f"{ACCOUNT_GBG} (users Karl and Lucas at gbg.exempel.se; Karl's calendar on "
        "Microsoft)\n"
        "Johanna (johanna.svennson@, johanna@, johanna@gbg.exempel.se) is no user.\n\n"
    )
    rows: list[tuple[str, ...]] = [
        ("scenario", "provider", "calendar of", "synced?", "participants (kind)", "ok?")
    ]
    wrong: list[str] = []
    for meeting in MEETINGS:
        record = found.get(meeting.scenario)
        actual = _participants(record) if record else None
        ok = actual == meeting.expected
        if not ok:
            expected = "not synced" if meeting.expected is None else _describe(meeting.expected)
            got = "not synced" if actual is None else _describe(actual)
            wrong.append(f"scenario {meeting.scenario}: expected {expected}, got {got}")
        rows.append(
            (
                meeting.scenario,
                meeting.provider.value,
                f"{meeting.user_id} @ {meeting.account_id}",
                "synced" if record else "not synced",
                _describe(actual) if actual is not None else "-",
                "as the article says" if ok else "WRONG",
            )
        )
    print_table(out, rows)
    out.write("\nWhat each user's CRM calendar shows:\n")
    for account_id, user_id in (
        (ACCOUNT, "karl"),
        (ACCOUNT_GBG, "karl"),
        (ACCOUNT_GBG, "lucas"),
    ):
        out.write(f"  {user_id} @ {account_id}:\n")
        records = _appointments(container, account_id, user_id)
        if not records:
            out.write("    (nothing)\n")
        for record in records:
            when = record.start_at.strftime("%Y-%m-%d %H:%M UTC") if record.start_at else "?"
            out.write(f"    {when}  {record.subject}\n")
            out.write(f"      participants: {_describe(_participants(record))}\n")
            if record.company_id:
                out.write(f"      company: {record.company_id}\n")
    out.write("\n")
    if wrong:
        out.write("NOT as the article says:\n")
        out.writelines(f"  {line}\n" for line in wrong)
        return 1
    out.write(f"All {len(MEETINGS)} meetings came out as the article says.\n")
    return 0
