"""CRM saves to the calendar and back: ingest -> crm worker -> outbox relay -> write-back
worker -> sandbox provider -> notification -> sync worker -> read API (R13, R14, R20-R27).

Every test runs on the Google and the Microsoft sandbox through the real
google-api-python-client and msgraph-sdk, with RabbitMQ; what it checks is what the read
API answers, what the sandbox's calendar holds, its sent-mail log (recipient by recipient)
and its request log.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.broker.envelope import Envelope
from adapters.calendar.source import Credentials
from adapters.calendar.writes import CalendarWriter, EventDraft, WrittenEvent
from adapters.sql.tables import outbox
from domain.model import Provider
from domain.schedule import PAST_RESCHEDULE_MESSAGE
from infra.sandbox.server import SandboxServer
from tests.support.dates import days_ahead
from tests.support.pipeline import Pipeline
from workers.base import MessageContext
from workers.errors import Permanent
from workers.writeback import WritebackHandler
from workers.writeback_waiting import WaitingWrites

EVA = "eva@kund.se"  # a contact of Kund AB in the article's directory
GUEST = "guest@elsewhere.example"
ROOM = "stora@exempel.se"
#: Three days ahead, so R14 never finds the appointments past.
START = days_ahead(3, hour=9)
#: Provider requests that write an event (a regex-free test on method and path).
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
QUEUES = ["sync", "crm", "writeback", "outbox-relay"]


@pytest.fixture
def pipeline(
    provider: Provider, tmp_path: Path, broker_url: str, sandbox: SandboxServer
) -> Iterator[Pipeline]:
    made = Pipeline(tmp_path, broker_url, sandbox, provider, with_lucas=True, queues=QUEUES)
    made.admin.create_room(ROOM, "Stora rummet", capacity=12)
    made.admin.clear_requests()
    yield made
    made.close()


def save(pipeline: Pipeline, crm_id: str, **fields: Any) -> str:
    """Post ``appointment.saved`` for Karl's appointment ``crm_id``; the CRM event id."""
    data: dict[str, Any] = {
        "id": crm_id,
        "organizer_user_id": "karl",
        "subject": "Demo for Kund AB",
        "description": "Walk through the offer.",
        "agenda": "1. Prices\n2. Delivery",
        "location": "",
        "start": START.isoformat(),
        "end": (START + timedelta(hours=1)).isoformat(),
        "time_zone": "Europe/Stockholm",
        "user_ids": [],
        "contact_ids": ["eva"],
        "emails": [GUEST],
        "room_emails": [],
        "video": None,
        "invite": True,
    }
    data.update(fields)
    return pipeline.crm("appointment.saved", data)


def written(pipeline: Pipeline, crm_id: str, state: str = "synced") -> dict[str, Any]:
    """The appointment the CRM calls ``crm_id``, once its sync state is ``state``."""

    def find() -> dict[str, Any] | None:
        for item in pipeline.appointments():
            if item["crm_id"] == crm_id:
                return pipeline.appointment(item["id"])
        return None

    found = pipeline.poll(find, lambda a: a is not None and a["sync"]["state"] == state)
    assert found is not None, f"appointment {crm_id} never stored"
    assert found["sync"]["state"] == state, found["sync"]
    return found


def rewritten(pipeline: Pipeline, crm_id: str, writes_before: int) -> dict[str, Any]:
    """The appointment once the provider got a write more than ``writes_before``."""
    pipeline.poll(lambda: provider_writes(pipeline), lambda w: len(w) > writes_before)
    return written(pipeline, crm_id)


def events(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Karl's sandbox calendar (live events only)."""
    found = pipeline.admin.events(pipeline.karl["email"])
    return [e for e in found if e.get("status") != "cancelled" and not e.get("isCancelled")]


def the_event(pipeline: Pipeline) -> dict[str, Any]:
    (event,) = events(pipeline)
    return event


def people_on(pipeline: Pipeline, event: dict[str, Any]) -> set[str]:
    """The event's attendees that are people (not rooms, not Karl himself)."""
    karl = pipeline.karl["email"].lower()
    if pipeline.provider is Provider.GOOGLE:
        return {
            a["email"].lower()
            for a in event.get("attendees") or []
            if not a.get("resource") and a["email"].lower() != karl
        }
    return {
        a["emailAddress"]["address"].lower()
        for a in event.get("attendees") or []
        if a.get("type") != "resource" and a["emailAddress"]["address"].lower() != karl
    }


def rooms_on(pipeline: Pipeline, event: dict[str, Any]) -> set[str]:
    if pipeline.provider is Provider.GOOGLE:
        return {a["email"] for a in event.get("attendees") or [] if a.get("resource")}
    return {
        a["emailAddress"]["address"]
        for a in event.get("attendees") or []
        if a.get("type") == "resource"
    }


def mail_to(pipeline: Pipeline, recipient: str) -> list[str]:
    """The kinds of mail the provider sent ``recipient``, in order."""
    return [m["kind"] for m in pipeline.admin.invitations(recipient)]


def provider_writes(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Requests to the provider's calendar API that change an event."""
    return [
        r
        for r in pipeline.admin.requests()
        if r["method"] in WRITES and "/events" in r["path"] and "/admin/" not in r["path"]
    ]


def test_r20_save_and_invite_writes_the_event_and_mails_each_participant(
    pipeline: Pipeline,
) -> None:
    # When Karl saves an appointment with Eva (a contact) and a guest, and invites them
    save(pipeline, "crm-1")

    # Then it is in his calendar once, with both of them, the agenda in the text
    appointment = written(pipeline, "crm-1")
    event = the_event(pipeline)
    assert people_on(pipeline, event) == {EVA, GUEST}
    text = event.get("description") or event["body"]["content"]
    assert "Walk through the offer." in text
    assert "1. Prices" in text
    # And each participant got exactly one invitation; Karl, the organizer, none
    assert mail_to(pipeline, EVA) == ["invitation"]
    assert mail_to(pipeline, GUEST) == ["invitation"]
    assert mail_to(pipeline, pipeline.karl["email"]) == []
    # And the appointment is linked to the event it wrote
    assert [(link["provider"], link["user_id"]) for link in appointment["links"]] == [
        (pipeline.provider.value, "karl")
    ]
    assert appointment["links"][0]["event_id"] == event["id"]


def test_r21_save_without_inviting_then_invite_later(pipeline: Pipeline) -> None:
    # When Karl saves without inviting
    save(pipeline, "crm-2", invite=False)

    # Then the event is in his calendar and nobody got mail; the participants stay on the
    # CRM appointment
    appointment = written(pipeline, "crm-2")
    event = the_event(pipeline)
    assert mail_to(pipeline, EVA) == []
    assert mail_to(pipeline, GUEST) == []
    assert {p["email"] for p in appointment["participants"]} >= {EVA, GUEST}
    if pipeline.provider is Provider.MICROSOFT:
        assert people_on(pipeline, event) == set()  # Graph would mail anyone listed

    # When he later saves it again and invites them
    writes = len(provider_writes(pipeline))
    save(pipeline, "crm-2", invite=True)
    rewritten(pipeline, "crm-2", writes)

    # Then each of them gets one message now, and the event is still the one event
    expected = "update" if pipeline.provider is Provider.GOOGLE else "invitation"
    assert pipeline.poll(lambda: mail_to(pipeline, GUEST), bool) == [expected]
    assert mail_to(pipeline, EVA) == [expected]
    assert people_on(pipeline, the_event(pipeline)) == {EVA, GUEST}


def test_r22_the_providers_video_link_is_stored_on_the_appointment(
    pipeline: Pipeline,
) -> None:
    video = "meet" if pipeline.provider is Provider.GOOGLE else "teams"
    save(pipeline, "crm-3", video=video)

    appointment = written(pipeline, "crm-3")
    event = the_event(pipeline)
    if pipeline.provider is Provider.GOOGLE:
        assert appointment["video_url"] == event["hangoutLink"]
        assert appointment["video_url"].startswith("https://meet.google.com/")
    else:
        assert appointment["video_url"] == event["onlineMeeting"]["joinUrl"]
        assert appointment["video_url"].startswith("https://teams.microsoft.com/")


def test_r23_a_room_chosen_in_the_crm_is_booked_as_a_resource(pipeline: Pipeline) -> None:
    save(pipeline, "crm-4", room_emails=[ROOM])

    appointment = written(pipeline, "crm-4")

    assert rooms_on(pipeline, the_event(pipeline)) == {ROOM}
    assert [room["email"] for room in appointment["rooms"]] == [ROOM]


def test_r24_someone_added_in_the_calendar_stays_and_gets_the_update(
    pipeline: Pipeline,
) -> None:
    # Given an appointment written with invitations, and a person added in the calendar
    save(pipeline, "crm-5")
    written(pipeline, "crm-5")
    added = "added@partner.example"
    add_attendee(pipeline, the_event(pipeline), added)

    # When Karl moves it in the CRM and drops the guest
    writes = len(provider_writes(pipeline))
    save(
        pipeline,
        "crm-5",
        emails=[],
        start=(START + timedelta(hours=2)).isoformat(),
        end=(START + timedelta(hours=3)).isoformat(),
    )
    rewritten(pipeline, "crm-5", writes)

    # Then the person added in the calendar is still there and was told; the guest the CRM
    # removed is gone and was told so
    event = the_event(pipeline)
    assert people_on(pipeline, event) == {EVA, added}
    assert mail_to(pipeline, added)[-1] == "update"
    assert mail_to(pipeline, GUEST)[0] == "invitation"
    assert mail_to(pipeline, GUEST)[-1] == "cancellation"


def test_r23_r24_a_room_booked_in_the_calendar_stays_through_crm_saves(
    pipeline: Pipeline,
) -> None:
    # Given an appointment written in the big room, and a second room added in the calendar
    small = "lilla@exempel.se"
    pipeline.admin.create_room(small, "Lilla rummet", capacity=4)
    save(pipeline, "crm-14", room_emails=[ROOM])
    written(pipeline, "crm-14")
    add_attendee(pipeline, the_event(pipeline), small, room=True)

    # When Karl moves it in the CRM, which lists the big room only
    writes = len(provider_writes(pipeline))
    later = START + timedelta(hours=2)
    moved = {"start": later.isoformat(), "end": (later + timedelta(hours=1)).isoformat()}
    save(pipeline, "crm-14", room_emails=[ROOM], **moved)
    rewritten(pipeline, "crm-14", writes)

    # Then both rooms stay booked
    assert rooms_on(pipeline, the_event(pipeline)) == {ROOM, small}

    # When Karl then takes the big room off in the CRM
    writes = len(provider_writes(pipeline))
    save(pipeline, "crm-14", room_emails=[], **moved)
    rewritten(pipeline, "crm-14", writes)

    # Then the big room, which we booked, is released; the one booked in the calendar stays
    assert rooms_on(pipeline, the_event(pipeline)) == {small}


def test_r14_moving_a_past_appointment_is_refused_and_shown(pipeline: Pipeline) -> None:
    # Given an appointment that has already taken place, written to the calendar
    past = datetime.now(UTC) - timedelta(days=2)
    save(pipeline, "crm-6", start=past.isoformat(), end=(past + timedelta(hours=1)).isoformat())
    written(pipeline, "crm-6")
    writes = len(provider_writes(pipeline))

    # When the CRM tries to move it
    save(
        pipeline,
        "crm-6",
        start=datetime.now(UTC).isoformat(),
        end=(datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    )

    # Then the save is refused with its reason on the appointment, and the calendar untouched
    refused = written(pipeline, "crm-6", state="refused")
    assert refused["sync"]["error"] == PAST_RESCHEDULE_MESSAGE
    assert len(provider_writes(pipeline)) == writes


def test_r25_our_own_writes_notification_changes_nothing_and_writes_nothing(
    pipeline: Pipeline,
) -> None:
    # Given an appointment written to the calendar
    save(pipeline, "crm-7", invite=False)
    before = written(pipeline, "crm-7")
    writes = provider_writes(pipeline)

    # When the provider notifies us of that very write and the sync reads it
    assert pipeline.notify() in {200, 202}
    pipeline.synced("karl")

    # Then the appointment is as the CRM saved it, and nothing went back to the provider
    after = written(pipeline, "crm-7")
    assert after == before
    assert provider_writes(pipeline) == writes

    # And a save that changes nothing the calendar shows calls no provider at all
    pipeline.admin.clear_requests()
    save(pipeline, "crm-7", invite=False, outcome="won")
    pipeline.poll(lambda: written(pipeline, "crm-7")["outcome"], lambda o: o == "won")
    assert provider_writes(pipeline) == []


def test_r13_deleting_in_the_crm_leaves_the_event(pipeline: Pipeline) -> None:
    save(pipeline, "crm-8")
    written(pipeline, "crm-8")

    pipeline.crm("appointment.deleted", {"id": "crm-8"})
    pipeline.admin.clear_requests()
    save(pipeline, "crm-9", subject="A later save, to know the first was handled")
    written(pipeline, "crm-9")

    assert len(events(pipeline)) == 2
    assert [r["method"] for r in provider_writes(pipeline)] == ["POST"]


def test_r27_appointments_made_before_the_connection_are_written_without_attendees(
    pipeline: Pipeline,
) -> None:
    # Given Lucas saves an appointment with Eva before he has connected a calendar
    save(pipeline, "crm-10", organizer_user_id="lucas")
    waiting = written(pipeline, "crm-10", state="not_connected")
    assert "connected calendar" in waiting["sync"]["error"]

    # When he connects, and the scheduler's job looks at waiting writes
    lucas = pipeline.connect("lucas", "lucas@gbg.exempel.se")
    assert WaitingWrites(pipeline.container.engine).run(datetime.now(UTC)) == 1

    # Then it is written to his calendar, without attendees and without invitations
    written(pipeline, "crm-10")
    (event,) = [
        e
        for e in pipeline.admin.events(lucas.email)
        if e.get("status") != "cancelled" and not e.get("isCancelled")
    ]
    assert people_on(pipeline, event) == set()
    assert mail_to(pipeline, EVA) == []


def add_attendee(
    pipeline: Pipeline, event: dict[str, Any], email: str, *, room: bool = False
) -> None:
    """Add ``email`` (a person, or a room) to the event in the calendar, as Karl would in
    Google or Outlook."""
    karl = pipeline.karl["email"]
    if pipeline.provider is Provider.GOOGLE:
        attendees = [*event.get("attendees", []), {"email": email, "resource": room}]
        pipeline.admin.update_event(karl, event["id"], {"attendees": attendees})
    else:
        attendees = [
            *event.get("attendees", []),
            {"emailAddress": {"address": email}, "type": "resource" if room else "required"},
        ]
        pipeline.admin.update_event(karl, event["id"], {"attendees": attendees})


# -- crashes, races and loops ---------------------------------------------------------------


class SimulatedCrash(Exception):
    """The worker process dying after the provider answered, before our commit."""


class CrashAfterWriting:
    """A real writer whose process "dies" right after each call reached the provider."""

    def __init__(self, writer: CalendarWriter) -> None:
        self._writer = writer

    def create(self, credentials: Credentials, draft: EventDraft) -> WrittenEvent:
        self._writer.create(credentials, draft)
        raise SimulatedCrash

    def update(
        self,
        credentials: Credentials,
        event_id: str,
        draft: EventDraft,
        previously_written: tuple[str, ...],
        rooms_written: tuple[str, ...] | None = None,
    ) -> WrittenEvent:
        self._writer.update(credentials, event_id, draft, previously_written, rooms_written)
        raise SimulatedCrash

    def close(self) -> None:
        self._writer.close()


@pytest.fixture
def crm_only(
    provider: Provider, tmp_path: Path, broker_url: str, sandbox: SandboxServer
) -> Iterator[Pipeline]:
    """The pipeline with the sync and CRM workers but no relay: write requests stay in the
    outbox for the test to hand to a write-back handler of its own."""
    made = Pipeline(tmp_path, broker_url, sandbox, provider, queues=["sync", "crm"])
    yield made
    made.close()


def write_request(pipeline: Pipeline, crm_id: str) -> Envelope:
    """The latest write request the CRM worker put in the outbox for ``crm_id``."""
    appointment = written(pipeline, crm_id, state="pending")
    with pipeline.container.engine.connect() as conn:
        body = conn.execute(
            sa.select(outbox.c.body)
            .where(outbox.c.ordering_key == f"appointment:{appointment['id']}")
            .order_by(outbox.c.id.desc())
        ).scalar_one()
    return Envelope.from_json(body)


def handler(pipeline: Pipeline, crash: bool = False) -> WritebackHandler:
    container = pipeline.container
    writers = container.calendar_writers
    return WritebackHandler(
        container.engine,
        container.connections,
        (lambda provider: CrashAfterWriting(writers(provider))) if crash else writers,
        container.credentials_for,
    )


CONTEXT = MessageContext(
    queue="writeback", attempt=1, max_attempts=6, redelivered=False, headers={}
)


def test_a_crash_between_the_provider_call_and_the_commit_is_replayed_without_a_duplicate(
    crm_only: Pipeline,
) -> None:
    pipeline = crm_only
    save(pipeline, "crm-20")
    request = write_request(pipeline, "crm-20")

    # Given the event reached the calendar, and the worker died before committing
    with pytest.raises(SimulatedCrash):
        handler(pipeline, crash=True).handle(request, CONTEXT)
    assert len(events(pipeline)) == 1
    assert written(pipeline, "crm-20", state="pending")["links"] == []

    # When the request is delivered again
    handler(pipeline).handle(request, CONTEXT)

    # Then there is still one event, now linked, and nobody was mailed twice
    appointment = written(pipeline, "crm-20")
    event = the_event(pipeline)
    assert [link["event_id"] for link in appointment["links"]] == [event["id"]]
    assert mail_to(pipeline, EVA) == ["invitation"]
    assert mail_to(pipeline, GUEST) == ["invitation"]


#: The create request of each provider's writer, for a fault that holds back its answer.
CREATE_PATH = {
    Provider.GOOGLE: r"/calendars/primary/events$",
    Provider.MICROSOFT: r"/calendar/events$",
}


@pytest.fixture
def without_writeback(
    provider: Provider, tmp_path: Path, broker_url: str, sandbox: SandboxServer
) -> Iterator[Pipeline]:
    """The pipeline with no write-back consumer: the test runs its own worker processes."""
    made = Pipeline(tmp_path, broker_url, sandbox, provider, queues=["sync", "crm", "outbox-relay"])
    yield made
    made.close()


def test_a_worker_killed_after_the_provider_made_the_event_leaves_one_event_and_one_mail_each(
    without_writeback: Pipeline, tmp_path: Path
) -> None:
    pipeline = without_writeback
    # Given a write-back worker process whose create call takes effect at the provider,
    # whose answer is then held back
    pipeline.admin.add_latency(10.0, count=1, path=CREATE_PATH[pipeline.provider], after=True)
    doomed = pipeline.worker_process("writeback", tmp_path / "doomed.log")

    # When Karl saves an appointment with invitations, and the worker is SIGKILLed once the
    # event exists in the calendar, before it heard back
    save(pipeline, "crm-30")
    pipeline.poll(lambda: events(pipeline), lambda found: len(found) == 1)
    doomed.kill()
    doomed.wait(timeout=10)
    pipeline.admin.clear_faults()
    assert written(pipeline, "crm-30", state="pending")["links"] == []
    assert mail_to(pipeline, EVA) == ["invitation"]

    # And a fresh worker starts
    survivor = pipeline.worker_process("writeback", tmp_path / "survivor.log")
    try:
        # Then the broker's redelivery completes the write: still one event, now linked,
        # and nobody was mailed twice
        appointment = written(pipeline, "crm-30")
    finally:
        survivor.terminate()
        survivor.wait(timeout=15)
    event = the_event(pipeline)
    assert [link["event_id"] for link in appointment["links"]] == [event["id"]]
    assert mail_to(pipeline, EVA) == ["invitation"]
    assert mail_to(pipeline, GUEST) == ["invitation"]


def test_r25_the_sync_reading_our_event_before_the_write_commits_joins_the_appointment(
    crm_only: Pipeline,
) -> None:
    pipeline = crm_only
    save(pipeline, "crm-21", invite=False)
    request = write_request(pipeline, "crm-21")
    with pytest.raises(SimulatedCrash):
        handler(pipeline, crash=True).handle(request, CONTEXT)
    before = written(pipeline, "crm-21", state="pending")

    # When the notification of that write is synced before the write is stored
    assert pipeline.notify() in {200, 202}
    pipeline.synced("karl")

    # Then the event joined the CRM's appointment: no second appointment, and what the CRM
    # saved (participants even where the calendar lists none, description, agenda) stays
    (joined,) = pipeline.appointments()
    assert joined["id"] == before["id"]
    assert [link["event_id"] for link in joined["links"]] == [the_event(pipeline)["id"]]
    for field in ("subject", "description", "agenda", "participants", "start", "end"):
        assert joined[field] == before[field], field

    # And the replayed write completes it, still with one event
    handler(pipeline).handle(request, CONTEXT)
    assert len(written(pipeline, "crm-21")["links"]) == 1
    assert len(events(pipeline)) == 1


def test_a_write_the_provider_refuses_is_shown_and_dead_lettered_not_retried(
    crm_only: Pipeline,
) -> None:
    pipeline = crm_only
    save(pipeline, "crm-22")
    request = write_request(pipeline, "crm-22")
    path = "/calendars/primary/events" if pipeline.provider is Provider.GOOGLE else "/events"
    pipeline.admin.fail_next(400, path=path, method="POST")

    with pytest.raises(Permanent, match="refused the write"):
        handler(pipeline).handle(request, CONTEXT)

    failed = written(pipeline, "crm-22", state="failed")
    assert failed["sync"]["error"]
    assert events(pipeline) == []
