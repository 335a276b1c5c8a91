"""Explanations (R36): every event a sync sees answers "synced, appointment X" or the rule
that kept it out, through ``GET /api/v1/users/{u}/events/{e}/explanation`` and
``calsync explain``, on both providers through the real client libraries and the sandboxes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from adapters.calendar.stored import StoredTokens
from adapters.crypto import TokenCipher
from adapters.directory_file import parse_directory
from adapters.sql.accounts import SqlAccounts
from adapters.sql.appointments import AppointmentFilter, SqlAppointments
from adapters.sql.channels import SqlChannels
from adapters.sql.connections import SqlConnections
from adapters.sql.directory import SqlDirectory
from adapters.sql.explanations import SqlExplanations
from adapters.sql.tables import event_explanations
from domain.model import Provider
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from ingest import create_app
from ingest.openapi_explanations import EXPLANATION
from ingest.ports import IngestPorts
from tests.factories import article_directory
from tests.fakes import RecordingPublisher
from tests.support.calendar_sandbox import Harness, harness_for
from workers.calendar_sync import CalendarSyncer

ROOT = Path(__file__).resolve().parents[2]
KARL = "karl.andersson@exempel.se"
#: The connection is made on this day; the window runs three months from it (R9).
CONNECTED = datetime(2026, 11, 23, 8, tzinfo=UTC)


@pytest.fixture(params=[Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "microsoft"])
def harness(request: pytest.FixtureRequest, sandbox: SandboxServer) -> Iterator[Harness]:
    url = sandbox.google_url if request.param is Provider.GOOGLE else sandbox.graph_url
    admin = SandboxAdminClient(url)
    admin.reset()
    made = harness_for(request.param, sandbox, admin)
    yield made
    made.close()


class World:
    """Karl's connected calendar, a syncer on a fixed clock, and the read API."""

    def __init__(self, store: sa.Engine, harness: Harness) -> None:
        self.store, self.harness = store, harness
        self.google = harness.provider is Provider.GOOGLE
        SqlDirectory(store).load(parse_directory(article_directory()))
        accounts = SqlAccounts(store)
        self.key, self.other_key = accounts.rotate_key("exempel"), accounts.create("other")
        self.karl = harness.create_user(KARL, time_zone="Europe/Stockholm")
        connections = SqlConnections(store, TokenCipher("test-key"))
        self.connection_id = connections.connect(
            "exempel",
            "karl",
            harness.provider.value,
            StoredTokens(self.karl["refresh_token"]).dump(),
            now=CONNECTED,
        ).id
        source = harness.source()
        self.syncer = CalendarSyncer(
            engine=store,
            connections=connections,
            directory=SqlDirectory(store),
            source_for=lambda _provider: source,
            credentials_for=lambda _record, stored: harness.credentials(
                self.karl, stored.refresh_token
            ),
            clock=lambda: CONNECTED,
        )
        self.client: FlaskClient = create_app(
            IngestPorts(
                accounts=accounts,
                appointments=SqlAppointments(store),
                publisher=RecordingPublisher(),
                channels=SqlChannels(store),
                crm_signing_secret="not-used-here",
                explanations=SqlExplanations(store),
            )
        ).test_client()

    def event(self, subject: str, *attendees: str, month: int = 12, **fields: Any) -> str:
        """A one-hour event on the 2nd of ``month`` 2026; its provider id."""
        body = self.harness.timed(2, 9, subject, month=month, **fields)
        if self.google:
            body["attendees"] = [{"email": a} for a in attendees]
        else:
            body["attendees"] = [
                {"emailAddress": {"address": a}, "type": "required"} for a in attendees
            ]
        return str(self.harness.admin.create_event(KARL, body)["id"])

    def sync(self, message_id: str = "hint-1") -> None:
        self.syncer.handle_hint(self.connection_id, message_id)

    def explain(self, event_id: str, user: str = "karl", key: str | None = None) -> Any:
        return self.client.get(
            f"/api/v1/users/{user}/events/{event_id}/explanation",
            headers={"Authorization": f"Bearer {key or self.key}"},
        )


@pytest.fixture
def world(store: sa.Engine, harness: Harness) -> World:
    return World(store, harness)


def calsync_explain(store: sa.Engine, tmp_path: Path, *arguments: str) -> Any:
    """``calsync explain`` in its own process against the test's store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    env.update(
        PYTHONPATH=str(ROOT),
        CALSYNC_DATABASE_URL=store.url.render_as_string(hide_password=False),
        CALSYNC_VAR_DIR=str(tmp_path / "var"),
        CALSYNC_LOG_FORMAT="json",
    )
    return subprocess.run(
        [sys.executable, "-c", "from infra.cli import main; main()", "explain", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_event_a_sync_sees_explains_itself_over_http_and_the_cli(
    world: World, store: sa.Engine, tmp_path: Path
) -> None:
    # Given Karl's calendar with a customer meeting, a colleagues-only meeting, a meeting
    # with nobody, and an absence that is no meeting (Google: eventType; Graph: showAs oof)
    synced = world.event("Offer review", "karl@exempel.se", "boss@kund.se")
    colleagues = world.event("Team lunch", "karl@exempel.se", "johanna.svennson@exempel.se")
    alone = world.event("Think")
    away: dict[str, Any] = {"eventType": "outOfOffice"} if world.google else {"showAs": "oof"}
    absence = world.event("Away", **away)

    # When the calendar is synced
    world.sync()

    # Then the read API says what became of each, as of that sync
    seen = (synced, colleagues, alone, absence)
    answers = {event_id: world.explain(event_id) for event_id in seen}
    assert {response.status_code for response in answers.values()} == {200}
    for response in answers.values():  # as /openapi.json documents them
        jsonschema.validate(response.get_json(), EXPLANATION)
    (appointment,) = SqlAppointments(store).list("exempel", AppointmentFilter(limit=100))
    assert answers[synced].get_json() == {
        "event_id": synced,
        "synced": True,
        "appointment_id": appointment.id,
        "rule": None,
        "reason": f"synced, appointment {appointment.id}",
        "seen_at": CONNECTED.isoformat(),
    }
    kept = {event_id: answers[event_id].get_json() for event_id in (colleagues, alone, absence)}
    assert {event_id: body["rule"] for event_id, body in kept.items()} == {
        colleagues: "R4",
        alone: "R7",
        absence: "R34",
    }
    assert kept[alone]["reason"] == "no participant besides the owner"
    assert kept[absence]["reason"] == "not a meeting: it marks the owner out of office"
    assert all(not body["synced"] and body["appointment_id"] is None for body in kept.values())

    # And calsync explain prints the same, as a sentence or as the JSON object
    printed = calsync_explain(store, tmp_path, "--account", "exempel", "--user", "karl", alone)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith(f"{alone}: kept out by R7: no participant besides the owner")
    for event_id in (synced, colleagues, absence):
        shown = calsync_explain(
            store, tmp_path, "--account", "exempel", "--user", "karl", "--json", event_id
        )
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout) == answers[event_id].get_json()


def test_an_event_outside_the_window_is_kept_out_by_r9(
    world: World, store: sa.Engine, tmp_path: Path
) -> None:
    if not world.google:
        pytest.skip("Graph's delta never reports an event outside the window (it is @removed)")
    # Given a first full sync, then a meeting in May 2026, before Karl connected
    world.sync()
    past = world.event("Old offer", "karl@exempel.se", "boss@kund.se", month=5)

    # When the next (incremental) sync sees it
    world.sync("hint-2")

    # Then R9 kept it out, over HTTP and on the command line
    body = world.explain(past).get_json()
    assert (body["synced"], body["rule"]) == (False, "R9")
    assert body["reason"].startswith("outside the sync window, which runs from 2026-11-23")
    printed = calsync_explain(store, tmp_path, "--account", "exempel", "--user", "karl", past)
    assert printed.returncode == 0, printed.stderr
    assert f"{past}: kept out by R9: outside the sync window" in printed.stdout


def test_a_kept_out_event_that_is_synced_or_deleted_leaves_no_row(
    world: World, store: sa.Engine
) -> None:
    # Given two meetings kept out by R7
    joined = world.event("Think")
    deleted = world.event("Plan")
    world.sync()
    assert _rows(store) == {joined, deleted}

    # When one gains a customer and the other is deleted
    attendee = (
        {"email": "boss@kund.se"}
        if world.google
        else {"emailAddress": {"address": "boss@kund.se"}, "type": "required"}
    )
    world.harness.admin.update_event(KARL, joined, {"attendees": [attendee]})
    world.harness.admin.delete_event(KARL, deleted)
    world.sync("hint-2")

    # Then the first is synced (its link answers) and the second was never seen since
    assert _rows(store) == set()
    assert world.explain(joined).get_json()["synced"] is True
    assert world.explain(deleted).status_code == 404


def test_unknown_events_users_and_other_accounts_are_404(world: World, store: sa.Engine) -> None:
    alone = world.event("Think")
    world.sync()

    unseen = world.explain("no-such-event")
    assert unseen.status_code == 404
    assert unseen.get_json()["error"]["code"] == "not_found"
    assert world.explain(alone, user="nobody").status_code == 404
    # Another account's key sees neither Karl nor his events
    assert world.explain(alone, key=world.other_key).status_code == 404
    assert world.explain(alone, key="wrong").status_code == 401


def test_calsync_explain_reports_an_unknown_event_or_user_in_one_line(
    store: sa.Engine, tmp_path: Path
) -> None:
    SqlDirectory(store).load(parse_directory(article_directory()))

    unseen = calsync_explain(store, tmp_path, "--account", "exempel", "--user", "karl", "e-1")
    nobody = calsync_explain(store, tmp_path, "--account", "other", "--user", "karl", "e-1")

    assert (unseen.returncode, unseen.stdout) == (1, "")
    assert unseen.stderr.strip().splitlines() == [
        "calsync: error: no sync of user 'karl''s calendar has seen event 'e-1'"
    ]
    assert nobody.returncode == 1
    assert nobody.stderr.strip() == "calsync: error: no user 'karl' in account 'other'"


def _rows(store: sa.Engine) -> set[str]:
    with store.connect() as conn:
        return set(conn.execute(sa.select(event_explanations.c.event_id)).scalars())
