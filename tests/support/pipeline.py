"""One whole pipeline in a test: ingest, worker threads and the read API over one store and broker.

The pieces are wired by the composition root exactly as ``calsync run`` wires them; the
provider is the sandbox, reached through the real client libraries. Each connected user
has a sandbox calendar, a connection and a push channel of their own.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from flask.testing import FlaskClient
from kombu import Connection

from adapters.calendar.stored import StoredTokens
from adapters.directory_file import parse_directory
from domain.model import Provider
from infra import db
from infra.bootstrap import Container
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from infra.settings import Settings
from ingest.signature import sign
from tests.factories import article_directory
from tests.support.calendar_sandbox import sandbox_settings
from tests.support.dates import days_ahead, naive_utc
from tests.support.processes import calsync_worker
from workers.runner import run_workers

SECRET = "pipeline-channel-secret"
CRM_SECRET = "pipeline-crm-secret"
ACCOUNT = "exempel"
#: When ``book`` puts meetings: the day after tomorrow, 09:00-10:00 UTC (inside the window,
#: R9, on whatever day the suite runs).
MEETING_START = days_ahead(2, hour=9)
START, END = naive_utc(MEETING_START), naive_utc(MEETING_START + timedelta(hours=1))
#: Longest wait for the pipeline to show something (a deadline, not a delay).
TIMEOUT = 20.0
POLL_INTERVAL = 0.1

T = TypeVar("T")


@dataclass(frozen=True)
class Connected:
    """A user whose sandbox calendar is connected: their sandbox person and our records."""

    user_id: str
    person: dict[str, Any]
    connection_id: str
    channel_id: str

    @property
    def email(self) -> str:
        return str(self.person["email"])


class Pipeline:
    """Ingest, a running worker thread and the read API over one store and one broker.

    Karl (``karl.andersson@exempel.se``) is connected from the start; ``connect`` adds
    another user of the directory. ``with_lucas`` loads the article's directory with Lucas
    as a user at gbg.exempel.se (scenario 3). The store is SQLite under ``tmp_path`` unless
    ``database_url`` names another (migrated here); ``sync_workers`` consumers of the sync
    queue run side by side, as that many ``calsync worker`` processes would.
    """

    def __init__(
        self,
        tmp_path: Path,
        broker_url: str,
        sandbox: SandboxServer,
        provider: Provider,
        *,
        with_lucas: bool = False,
        database_url: str | None = None,
        sync_workers: int = 1,
        queues: Sequence[str] | None = None,
    ) -> None:
        self.provider, self.sandbox = provider, sandbox
        store = {"CALSYNC_DATABASE_URL": database_url} if database_url else {}
        #: The CALSYNC_* settings, for ``calsync`` processes on this same store and broker.
        self.environment = {
            **store,
            "CALSYNC_VAR_DIR": str(tmp_path),
            "CALSYNC_BROKER_URL": broker_url,
            **sandbox_settings(sandbox),
            "CALSYNC_CRM_SIGNING_SECRET": CRM_SECRET,
        }
        self.container = Container(Settings.from_env(self.environment))
        db.upgrade(self.container.engine)
        self.container.directory.load(parse_directory(article_directory(with_lucas=with_lucas)))
        self.api_key = self.container.accounts.rotate_key(ACCOUNT)
        url = sandbox.google_url if provider is Provider.GOOGLE else sandbox.graph_url
        self.admin = SandboxAdminClient(url)
        self.admin.reset()
        self.users: dict[str, Connected] = {}
        #: Hints each user's channel had accepted, to know when the worker has seen them all.
        self.hints: dict[str, int] = {}
        #: When each user's last accepted hint was sent (a sync started later covers it).
        self.last_hint_at: dict[str, datetime] = {}
        self._crm_events = 0
        karl = self.connect("karl", "karl.andersson@exempel.se")
        self.karl = karl.person
        self.connection_id = karl.connection_id
        self.http: FlaskClient = self.container.http_app().test_client()
        self.stop = threading.Event()
        self.workers = threading.Thread(
            target=run_workers,
            args=(self.container.workers(queues or ["sync"] * sync_workers),),
            kwargs={"stop": self.stop, "grace_seconds": 5},
            daemon=True,
        )
        self.workers.start()

    # -- people ------------------------------------------------------------------------

    def connect(self, user_id: str, email: str) -> Connected:
        """Give ``user_id`` a sandbox calendar at ``email``, a connection and a channel."""
        person = self.admin.create_user(email, time_zone="Europe/Stockholm")
        record = self.container.connections.connect(
            ACCOUNT, user_id, self.provider.value, StoredTokens(person["refresh_token"]).dump()
        )
        channel_id = f"channel-{len(self.users) + 1}"
        self.container.channels.register(channel_id, record.id, self.provider.value, SECRET)
        connected = Connected(user_id, person, record.id, channel_id)
        self.users[user_id] = connected
        self.hints[user_id] = 0
        return connected

    # -- the calendar side -------------------------------------------------------------

    def book(
        self,
        subject: str,
        attendees: tuple[str, ...],
        organizer: str | None = None,
        *,
        calendar: str = "karl",
        ical_uid: str | None = None,
    ) -> dict[str, Any]:
        """Put a meeting in ``calendar``'s sandbox calendar as its owner (or the inviter) would.

        ``ical_uid`` gives the meeting a chosen iCalUID, so that the same meeting can sit in
        several calendars, as the provider does when it delivers an invitation to each.
        """
        if self.provider is Provider.GOOGLE:
            body: dict[str, Any] = {
                "summary": subject,
                "start": {"dateTime": START + "Z"},
                "end": {"dateTime": END + "Z"},
                "attendees": [{"email": a} for a in attendees],
            }
            if organizer:
                body["organizer"] = {"email": organizer}
            if ical_uid:
                body["iCalUID"] = ical_uid
        else:
            body = {
                "subject": subject,
                "start": {"dateTime": START, "timeZone": "UTC"},
                "end": {"dateTime": END, "timeZone": "UTC"},
                "attendees": [
                    {"emailAddress": {"address": a}, "type": "required"} for a in attendees
                ],
            }
            if organizer:
                body["organizer"] = {"emailAddress": {"address": organizer}}
        owner = self.users[calendar].person
        event = self.admin.create_event(owner["email"], body)
        if ical_uid and self.provider is Provider.MICROSOFT:
            event = self._deliver_graph_copy(owner, event["id"], ical_uid)
        return event

    def _deliver_graph_copy(
        self, owner: dict[str, Any], event_id: str, ical_uid: str
    ) -> dict[str, Any]:
        """Make a Graph sandbox event carry ``ical_uid``, before anyone has read it.

        Exchange gives every mailbox's copy of one meeting the organizer's ``iCalUId``.
        The Graph sandbox neither delivers invitations to other mailboxes nor lets a client
        set that read-only property, so the copy gets it here, under the sandbox's lock,
        as a new change (the next delta reports it).
        """
        state = self.sandbox.graph_state
        with state.lock:
            stored = state.mailboxes[owner["id"]].events[event_id]
            stored.resource["iCalUId"] = ical_uid
            stored.seq = state.next_seq()
            return dict(stored.resource)

    def notify(self, user: str = "karl") -> int:
        """Post what the provider would post after a change in ``user``'s calendar."""
        connected = self.users[user]
        sent_at = datetime.now(UTC)
        if self.provider is Provider.GOOGLE:
            status = self.http.post(
                "/webhooks/google",
                headers={
                    "X-Goog-Channel-ID": connected.channel_id,
                    "X-Goog-Channel-Token": SECRET,
                    "X-Goog-Resource-ID": "r",
                    "X-Goog-Resource-State": "exists",
                    "X-Goog-Message-Number": "2",
                },
            ).status_code
        else:
            status = self.http.post(
                "/webhooks/microsoft",
                json={
                    "value": [
                        {
                            "subscriptionId": connected.channel_id,
                            "clientState": SECRET,
                            "changeType": "created",
                            "resource": f"users/{connected.person['id']}/events",
                        }
                    ]
                },
            ).status_code
        if status in {200, 202}:
            self.hints[user] += 1
            self.last_hint_at[user] = sent_at
        return status

    # -- the CRM side ------------------------------------------------------------------

    def crm(self, kind: str, data: dict[str, Any], occurred_at: datetime | None = None) -> str:
        """Post a signed CRM event to ``/crm/events``, as the CRM does; its event id."""
        event_id, response = self.post_crm_event(kind, data, occurred_at)
        assert response.status_code == 202, response.get_data(as_text=True)
        return event_id

    def post_crm_event(
        self,
        kind: str,
        data: dict[str, Any],
        occurred_at: datetime | None = None,
        *,
        account_id: str = ACCOUNT,
    ) -> tuple[str, Any]:
        """Post a signed CRM event for ``account_id``; its id and the HTTP answer."""
        self._crm_events += 1
        event_id = f"crm-{uuid.uuid4().hex[:12]}-{self._crm_events}"
        moment = occurred_at or datetime.now(UTC)
        raw = json.dumps(
            {
                "id": event_id,
                "type": kind,
                "account_id": account_id,
                "occurred_at": moment.isoformat(),
                "data": data,
            }
        ).encode()
        at = int(time.time())
        response = self.http.post(
            "/crm/events",
            data=raw,
            content_type="application/json",
            headers={"X-Calsync-Signature": f"t={at},v1={sign(CRM_SECRET, at, raw)}"},
        )
        return event_id, response

    def calendar(self, user: str = "karl", timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """``user``'s CRM calendar through the read API, once something is there."""
        return self.poll(lambda: self.appointments(user=user), bool, timeout)

    def appointments(self, **query: str) -> list[dict[str, Any]]:
        """``GET /api/v1/appointments`` with ``query`` (the whole account without one)."""
        response = self.http.get(
            "/api/v1/appointments",
            query_string=query,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()  # type: ignore[no-any-return]

    def appointment(self, appointment_id: str) -> dict[str, Any]:
        """``GET /api/v1/appointments/{id}``."""
        response = self.http.get(
            f"/api/v1/appointments/{appointment_id}",
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()  # type: ignore[no-any-return]

    def synced(self, *users: str, timeout: float = TIMEOUT) -> None:
        """Wait until the worker has taken every accepted hint of ``users`` and finished the
        syncs they asked for (each hint bumps ``sync_requested``; a finished sync records
        its generation in ``sync_done``). Fails at the deadline."""

        def caught_up() -> bool:
            for user in users or ("karl",):
                record = self.container.connections.get(self.users[user].connection_id)
                assert record is not None
                covered = record.sync_covered_until
                last_hint = self.last_hint_at.get(user)
                # A hint is either counted in sync_requested, or acknowledged at once
                # because a sync that started after it had already read to the end.
                if record.sync_requested < self.hints[user] and not (
                    covered and last_hint and covered > last_hint
                ):
                    return False
                if record.sync_done != record.sync_requested:
                    return False
            return True

        assert self.poll(caught_up, bool, timeout), f"hints of {users} not synced in {timeout}s"

    @staticmethod
    def poll(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = TIMEOUT) -> T:
        """``fetch()`` until ``done`` says so or ``timeout`` passes; the last answer."""
        deadline = time.monotonic() + timeout
        while True:
            found = fetch()
            if done(found) or time.monotonic() > deadline:
                return found
            time.sleep(POLL_INTERVAL)

    def worker_process(self, queue: str, log_path: Path) -> subprocess.Popen[bytes]:
        """A ``calsync worker --queue QUEUE`` process on this store and broker, once it
        consumes (the pipeline's own workers must not consume ``queue``)."""
        process = calsync_worker(queue, self.environment, log_path)

        def consumers() -> int:
            with Connection(self.environment["CALSYNC_BROKER_URL"]) as connection:
                declared = connection.default_channel.queue_declare(queue, passive=True)
                return int(declared.consumer_count)

        self.poll(
            lambda: (process.poll(), consumers()),
            lambda seen: seen[0] is not None or seen[1] > 0,
        )
        assert process.poll() is None, f"worker died on start:\n{log_path.read_text()}"
        return process

    def close(self) -> None:
        self.stop.set()
        self.workers.join(timeout=15)
        self.admin.close()
        self.container.close()
