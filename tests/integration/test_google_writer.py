"""``GoogleCalendarWriter`` through the real google-api-python-client against the Google
sandbox: invitations (R20, R21), Meet (R22), rooms (R23), attendees added in the calendar
(R24), our own write's version (R25), idempotent creates, deleted events and failures.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from adapters.calendar.errors import ProviderRejected
from adapters.calendar.google.mapping import google_event
from adapters.calendar.google.write import (
    GoogleCalendarWriter,
    conference_request_id,
    google_event_id,
)
from adapters.calendar.source import Credentials
from adapters.calendar.writes import APPOINTMENT_PROPERTY, EventDraft, EventGone
from domain.model import Provider
from domain.timing import AllDay, Timed
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.support.calendar_sandbox import QUICK_RETRY, harness_for

ANN = "ann@example.com"
BOB = "bob@customer.example"
CLEO = "cleo@customer.example"
DAVE = "dave@partner.example"
ROOM = "room-fjord@resource.example.com"

#: Calendar API requests (not token refreshes, not the admin API).
API_PATH = re.compile(r"/calendar/v3/")
EVENTS_PATH = "/calendar/v3/calendars/primary/events$"

Json = dict[str, Any]

#: An hour on 4 May 2026.
MAY_4 = Timed(datetime(2026, 5, 4, 8, tzinfo=UTC), datetime(2026, 5, 4, 9, tzinfo=UTC))


@pytest.fixture
def admin(admins: dict[Provider, SandboxAdminClient]) -> Iterator[SandboxAdminClient]:
    """The Google sandbox, emptied."""
    google = admins[Provider.GOOGLE]
    google.reset()
    yield google
    google.clear_faults()


@pytest.fixture
def credentials(sandbox: SandboxServer, admin: SandboxAdminClient) -> Credentials:
    """The grant of Ann, who has a calendar in Berlin time."""
    ann = admin.create_user(ANN, time_zone="Europe/Berlin")
    return harness_for(Provider.GOOGLE, sandbox, admin).credentials(ann)


@pytest.fixture
def writer() -> Iterator[GoogleCalendarWriter]:
    """A writer with quick retries."""
    made = GoogleCalendarWriter(retry=QUICK_RETRY)
    yield made
    made.close()


def draft(**changes: Any) -> EventDraft:
    """An hour with Bob and Cleo on 4 May 2026, invitations sent, no video, no room."""
    base = EventDraft(
        appointment_id=str(uuid.uuid4()),
        subject="Intro call",
        body="First talk.\n\nAgenda:\nPrices",
        location="Gothenburg office",
        timing=MAY_4,
        time_zone="Europe/Berlin",
        attendees=(BOB, CLEO),
        rooms=(),
        video=False,
        invite=True,
    )
    return replace(base, **changes)


def stored(admin: SandboxAdminClient, event_id: str) -> Json:
    """The event as the sandbox keeps it."""
    return next(e for e in admin.events(ANN) if e["id"] == event_id)


def emails(event: Json, *, resources: bool = False) -> list[str]:
    """The event's attendees other than the organizer: people, or rooms."""
    return [
        a["email"]
        for a in event.get("attendees") or []
        if not a.get("organizer") and bool(a.get("resource")) is resources
    ]


def mail(admin: SandboxAdminClient, recipient: str) -> list[tuple[str, str]]:
    """(kind, event id) of every message sent to ``recipient``."""
    return [(m["kind"], m["event_id"]) for m in admin.invitations(recipient)]


def api_calls(admin: SandboxAdminClient) -> int:
    """Calendar API requests that reached the sandbox."""
    return sum(1 for r in admin.requests() if API_PATH.search(r["path"]))


# --- R20 / R21: invitations --------------------------------------------------------------


def test_r20_save_and_invite_sends_one_invitation_per_attendee(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # When an appointment with Bob and Cleo is saved with invite
    written = writer.create(credentials, draft())

    # Then each of them gets exactly one invitation to the event, and the organizer none
    assert mail(admin, BOB) == [("invitation", written.event_id)]
    assert mail(admin, CLEO) == [("invitation", written.event_id)]
    assert mail(admin, ANN) == []
    assert written.attendees == (BOB, CLEO)
    # And the agenda is in the event's description, which the invitation shows
    assert "Agenda:\nPrices" in stored(admin, written.event_id)["description"]


def test_r21_save_without_invite_sends_no_invitation(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # When saved without invite
    written = writer.create(credentials, draft(invite=False))

    # Then nobody gets mail, and the people are on the event all the same
    assert admin.invitations() == []
    assert emails(stored(admin, written.event_id)) == [BOB, CLEO]


def test_r21_saving_later_with_invite_sends_the_invitations_then(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # Given an appointment saved without invite
    first = draft(invite=False)
    written = writer.create(credentials, first)

    # When it is saved again with invite
    writer.update(credentials, written.event_id, replace(first, invite=True), written.attendees)

    # Then each attendee gets one message about the event then (the sandbox, like Google,
    # calls mail to a guest already on the event an "update")
    for person in (BOB, CLEO):
        [(kind, event_id)] = mail(admin, person)
        assert event_id == written.event_id
        assert kind in ("invitation", "update")


def test_r21_an_update_without_invite_sends_nothing(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # Given an appointment saved without invite
    first = draft(invite=False)
    written = writer.create(credentials, first)

    # When it is moved and a person added, still without invite
    later = replace(first, location="Video", attendees=(BOB, CLEO, DAVE))
    again = writer.update(credentials, written.event_id, later, written.attendees)

    # Then nobody gets mail, and the event says what the CRM says
    assert admin.invitations() == []
    assert again.attendees == (BOB, CLEO, DAVE)
    assert stored(admin, written.event_id)["location"] == "Video"


# --- R22: Meet ------------------------------------------------------------------------------


def test_r22_meet_link_is_returned_and_equal_to_the_events(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # When an appointment with video is created (Meet completes after the default 0.2 s)
    admin.clear_requests()
    written = writer.create(credentials, draft(video=True))

    # Then the join URL is the event's Meet link
    event = stored(admin, written.event_id)
    [video] = [e for e in event["conferenceData"]["entryPoints"] if e["entryPointType"] == "video"]
    assert written.video_url is not None
    assert written.video_url.startswith("https://meet.google.com/")
    assert written.video_url == video["uri"] == event["hangoutLink"]
    # And it asked with the appointment's own request id (a retried insert asks no second one)
    request = event["conferenceData"]["createRequest"]
    assert request["requestId"] == conference_request_id(written_appointment(event))
    # And it took the insert and one re-read
    assert written.calls == api_calls(admin) == 2
    # And the version is that of the event with its link (R25)
    assert written.version == google_event(event).version


def test_r22_meet_asked_on_update_of_an_event_without_one(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # Given an event without video
    first = draft()
    written = writer.create(credentials, first)

    # When the CRM asks for video
    again = writer.update(credentials, written.event_id, replace(first, video=True), ())

    # Then the event gets a Meet link, and the writer returns it
    assert again.video_url == stored(admin, written.event_id)["hangoutLink"]
    # And a later update keeps the same conference rather than asking for another one
    third = writer.update(credentials, written.event_id, replace(first, video=True), ())
    assert third.video_url == again.video_url
    assert third.calls == 2


def test_r22_meet_not_ready_in_time_returns_no_link_without_failing(
    admin: SandboxAdminClient, credentials: Credentials
) -> None:
    # Given Meet takes longer than the writer waits
    admin.configure(meet_delay_seconds=3)
    writer = GoogleCalendarWriter(retry=QUICK_RETRY, meet_first_wait=0.05, meet_max_wait=0.3)
    try:
        # When an appointment with video is created
        written = writer.create(credentials, draft(video=True))
    finally:
        writer.close()
        admin.configure(meet_delay_seconds=0.2)

    # Then the event is written, without a link yet
    assert written.video_url is None
    assert stored(admin, written.event_id)["summary"] == "Intro call"
    assert written.calls >= 2


# --- R23: rooms -----------------------------------------------------------------------------


def test_r23_room_is_booked_as_a_resource_attendee(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # Given a room of the workspace
    admin.create_room(ROOM, "Fjord", capacity=8)

    # When an appointment in that room is saved
    written = writer.create(credentials, draft(rooms=(ROOM,)))

    # Then the room is a resource attendee, and not one of the people written
    event = stored(admin, written.event_id)
    assert emails(event, resources=True) == [ROOM]
    assert emails(event) == [BOB, CLEO]
    assert written.attendees == (BOB, CLEO)

    # And an update keeps the room's booking as Google holds it
    writer.update(credentials, written.event_id, draft(rooms=(ROOM,)), written.attendees)
    assert emails(stored(admin, written.event_id), resources=True) == [ROOM]


def test_r23_r24_a_room_booked_in_the_calendar_stays_and_one_the_crm_dropped_is_released(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # Given an event written in the Fjord room, to which Ann adds the Berg room in her calendar
    admin.create_room(ROOM, "Fjord", capacity=8)
    berg = "room-berg@resource.example.com"
    admin.create_room(berg, "Berg", capacity=4)
    first = draft(rooms=(ROOM,))
    written = writer.create(credentials, first)
    assert written.rooms == (ROOM,)
    event = stored(admin, written.event_id)
    admin.update_event(
        ANN,
        written.event_id,
        {"attendees": [*event["attendees"], {"email": berg, "resource": True}]},
    )

    # When the CRM edits the appointment, still listing Fjord only
    moved = replace(first, subject="Intro call, moved")
    again = writer.update(credentials, written.event_id, moved, written.attendees, written.rooms)

    # Then both rooms stay booked; only Fjord is ours
    assert emails(stored(admin, written.event_id), resources=True) == [ROOM, berg]
    assert again.rooms == (ROOM,)

    # When the CRM takes Fjord off the appointment
    writer.update(
        credentials, written.event_id, replace(moved, rooms=()), again.attendees, again.rooms
    )

    # Then Fjord is released and Berg, booked in the calendar, stays
    assert emails(stored(admin, written.event_id), resources=True) == [berg]


# --- R24: attendees added in the calendar ----------------------------------------------------


def test_r24_attendee_added_in_the_calendar_stays_and_gets_the_update(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # Given an event written with Bob and Cleo, to which Ann adds Dave in her calendar,
    # and Dave accepts
    first = draft()
    written = writer.create(credentials, first)
    event = stored(admin, written.event_id)
    added = [*event["attendees"], {"email": DAVE, "responseStatus": "accepted"}]
    admin.update_event(ANN, written.event_id, {"attendees": added})

    # When the CRM removes Cleo and moves the meeting
    later = replace(
        first,
        attendees=(BOB,),
        timing=Timed(datetime(2026, 5, 5, 8, tzinfo=UTC), datetime(2026, 5, 5, 9, tzinfo=UTC)),
    )
    sent_before = len(admin.invitations())
    again = writer.update(credentials, written.event_id, later, written.attendees)

    # Then Dave stays, with his answer; Cleo is removed
    event = stored(admin, written.event_id)
    assert emails(event) == [BOB, DAVE]
    # Dave is not ours: we wrote Bob only
    assert again.attendees == (BOB,)
    [dave] = [a for a in event["attendees"] if a["email"] == DAVE]
    assert dave["responseStatus"] == "accepted"
    # And Bob and Dave get the update, Cleo the cancellation, one message each
    sent = {(m["recipient"], m["kind"]) for m in admin.invitations()[sent_before:]}
    assert sent == {(BOB, "update"), (DAVE, "update"), (CLEO, "cancellation")}
    # And it read the event, then patched it (never a full replace)
    assert again.calls == 2
    methods = [r["method"] for r in admin.requests() if API_PATH.search(r["path"])]
    assert "PUT" not in methods

    # And Dave is still there after a second edit in the CRM, which still does not list him
    writer.update(
        credentials, written.event_id, replace(later, subject="Intro call, moved"), again.attendees
    )
    assert emails(stored(admin, written.event_id)) == [BOB, DAVE]


# --- R25: our own write's version, and the appointment on the event -------------------------


def test_r25_version_equals_the_mapping_of_the_stored_event(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # When an event is created and then updated
    first = draft()
    created = writer.create(credentials, first)
    created_version = google_event(stored(admin, created.event_id)).version
    updated = writer.update(
        credentials, created.event_id, replace(first, subject="Pricing"), created.attendees
    )

    # Then each write answers the version the sync will read for that state of the event
    assert created.version == created_version
    assert updated.version == google_event(stored(admin, created.event_id)).version
    assert updated.version != created.version
    assert created.ical_uid == stored(admin, created.event_id)["iCalUID"]


def test_r25_extended_private_property_carries_the_appointment_id(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # When an appointment is written
    first = draft()
    written = writer.create(credentials, first)

    # Then its event carries the appointment id privately, and the id derives from it
    event = stored(admin, written.event_id)
    assert event["extendedProperties"]["private"] == {APPOINTMENT_PROPERTY: first.appointment_id}
    assert written.event_id == google_event_id(first.appointment_id)


# --- idempotent creates, deleted events -----------------------------------------------------


def test_create_repeated_with_the_same_appointment_id_answers_the_same_event(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # Given a create that reached Google but whose worker crashed before its commit
    first = draft(video=True)
    written = writer.create(credentials, first)

    # When the write is tried again (with the CRM's latest subject)
    again = writer.create(credentials, replace(first, subject="Intro call (moved)"))

    # Then there is still one event, updated, with the same conference and attendees
    assert again.event_id == written.event_id
    assert [e["id"] for e in admin.events(ANN)] == [written.event_id]
    event = stored(admin, written.event_id)
    assert event["summary"] == "Intro call (moved)"
    assert again.video_url == written.video_url
    assert again.attendees == (BOB, CLEO)
    assert emails(event) == [BOB, CLEO]
    assert again.version == google_event(event).version
    # And it took the refused insert, the read and the patch
    assert again.calls == 3


def test_create_replayed_unchanged_after_a_crash_mails_nobody_twice(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # Given a create with invitations that reached Google, then the worker crashed
    first = draft(invite=True)
    written = writer.create(credentials, first)
    admin.clear_requests()

    # When the same write is replayed
    again = writer.create(credentials, first)

    # Then it answers the same event without patching it: one invitation each, no update
    assert again.event_id == written.event_id
    assert [e["id"] for e in admin.events(ANN)] == [written.event_id]
    for person in (BOB, CLEO):
        assert [m["kind"] for m in admin.invitations(person)] == ["invitation"]
    assert not [r for r in admin.requests() if r["method"] == "PATCH"]
    assert again.calls == 2  # the refused insert and the read


def test_r13_update_of_a_deleted_event_raises_event_gone(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # Given an event that was deleted in the calendar
    first = draft()
    written = writer.create(credentials, first)
    admin.delete_event(ANN, written.event_id)

    # When the CRM updates it, or creates it again, then the event is gone
    with pytest.raises(EventGone):
        writer.update(credentials, written.event_id, first, written.attendees)
    with pytest.raises(EventGone):
        writer.create(credentials, first)
    # And it was not brought back
    assert stored(admin, written.event_id)["status"] == "cancelled"


def test_r13_update_of_a_cancelled_or_unknown_event_raises_event_gone(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # Given a meeting its organizer cancelled
    first = draft()
    written = writer.create(credentials, first)
    admin.cancel_event(ANN, written.event_id)

    # When the CRM updates it, or an event that never existed, then it is gone
    with pytest.raises(EventGone):
        writer.update(credentials, written.event_id, first, written.attendees)
    with pytest.raises(EventGone):
        writer.update(credentials, "nosuchevent0", first, ())


# --- failures -------------------------------------------------------------------------------


def test_a_5xx_fault_is_retried(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # Given the insert fails once with a backend error
    admin.fail_next(500, path=EVENTS_PATH, method="POST")

    # When an appointment is created
    written = writer.create(credentials, draft())

    # Then the retry made it, once, and both tries are counted
    assert [e["id"] for e in admin.events(ANN)] == [written.event_id]
    assert written.calls == 2


def test_a_400_becomes_provider_rejected(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # Given Google refuses the insert as a bad request
    admin.fail_next(400, path=EVENTS_PATH, method="POST")

    # When an appointment is created, then the refusal is ours and lasting
    with pytest.raises(ProviderRejected) as refused:
        writer.create(credentials, draft())
    assert refused.value.status == 400
    assert admin.events(ANN) == []


def test_calls_are_one_for_a_plain_create(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # When an appointment without video is created
    admin.clear_requests()
    written = writer.create(credentials, draft())

    # Then one API request was made, and the tokens refreshed for it are reported
    assert written.calls == api_calls(admin) == 1
    assert written.tokens is not None
    # And a write with those tokens has nothing new to report
    again = writer.update(
        credentials.with_tokens(written.tokens), written.event_id, draft(), written.attendees
    )
    assert again.tokens is None


# --- times ----------------------------------------------------------------------------------


def test_all_day_drafts_are_written_as_dates(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    # When a two-day all-day appointment is created
    first = draft(timing=AllDay(date(2026, 5, 4), date(2026, 5, 6)))
    written = writer.create(credentials, first)

    # Then the event has dates with the exclusive end
    event = stored(admin, written.event_id)
    assert (event["start"], event["end"]) == ({"date": "2026-05-04"}, {"date": "2026-05-06"})
    assert google_event(event).timing == first.timing

    # And it can become timed, and all-day again
    timed = writer.update(credentials, written.event_id, draft(), written.attendees)
    now_timed = google_event(stored(admin, timed.event_id)).timing
    assert isinstance(now_timed, Timed)
    assert (now_timed.start, now_timed.end) == (MAY_4.start, MAY_4.end)
    writer.update(credentials, written.event_id, first, written.attendees)
    assert google_event(stored(admin, written.event_id)).timing == first.timing


def test_timed_drafts_are_written_in_the_drafts_time_zone(
    admin: SandboxAdminClient, writer: GoogleCalendarWriter, credentials: Credentials
) -> None:
    written = writer.create(credentials, draft(time_zone="America/New_York"))

    event = stored(admin, written.event_id)
    assert event["start"]["timeZone"] == "America/New_York"
    assert google_event(event).timing == Timed(
        datetime(2026, 5, 4, 8, tzinfo=UTC),
        datetime(2026, 5, 4, 9, tzinfo=UTC),
        "America/New_York",
    )


# --- event ids ------------------------------------------------------------------------------


def test_event_ids_are_valid_google_ids_derived_from_the_appointment() -> None:
    appointment = uuid.uuid4()
    assert google_event_id(str(appointment)) == appointment.hex
    for other in ("a", "appointment-42", "ÅÄÖ 7", "x" * 600):
        made = google_event_id(other)
        assert re.fullmatch(r"[a-v0-9]{5,1024}", made)
        assert made == google_event_id(other)
    assert google_event_id("appointment-42") != google_event_id("appointment-43")


def written_appointment(event: Json) -> str:
    """The appointment id an event carries."""
    return str(event["extendedProperties"]["private"][APPOINTMENT_PROPERTY])
