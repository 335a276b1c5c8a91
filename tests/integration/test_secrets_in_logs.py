"""No secret reaches a log line through a whole connect, notification, sync and write-back.

Every log line of the process (ours and the client libraries', at DEBUG) is captured as
JSON while a calendar is connected, notified and synced, and a CRM save is written to it,
on each provider; then every
secret the run handled is looked for in the text: the refresh and access tokens, the OAuth
client secret, the channel token or clientState, and our own keys.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.calendar.stored import StoredTokens
from adapters.sql.tables import appointments
from domain.model import Provider
from infra.log import configure_logging
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from ingest.signature import sign
from tests.support.dates import days_ahead, naive_utc, rfc3339
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
    start, end = days_ahead(2, hour=9), days_ahead(2, hour=10)
    if provider is Provider.GOOGLE:
        return {
            "summary": "Secret-free meeting",
            "start": {"dateTime": rfc3339(start)},
            "end": {"dateTime": rfc3339(end)},
            "attendees": [{"email": "ann@example.com"}, {"email": "eva@kund.se"}],
        }
    return {
        "subject": "Secret-free meeting",
        "start": {"dateTime": naive_utc(start), "timeZone": "UTC"},
        "end": {"dateTime": naive_utc(end), "timeZone": "UTC"},
        "attendees": [{"emailAddress": {"address": "eva@kund.se"}, "type": "required"}],
    }


def _synced(world: World) -> bool:
    with world.container.engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).where(appointments.c.account_id == ACCOUNT)
        ).scalar_one()
    return count > 0


def _save_in_crm(world: World) -> None:
    raw = json.dumps(
        {
            "id": "crm-event-1",
            "type": "appointment.saved",
            "account_id": ACCOUNT,
            "occurred_at": datetime.now(UTC).isoformat(),
            "data": {
                "id": "crm-1",
                "organizer_user_id": "ann",
                "subject": "Written back",
                "start": days_ahead(3, hour=9).isoformat(),
                "end": days_ahead(3, hour=10).isoformat(),
                "emails": ["eva@kund.se"],
                "video": "meet",
                "invite": True,
            },
        }
    ).encode()
    at = int(time.time())
    signature = sign(world.container.settings.crm_signing_secret, at, raw)
    response = (
        world.container.http_app()
        .test_client()
        .post(
            "/crm/events",
            data=raw,
            content_type="application/json",
            headers={"X-Calsync-Signature": f"t={at},v1={signature}"},
        )
    )
    assert response.status_code == 202, response.get_data(as_text=True)


def _written(world: World) -> bool:
    with world.container.engine.connect() as conn:
        state = conn.execute(
            sa.select(appointments.c.sync_state).where(appointments.c.crm_id == "crm-1")
        ).scalar()
    return state == "synced"


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
        args=(
            world.container.workers(["sync", "connections", "crm", "outbox-relay", "writeback"]),
        ),
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

        # And the CRM saves an appointment, which is written to the calendar
        _save_in_crm(world)
        deadline = time.monotonic() + 20
        while not _written(world) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _written(world)
    finally:
        stop.set()
        workers.join(timeout=15)

    # Then the log tells the story...
    text = log_text.getvalue()
    assert '"calendar connected"' in text
    assert '"sync finished"' in text
    assert '"appointment written to the calendar"' in text
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
