"""No secret reaches a log line through a whole connect, notification and sync.

Every log line of the process (ours and the client libraries', at DEBUG) is captured as
JSON while a calendar is connected, notified and synced, on each provider; then every
secret the run handled is looked for in the text: the refresh and access tokens, the OAuth
client secret, the channel token or clientState, and our own keys.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.calendar.stored import StoredTokens
from adapters.sql.tables import appointments
from domain.model import Provider
from infra.log import configure_logging
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.support.live_world import ACCOUNT, CLIENT, World, live_world
from workers.runner import run_workers

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("json", "DEBUG", stream=stream)
    yield stream
    logging.getLogger().handlers.clear()


@pytest.fixture
def world(
    log_text: io.StringIO,
    tmp_path: Path,
    sandbox: SandboxServer,
    admins: dict[Provider, SandboxAdminClient],
    broker_url: str,
) -> Iterator[World]:
    yield from live_world(tmp_path, sandbox, admins, broker_url)


def _event(provider: Provider) -> dict[str, object]:
    if provider is Provider.GOOGLE:
        return {
            "summary": "Secret-free meeting",
            "start": {"dateTime": "2026-12-02T09:00:00Z"},
            "end": {"dateTime": "2026-12-02T10:00:00Z"},
            "attendees": [{"email": "ann@example.com"}, {"email": "eva@kund.se"}],
        }
    return {
        "subject": "Secret-free meeting",
        "start": {"dateTime": "2026-12-02T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-02T10:00:00", "timeZone": "UTC"},
        "attendees": [{"emailAddress": {"address": "eva@kund.se"}, "type": "required"}],
    }


def _synced(world: World) -> bool:
    with world.container.engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).where(appointments.c.account_id == ACCOUNT)
        ).scalar_one()
    return count > 0


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"])
def test_no_secret_is_logged_through_connect_notification_and_sync(
    world: World, log_text: io.StringIO, provider: Provider
) -> None:
    # Given a connected calendar and the workers running, every log line captured
    admin = world.admins[provider]
    user = admin.create_user("ann@example.com")
    result = world.connect(provider, "ann", user["refresh_token"])
    assert result.channel_id, result.channel_error
    stop = threading.Event()
    workers = threading.Thread(
        target=run_workers,
        args=(world.container.workers(["sync", "connections"]),),
        kwargs={"stop": stop, "grace_seconds": 5},
        daemon=True,
    )
    workers.start()
    try:
        # When the calendar changes, the provider notifies us and the worker syncs
        admin.create_event(user["email"], _event(provider))
        deadline = time.monotonic() + 20
        while not _synced(world) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _synced(world)
    finally:
        stop.set()
        workers.join(timeout=15)

    # Then the log tells the story...
    text = log_text.getvalue()
    assert '"calendar connected"' in text
    assert '"sync finished"' in text
    # ...and not one secret the run handled
    stored = StoredTokens.load(world.container.connections.credentials(result.connection_id))
    (channel,) = admin.subscriptions()
    secrets = {
        "refresh token": user["refresh_token"],
        "stored refresh token": stored.refresh_token,
        "access token": stored.access_token,
        "OAuth client secret": CLIENT["secret"],
        "channel token / clientState": channel.get("token") or channel.get("clientState"),
        "token-encryption key": world.container.settings.secret_key,
        "CRM signing secret": world.container.settings.crm_signing_secret,
    }
    for name, secret in secrets.items():
        assert secret, f"the test did not find the {name}"
        assert secret not in text, f"the {name} appears in the log"
