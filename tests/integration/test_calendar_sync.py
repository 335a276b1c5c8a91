"""The sync engine against the sandbox providers, through the real client libraries.

From a hint to the appointments the CRM shows: the article's scenarios on Google and on
Microsoft, invitations from strangers (R17), one meeting in two calendars (R15), replays,
cancellations, expired cursors, revoked grants and coalesced hints.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from adapters.broker.envelope import Envelope
from adapters.calendar.errors import ProviderUnavailable
from adapters.calendar.stored import StoredTokens
from adapters.crypto import TokenCipher
from adapters.directory_file import parse_directory
from adapters.sql.appointments import AppointmentFilter, AppointmentRecord, SqlAppointments
from adapters.sql.connection_status import SqlConnectionStatus
from adapters.sql.connections import SqlConnections
from adapters.sql.directory import SqlDirectory
from adapters.sql.tables import event_links
from domain.model import Provider
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.factories import article_directory
from tests.support.calendar_sandbox import Harness, harness_for
from workers.base import MessageContext
from workers.calendar_sync import CalendarSyncer, SyncOutcome
from workers.errors import Retriable
from workers.sync import SyncHandler

KARL = "karl.andersson@exempel.se"
LUCAS = "lucas@gbg.exempel.se"
#: The connection is made on this day; the window runs three months from it (R9).
CONNECTED = datetime(2026, 11, 23, 8, tzinfo=UTC)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with SandboxServer() as server:
            yield server


@pytest.fixture(params=[Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "microsoft"])
def harness(request: pytest.FixtureRequest, sandbox: SandboxServer) -> Iterator[Harness]:
    url = sandbox.google_url if request.param is Provider.GOOGLE else sandbox.graph_url
    admin = SandboxAdminClient(url)
    admin.reset()
    made = harness_for(request.param, sandbox, admin)
    yield made
    made.close()


class World:
    """A store, a sandbox calendar per user, and a syncer, wired like production."""

    def __init__(self, store: sa.Engine, harness: Harness, *, with_lucas: bool = False) -> None:
        self.store, self.harness = store, harness
        SqlDirectory(store).load(parse_directory(article_directory(with_lucas=with_lucas)))
        self.connections = SqlConnections(store, TokenCipher("test-key"))
        self.people: dict[str, dict[str, Any]] = {}
        self.connection_ids: dict[str, str] = {}
        self.syncer = self.new_syncer()

    def connect(self, user_id: str, email: str) -> str:
        person = self.harness.create_user(email, time_zone="Europe/Stockholm")
        self.people[user_id] = person
        record = self.connections.connect(
            "exempel",
            user_id,
            self.harness.provider.value,
            StoredTokens(person["refresh_token"]).dump(),
            appointment_type_id="type-meeting",
            now=CONNECTED,
        )
        self.connection_ids[user_id] = record.id
        return record.id

    def new_syncer(self, now: datetime = CONNECTED) -> CalendarSyncer:
        source = self.harness.source()
        return CalendarSyncer(
            engine=self.store,
            connections=self.connections,
            directory=SqlDirectory(self.store),
            source_for=lambda _provider: source,
            credentials_for=lambda record, stored: self.harness.credentials(
                self.people[record.user_id], stored.refresh_token
            ),
            clock=lambda: now,
        )

    def meeting(
        self,
        user_id: str,
        subject: str,
        *,
        organizer: str | None = None,
        attendees: tuple[str, ...] = (),
        day: int = 2,
        **fields: Any,
    ) -> dict[str, Any]:
        body = self.harness.timed(day, 9, subject, month=12, **fields)
        google = self.harness.provider is Provider.GOOGLE
        if google:
            body["attendees"] = [{"email": a} for a in attendees]
            if organizer:
                body["organizer"] = {"email": organizer}
        else:
            body["attendees"] = [
                {"emailAddress": {"address": a}, "type": "required"} for a in attendees
            ]
            if organizer:
                body["organizer"] = {"emailAddress": {"address": organizer}}
        return self.harness.admin.create_event(self.people[user_id]["email"], body)

    def sync(self, user_id: str, message_id: str = "hint-1") -> SyncOutcome:
        return self.syncer.handle_hint(self.connection_ids[user_id], message_id)

    def appointments(self) -> list[AppointmentRecord]:
        return SqlAppointments(self.store).list("exempel", AppointmentFilter(limit=1000))


def people(record: AppointmentRecord) -> dict[str, str]:
    return {p.email: p.kind for p in record.participants}


def test_scenario_1_external_invites_karl_and_johanna(store: sa.Engine, harness: Harness) -> None:
    # Given Karl's connected calendar and an invitation from outside to him and Johanna
    world = World(store, harness)
    world.connect("karl", KARL)
    world.meeting(
        "karl",
        "Offer review",
        organizer="boss@kund.se",
        attendees=("karl@exempel.se", "johanna.svennson@exempel.se", "boss@kund.se"),
    )

    # When the hint is processed
    provider = harness.provider.value
    created_before = _metric("calsync_events_applied_total", provider=provider, kind="create")
    runs_before = _metric("calsync_sync_runs_finished_total", provider=provider, kind="full")
    assert world.sync("karl") is SyncOutcome.SYNCED

    # Then it is on Karl's calendar (R2, R17), without Johanna (R4), with the inviter (R5)
    (appointment,) = world.appointments()
    assert people(appointment) == {"karl@exempel.se": "user", "boss@kund.se": "external"}
    assert appointment.organizer_email == "boss@kund.se"
    assert appointment.appointment_type_id == "type-meeting"
    assert [(link.user_id, link.gone) for link in appointment.links] == [("karl", False)]
    # And the metrics count one full run and one event created, for this provider
    created = _metric("calsync_events_applied_total", provider=provider, kind="create")
    assert created == created_before + 1
    runs = _metric("calsync_sync_runs_finished_total", provider=provider, kind="full")
    assert runs == runs_before + 1


def test_scenario_2_johanna_at_gbg_is_external(store: sa.Engine, harness: Harness) -> None:
    world = World(store, harness)
    world.connect("karl", KARL)
    world.meeting("karl", "Lunch", attendees=("johanna@gbg.exempel.se",))

    world.sync("karl")

    (appointment,) = world.appointments()
    assert people(appointment)["johanna@gbg.exempel.se"] == "external"


def test_scenario_3_lucas_makes_johanna_a_colleague_so_nothing_syncs(
    store: sa.Engine, harness: Harness
) -> None:
    world = World(store, harness, with_lucas=True)
    world.connect("karl", KARL)
    world.meeting("karl", "Lunch", attendees=("johanna@gbg.exempel.se",))

    world.sync("karl")

    assert world.appointments() == []


def test_r17_a_strangers_invitation_syncs_with_a_contact_company(
    store: sa.Engine, harness: Harness
) -> None:
    world = World(store, harness)
    world.connect("karl", KARL)
    world.meeting(
        "karl",
        "Demo",
        organizer="stranger@nowhere.example",
        attendees=("karl@exempel.se", "eva@kund.se", "stranger@nowhere.example"),
    )

    world.sync("karl")

    (appointment,) = world.appointments()
    assert people(appointment) == {
        "stranger@nowhere.example": "external",
        "karl@exempel.se": "user",
        "eva@kund.se": "contact",
    }
    assert appointment.company_id == "kund"  # R18: the first contact's company


def test_replaying_hints_changes_nothing_and_edits_flow_in(
    store: sa.Engine, harness: Harness
) -> None:
    world = World(store, harness)
    world.connect("karl", KARL)
    event = world.meeting("karl", "Kick-off", attendees=("eva@kund.se",))
    world.sync("karl", "hint-1")
    first = world.appointments()

    world.sync("karl", "hint-1")  # the same hint again
    world.sync("karl", "hint-2")  # nothing changed since
    assert world.appointments() == first

    world.harness.rename(world.people["karl"], event["id"], "Kick-off (moved)")
    world.sync("karl", "hint-3")
    (appointment,) = world.appointments()
    assert appointment.id == first[0].id
    assert appointment.subject == "Kick-off (moved)"


def test_r13_a_deleted_event_leaves_the_appointment_marked_gone(
    store: sa.Engine, harness: Harness
) -> None:
    world = World(store, harness)
    world.connect("karl", KARL)
    event = world.meeting("karl", "Call", attendees=("eva@kund.se",))
    world.sync("karl")

    world.harness.admin.delete_event(world.people["karl"]["email"], event["id"])
    world.sync("karl", "hint-2")

    (appointment,) = world.appointments()
    assert [link.gone for link in appointment.links] == [True]


def test_expired_cursor_resyncs_without_duplicates(store: sa.Engine, harness: Harness) -> None:
    world = World(store, harness)
    world.connect("karl", KARL)
    world.meeting("karl", "One", attendees=("eva@kund.se",))
    world.sync("karl")
    world.meeting("karl", "Two", attendees=("eva@kund.se",), day=3)

    world.harness.admin.expire_sync_tokens()
    assert world.sync("karl", "hint-2") is SyncOutcome.SYNCED

    assert sorted(a.subject for a in world.appointments()) == ["One", "Two"]
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(event_links)).scalar() == 2


def test_revoked_grant_marks_the_connection_for_reconnection(
    store: sa.Engine, harness: Harness
) -> None:
    world = World(store, harness)
    connection_id = world.connect("karl", KARL)
    world.harness.admin.revoke_refresh_tokens(user=world.people["karl"]["email"])
    provider = harness.provider.value
    refused_before = _metric(
        "calsync_provider_errors_total", provider=provider, code="invalid_grant"
    )

    assert world.sync("karl") is SyncOutcome.NEEDS_RECONNECT
    refused = _metric("calsync_provider_errors_total", provider=provider, code="invalid_grant")
    assert refused == refused_before + 1
    assert world.sync("karl", "hint-2") is SyncOutcome.INACTIVE  # no retry storm

    record = world.connections.get(connection_id)
    assert record is not None
    assert record.status == "needs_reconnect"


def test_a_connection_whose_syncs_fail_shows_failing_until_one_succeeds(
    store: sa.Engine, harness: Harness
) -> None:
    # Given Karl's connection synced once, with a meeting in his calendar
    world = World(store, harness)
    world.connect("karl", KARL)
    world.meeting("karl", "Offer review", attendees=(KARL, "eva@kund.se"))
    assert world.sync("karl") is SyncOutcome.SYNCED
    shown = SqlConnectionStatus(store)
    synced = shown.for_user("exempel", "karl")
    assert synced is not None
    assert synced.status == "active"
    assert synced.last_error is None

    # When the provider stays down through every retry of the next sync
    harness.admin.fail_next(500, count=50, path=harness.list_path)
    with pytest.raises(ProviderUnavailable):
        world.sync("karl", "hint-2")

    # Then the connection shows it: failing, why, and when a sync last succeeded
    failing = shown.for_user("exempel", "karl")
    assert failing is not None
    assert failing.status == "failing"
    assert failing.last_error is not None
    assert "ProviderUnavailable" in failing.last_error
    assert failing.last_synced_at == synced.last_synced_at

    # And the next sync that succeeds clears it
    harness.admin.clear_faults()
    assert world.sync("karl", "hint-3") is SyncOutcome.SYNCED
    healed = shown.for_user("exempel", "karl")
    assert healed is not None
    assert (healed.status, healed.last_error) == ("active", None)


def test_a_held_connection_coalesces_hints(store: sa.Engine, harness: Harness) -> None:
    world = World(store, harness)
    connection_id = world.connect("karl", KARL)
    world.meeting("karl", "Call", attendees=("eva@kund.se",))
    other = world.new_syncer()
    generation = world.connections.acquire_lease(
        connection_id, "someone-else", timedelta(seconds=60)
    )
    assert generation is not None

    assert other.handle_hint(connection_id, "hint-x") is SyncOutcome.COALESCED
    assert world.appointments() == []  # the holder will sync, not us
    assert world.connections.stalled() == []  # the lease is live, nothing is stuck


def test_r14_a_past_meeting_keeps_its_time_when_the_calendar_moves_it(
    store: sa.Engine, harness: Harness
) -> None:
    # Given a meeting on 2 December, synced
    world = World(store, harness)
    world.connect("karl", KARL)
    event = world.meeting("karl", "Review", attendees=("eva@kund.se",))
    world.sync("karl")
    (before,) = world.appointments()

    # When, after it has ended, the calendar moves it a day later and renames it
    moved = harness.timed(3, 9, "Review, moved", month=12)
    changes = {"start": moved["start"], "end": moved["end"]}
    changes["summary" if harness.provider is Provider.GOOGLE else "subject"] = "Review (done)"
    harness.admin.update_event(world.people["karl"]["email"], event["id"], changes)
    later = world.new_syncer(now=datetime(2026, 12, 10, tzinfo=UTC))
    later.handle_hint(world.connection_ids["karl"], "after-the-meeting")

    # Then the appointment keeps its date and time (R14) but takes the other change
    (after,) = world.appointments()
    assert (after.start_at, after.end_at) == (before.start_at, before.end_at)
    assert after.subject == "Review (done)"


def test_r19_a_copy_in_the_same_calendar_is_a_new_appointment(
    store: sa.Engine, harness: Harness
) -> None:
    if harness.provider is Provider.MICROSOFT:
        pytest.skip("Graph assigns iCalUId itself; the Graph sandbox cannot make a copy")
    # Given a synced meeting in Karl's calendar
    world = World(store, harness)
    world.connect("karl", KARL)
    world.meeting("karl", "Workshop", attendees=("eva@kund.se",), iCalUID="workshop-1@kund.se")
    world.sync("karl")

    # When Karl copies it within his calendar: a new event id with the same iCalUID
    world.meeting(
        "karl", "Workshop", attendees=("eva@kund.se",), day=9, iCalUID="workshop-1@kund.se"
    )
    world.sync("karl", "after-the-copy")

    # Then the copy is a meeting of its own, not an update of the first (R19)
    appointments = world.appointments()
    assert len(appointments) == 2
    assert sorted(a.start_at.day for a in appointments if a.start_at) == [2, 9]


def test_hints_received_before_a_finished_sync_started_are_covered_without_a_call(
    store: sa.Engine, harness: Harness
) -> None:
    # Given hints queued while a first sync ran (received before it started)
    world = World(store, harness)
    connection_id = world.connect("karl", KARL)
    world.meeting("karl", "Call", attendees=("eva@kund.se",))
    queued_at = CONNECTED - timedelta(seconds=5)  # by the syncer's clock, which says CONNECTED
    assert world.syncer.handle_hint(connection_id, "first", queued_at) is SyncOutcome.SYNCED
    harness.admin.clear_requests()

    # When the queued hints are consumed after it finished
    outcomes = {world.syncer.handle_hint(connection_id, f"queued-{n}", queued_at) for n in range(5)}

    # Then they are acknowledged without reading the calendar again
    assert outcomes == {SyncOutcome.COVERED}
    assert [r for r in harness.admin.requests() if re.search(harness.list_path, r["path"])] == []

    # But a hint received after that sync started still syncs, and finds the new meeting
    world.meeting("karl", "Later call", attendees=("eva@kund.se",), day=3)
    later = CONNECTED + timedelta(minutes=1)
    assert world.syncer.handle_hint(connection_id, "later", later) is SyncOutcome.SYNCED
    assert {a.subject for a in world.appointments()} == {"Call", "Later call"}


def test_r15_one_meeting_in_two_calendars_is_one_appointment(
    store: sa.Engine, sandbox: SandboxServer
) -> None:
    admin = SandboxAdminClient(sandbox.google_url)
    admin.reset()
    harness = harness_for(Provider.GOOGLE, sandbox, admin)
    world = World(store, harness, with_lucas=True)
    world.connect("karl", KARL)
    world.connect("lucas", LUCAS)
    shared = {"iCalUID": "board-meeting@exempel.se"}
    attendees = ("karl@exempel.se", "lucas@gbg.exempel.se", "eva@kund.se")
    world.meeting("karl", "Board", organizer="eva@kund.se", attendees=attendees, **shared)
    world.meeting("lucas", "Board", organizer="eva@kund.se", attendees=attendees, **shared)

    world.sync("karl")
    world.sync("lucas")

    (appointment,) = world.appointments()
    assert {p.user_id for p in appointment.participants if p.kind == "user"} == {"karl", "lucas"}
    assert sorted(link.user_id for link in appointment.links) == ["karl", "lucas"]
    harness.close()


def test_a_redelivered_hint_for_a_held_connection_is_retried_not_dropped(
    store: sa.Engine, harness: Harness
) -> None:
    # Given a connection whose lease is held, perhaps by a worker that crashed mid-sync
    world = World(store, harness)
    connection_id = world.connect("karl", KARL)
    world.connections.acquire_lease(connection_id, "crashed-worker", timedelta(seconds=60))
    handler = SyncHandler(world.new_syncer())
    hint = Envelope(type="google.notification", payload={}, connection_id=connection_id)

    def context(redelivered: bool, attempt: int = 1) -> MessageContext:
        return MessageContext(
            queue="sync", attempt=attempt, max_attempts=6, redelivered=redelivered, headers={}
        )

    # When a fresh hint arrives, it is coalesced and acked (the holder will sync)
    handler.handle(hint, context(redelivered=False))

    # Then a redelivered one goes back through the retry queues instead
    with pytest.raises(Retriable, match="retrying later"):
        handler.handle(hint, context(redelivered=True))
    # And so do its retry copies, which come back without the redelivered flag
    with pytest.raises(Retriable, match="retrying later"):
        handler.handle(hint, context(redelivered=False, attempt=2))
    # Until the last attempt, acked: by then a dead holder's lease has long run out
    handler.handle(hint, context(redelivered=False, attempt=6))


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0
