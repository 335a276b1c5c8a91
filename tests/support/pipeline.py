"""One whole pipeline in a test: ingest, worker threads and the read API over one store and broker.

The pieces are wired by the composition root exactly as ``calsync run`` wires them; the
provider is the sandbox, reached through the real client libraries.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from adapters.calendar.stored import StoredTokens
from adapters.directory_file import parse_directory
from domain.model import Provider
from infra import db
from infra.bootstrap import Container
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from infra.settings import Settings
from tests.factories import article_directory
from workers.runner import run_workers

SECRET = "pipeline-channel-secret"


class Pipeline:
    """Ingest, a running worker thread and the read API over one store and one broker."""

    def __init__(
        self, tmp_path: Path, broker_url: str, sandbox: SandboxServer, provider: Provider
    ) -> None:
        self.provider, self.sandbox = provider, sandbox
        settings = Settings.from_env(
            {
                "CALSYNC_VAR_DIR": str(tmp_path),
                "CALSYNC_BROKER_URL": broker_url,
                "CALSYNC_GOOGLE_API_URL": sandbox.google_url + "/",
                "CALSYNC_GOOGLE_TOKEN_URL": sandbox.google_token_url,
                "CALSYNC_GRAPH_API_URL": sandbox.graph_api_url,
                "CALSYNC_MICROSOFT_TOKEN_URL": sandbox.graph_token_url(),
                "CALSYNC_GOOGLE_CLIENT_ID": "calsync-test",
                "CALSYNC_GOOGLE_CLIENT_SECRET": "s",
                "CALSYNC_MICROSOFT_CLIENT_ID": "calsync-test",
                "CALSYNC_MICROSOFT_CLIENT_SECRET": "s",
            }
        )
        self.container = Container(settings)
        db.upgrade(self.container.engine)
        self.container.directory.load(parse_directory(article_directory()))
        self.api_key = self.container.accounts.rotate_key("exempel")
        url = sandbox.google_url if provider is Provider.GOOGLE else sandbox.graph_url
        self.admin = SandboxAdminClient(url)
        self.admin.reset()
        self.karl = self.admin.create_user(
            "karl.andersson@exempel.se", time_zone="Europe/Stockholm"
        )
        record = self.container.connections.connect(
            "exempel", "karl", provider.value, StoredTokens(self.karl["refresh_token"]).dump()
        )
        self.connection_id = record.id
        self.container.channels.register("channel-1", record.id, provider.value, SECRET)
        self.http: FlaskClient = self.container.http_app().test_client()
        self.stop = threading.Event()
        self.workers = threading.Thread(
            target=run_workers,
            args=(self.container.workers(["sync"]),),
            kwargs={"stop": self.stop, "grace_seconds": 5},
            daemon=True,
        )
        self.workers.start()

    def book(self, subject: str, attendees: tuple[str, ...], organizer: str | None = None) -> None:
        start, end = "2026-12-02T09:00:00", "2026-12-02T10:00:00"
        if self.provider is Provider.GOOGLE:
            body: dict[str, Any] = {
                "summary": subject,
                "start": {"dateTime": start + "Z"},
                "end": {"dateTime": end + "Z"},
                "attendees": [{"email": a} for a in attendees],
            }
            if organizer:
                body["organizer"] = {"email": organizer}
        else:
            body = {
                "subject": subject,
                "start": {"dateTime": start, "timeZone": "UTC"},
                "end": {"dateTime": end, "timeZone": "UTC"},
                "attendees": [
                    {"emailAddress": {"address": a}, "type": "required"} for a in attendees
                ],
            }
            if organizer:
                body["organizer"] = {"emailAddress": {"address": organizer}}
        self.admin.create_event(self.karl["email"], body)

    def notify(self) -> int:
        """Post what the provider would post after a change."""
        if self.provider is Provider.GOOGLE:
            return self.http.post(
                "/webhooks/google",
                headers={
                    "X-Goog-Channel-ID": "channel-1",
                    "X-Goog-Channel-Token": SECRET,
                    "X-Goog-Resource-ID": "r",
                    "X-Goog-Resource-State": "exists",
                    "X-Goog-Message-Number": "2",
                },
            ).status_code
        return self.http.post(
            "/webhooks/microsoft",
            json={
                "value": [
                    {
                        "subscriptionId": "channel-1",
                        "clientState": SECRET,
                        "changeType": "created",
                        "resource": f"users/{self.karl['id']}/events",
                    }
                ]
            },
        ).status_code

    def calendar(self, user: str = "karl", timeout: float = 20) -> list[dict[str, Any]]:
        """Karl's CRM calendar through the read API, once something is there."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.http.get(
                "/api/v1/appointments",
                query_string={"user": user},
                headers={"Authorization": f"Bearer {self.api_key}"},
            ).get_json()
            if found or time.monotonic() > deadline:
                return found  # type: ignore[no-any-return]
            time.sleep(0.2)

    def close(self) -> None:
        self.stop.set()
        self.workers.join(timeout=15)
        self.container.close()
