"""``GraphCalendarWriter`` through the real msgraph-sdk against the Graph sandbox (R13, R20-R25).

What Graph did is read back from the sandbox: its stored events, its log of the mail it
"sent" (invitation, update, cancellation, recipient by recipient) and its request log. One
test looks at the request bodies on the wire through a small recording proxy in front of
the sandbox, to see what a PATCH carried.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from adapters.calendar.errors import ProviderRejected, ProviderUnavailable
from adapters.calendar.source import Credentials
from adapters.calendar.writes import TRANSACTION_PREFIX, EventDraft, EventGone, WrittenEvent
from domain.model import AllDay, Provider, Timed
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.support.calendar_sandbox import QUICK_RETRY, Harness, harness_for, sync_run

with warnings.catch_warnings():
    # msgraph-sdk's generated code warns about its own deprecated classes when imported.
    warnings.simplefilter("ignore", DeprecationWarning)
    from adapters.calendar.graph.write import GraphCalendarWriter

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ORGANIZER = "anna@crm-kunde.de"
BOB = "bob@kund.se"
CARA = "cara@example.org"
DAVE = "dave@partner.example"

#: Graph API calls in the sandbox's request log (token refreshes left out).
API_PREFIX = "/v1.0/"

TEAMS_BLOCK = (
    "<div>________________<br><b>Microsoft Teams meeting</b><br>"
    '<a href="https://teams.microsoft.com/l/meetup-join/x">Join the meeting now</a></div>'
)


@dataclass
class World:
    harness: Harness
    admin: SandboxAdminClient
    writer: GraphCalendarWriter
    user: dict[str, Any]
    credentials: Credentials

    def events(self) -> list[dict[str, Any]]:
        """The organizer's stored events that are not deleted."""
        return [e for e in self.admin.events(self.user["email"]) if not e.get("deleted")]

    def event(self, event_id: str) -> dict[str, Any]:
        return next(e for e in self.admin.events(self.user["email"]) if e["id"] == event_id)

    def mail(self, recipient: str) -> list[tuple[str, str]]:
        """(kind, event id) of every message sent to ``recipient``."""
        return [(m["kind"], m["event_id"]) for m in self.admin.invitations(recipient)]

    def api_calls(self) -> list[tuple[str, str, int]]:
        return [
            (r["method"], r["path"], r["status"])
            for r in self.admin.requests()
            if r["path"].startswith(API_PREFIX)
        ]

    def create(self, draft: EventDraft) -> WrittenEvent:
        written = self.writer.create(self.credentials, draft)
        self._keep(written)
        return written

    def update(
        self,
        event_id: str,
        draft: EventDraft,
        previously_written: tuple[str, ...] = (),
        rooms_written: tuple[str, ...] | None = None,
    ) -> WrittenEvent:
        written = self.writer.update(
            self.credentials, event_id, draft, previously_written, rooms_written
        )
        self._keep(written)
        return written

    def _keep(self, written: WrittenEvent) -> None:
        if written.tokens is not None:
            self.credentials = self.credentials.with_tokens(written.tokens)


@pytest.fixture
def world(sandbox: SandboxServer, admins: dict[Provider, SandboxAdminClient]) -> Iterator[World]:
    admin = admins[Provider.MICROSOFT]
    admin.reset()
    harness = harness_for(Provider.MICROSOFT, sandbox, admin)
    user = harness.create_user(ORGANIZER)
    writer = GraphCalendarWriter(retry=QUICK_RETRY, kiota_max_retries=1)
    try:
        yield World(harness, admin, writer, user, harness.credentials(user))
    finally:
        writer.close()
        harness.close()
        admin.clear_faults()


def draft(**changes: Any) -> EventDraft:
    """A one-hour meeting on 4 May 2026, 10:00 in Berlin, inviting Bob and Cara."""
    base = EventDraft(
        appointment_id="appt-1",
        subject="Intro call",
        body="Let us meet.\n\nAgenda:\n1. Prices & <terms>",
        location="Office Gothenburg",
        timing=Timed(datetime(2026, 5, 4, 8, tzinfo=UTC), datetime(2026, 5, 4, 9, tzinfo=UTC)),
        time_zone="Europe/Berlin",
        attendees=(BOB, CARA),
        rooms=(),
        video=False,
        invite=True,
    )
    return replace(base, **changes)


def rooms(event: dict[str, Any]) -> list[str]:
    """The event's resource attendees' addresses, lower case, in order."""
    return [
        a["emailAddress"]["address"].lower() for a in event["attendees"] if a["type"] == "resource"
    ]


def people(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The event's non-room attendees by lower-case address."""
    return {
        a["emailAddress"]["address"].lower(): a
        for a in event["attendees"]
        if a["type"] != "resource"
    }


# --- create ----------------------------------------------------------------------------


def test_r20_create_with_invite_sends_one_invitation_to_each_attendee(world: World) -> None:
    written = world.create(draft(attendees=(BOB, "Cara <CARA@Example.org>")))

    assert world.mail(BOB) == [("invitation", written.event_id)]
    assert world.mail(CARA) == [("invitation", written.event_id)]
    assert world.mail(ORGANIZER) == []
    event = world.event(written.event_id)
    assert {a: p["type"] for a, p in people(event).items()} == {BOB: "required", CARA: "required"}
    assert written.attendees == (BOB, CARA)
    assert event["transactionId"] == TRANSACTION_PREFIX + "appt-1"
    assert event["originalStartTimeZone"] == "Europe/Berlin"
    assert event["start"]["dateTime"].startswith("2026-05-04T08:00:00")  # stored as UTC
    assert event["location"]["displayName"] == "Office Gothenburg"


def test_r21_create_without_invite_mails_no_one_and_puts_no_people_on_the_event(
    world: World,
) -> None:
    written = world.create(draft(invite=False))

    assert world.admin.invitations() == []
    assert people(world.event(written.event_id)) == {}
    assert written.attendees == ()


def test_r21_saving_with_invite_later_mails_each_person_then(world: World) -> None:
    first = world.create(draft(invite=False))
    assert world.admin.invitations() == []

    later = world.update(first.event_id, draft(invite=True), first.attendees)

    assert world.mail(BOB) == [("invitation", first.event_id)]
    assert world.mail(CARA) == [("invitation", first.event_id)]
    assert set(people(world.event(first.event_id))) == {BOB, CARA}
    assert later.attendees == (BOB, CARA)


def test_r20_calls_a_plain_create_is_one_request(world: World) -> None:
    written = world.create(draft())

    assert written.calls == 1
    assert [(m, s) for m, _, s in world.api_calls()] == [("POST", 201)]
    assert world.api_calls()[0][1].endswith("/calendar/events")


def test_r22_teams_join_url_is_returned_and_is_the_events_own(world: World) -> None:
    written = world.create(draft(video=True))

    event = world.event(written.event_id)
    assert event["isOnlineMeeting"] is True
    assert event["onlineMeetingProvider"] == "teamsForBusiness"
    assert written.video_url == event["onlineMeeting"]["joinUrl"]
    assert (written.video_url or "").startswith("https://teams.microsoft.com/")
    assert written.calls <= 2
    assert written.calls == len(world.api_calls())


def test_r22_teams_turned_on_by_an_update_returns_its_join_url(world: World) -> None:
    first = world.create(draft())
    assert first.video_url is None

    later = world.update(first.event_id, draft(video=True), first.attendees)

    assert later.video_url == world.event(first.event_id)["onlineMeeting"]["joinUrl"]
    # A meeting once made is never removed: a draft without video leaves it.
    again = world.update(first.event_id, draft(video=False), later.attendees)
    assert again.video_url == later.video_url


def test_r23_room_is_booked_as_a_resource_attendee_even_without_invitations(
    world: World,
) -> None:
    world.admin.create_room("room.fjord@crm-kunde.de", "Fjord", capacity=8)
    world.admin.create_room("room.berg@crm-kunde.de", "Berg", capacity=4)

    written = world.create(draft(invite=False, rooms=("room.fjord@crm-kunde.de",)))

    event = world.event(written.event_id)
    assert [(a["emailAddress"]["address"], a["type"]) for a in event["attendees"]] == [
        ("room.fjord@crm-kunde.de", "resource")
    ]
    assert world.mail(BOB) == world.mail(CARA) == []

    # Another room: the rooms change, people are still not added.
    world.update(written.event_id, draft(invite=False, rooms=("room.berg@crm-kunde.de",)))
    rooms = [a["emailAddress"]["address"] for a in world.event(written.event_id)["attendees"]]
    assert rooms == ["room.berg@crm-kunde.de"]
    assert world.mail(BOB) == world.mail(CARA) == []


def test_r21_r23_rooms_change_without_invite_keeps_the_people_already_there(
    world: World,
) -> None:
    world.admin.create_room("room.fjord@crm-kunde.de", "Fjord")
    first = world.create(draft())  # Bob and Cara invited

    later = world.update(
        first.event_id, draft(invite=False, rooms=("room.fjord@crm-kunde.de",)), first.attendees
    )

    event = world.event(first.event_id)
    assert set(people(event)) == {BOB, CARA}
    assert "room.fjord@crm-kunde.de" in [a["emailAddress"]["address"] for a in event["attendees"]]
    assert world.mail(BOB) == [("invitation", first.event_id)]  # nothing more
    assert later.attendees == (BOB, CARA)  # still the people we wrote


def test_r24_attendee_added_in_calendar_stays_and_gets_the_update_crm_removed_one_goes(
    world: World,
) -> None:
    first = world.create(draft())
    event = world.event(first.event_id)
    dave = {
        "type": "optional",
        "emailAddress": {"address": DAVE, "name": "Dave"},
        "status": {"response": "accepted", "time": "2026-04-20T10:00:00Z"},
    }
    world.admin.update_event(ORGANIZER, first.event_id, {"attendees": [*event["attendees"], dave]})

    later = world.update(
        first.event_id, draft(attendees=(BOB,), subject="Intro call (moved)"), first.attendees
    )

    after = people(world.event(first.event_id))
    assert set(after) == {BOB, DAVE}
    assert after[DAVE]["type"] == "optional"
    assert after[DAVE]["status"]["response"] == "accepted"
    assert world.mail(DAVE)[-1] == ("update", first.event_id)
    assert world.mail(BOB)[-1] == ("update", first.event_id)
    assert world.mail(CARA)[-1] == ("cancellation", first.event_id)
    assert later.attendees == (BOB,)

    # Dave is still not ours: the next update keeps him too.
    world.update(first.event_id, draft(attendees=(BOB,), subject="Intro"), later.attendees)
    assert set(people(world.event(first.event_id))) == {BOB, DAVE}


def test_r23_r24_a_room_booked_in_the_calendar_stays_and_one_the_crm_dropped_is_released(
    world: World,
) -> None:
    fjord, berg = "room.fjord@crm-kunde.de", "room.berg@crm-kunde.de"
    world.admin.create_room(fjord, "Fjord", capacity=8)
    world.admin.create_room(berg, "Berg", capacity=4)
    first = world.create(draft(rooms=(fjord,)))
    assert first.rooms == (fjord,)
    # Berg is added in Outlook
    event = world.event(first.event_id)
    added = {"type": "resource", "emailAddress": {"address": berg, "name": "Berg"}}
    world.admin.update_event(ORGANIZER, first.event_id, {"attendees": [*event["attendees"], added]})

    # The CRM edits the appointment, still listing Fjord only: both rooms stay, Fjord is ours
    moved = draft(rooms=(fjord,), subject="Intro call (moved)")
    again = world.update(first.event_id, moved, first.attendees, first.rooms)
    assert set(rooms(world.event(first.event_id))) == {fjord, berg}
    assert again.rooms == (fjord,)

    # The CRM takes Fjord off: it is released, Berg stays
    world.update(first.event_id, replace(moved, rooms=()), again.attendees, again.rooms)
    assert rooms(world.event(first.event_id)) == [berg]


def test_r25_update_that_changes_nothing_sends_nothing(world: World) -> None:
    first = world.create(draft(video=True))
    world.admin.clear_requests()

    again = world.update(first.event_id, draft(video=True), first.attendees)

    assert [m for m, _, _ in world.api_calls()] == ["GET"]
    assert again.calls == 1
    assert again.version == first.version
    assert world.mail(BOB) == [("invitation", first.event_id)]


# --- body --------------------------------------------------------------------------------


def test_r26_body_keeps_content_added_in_the_calendar_when_our_text_changes(
    world: World,
) -> None:
    first = world.create(draft(video=True))
    ours = world.event(first.event_id)["body"]["content"]
    outlook = f"<html><body>{ours}{TEAMS_BLOCK}</body></html>"
    world.admin.update_event(
        ORGANIZER, first.event_id, {"body": {"contentType": "html", "content": outlook}}
    )

    world.update(first.event_id, draft(video=True, body="New agenda:\nDemo"), first.attendees)

    content = world.event(first.event_id)["body"]["content"]
    assert content.startswith('<html><body><div id="calsync-body">New agenda:<br>Demo</div>')
    assert content.endswith(f"{TEAMS_BLOCK}</body></html>")
    assert "Let us meet" not in content


def test_r26_body_of_an_event_without_our_wrapper_gets_ours_first(world: World) -> None:
    made = world.admin.create_event(
        ORGANIZER,
        {
            **world.harness.timed(4, 8, "Made in Outlook"),
            "body": {"contentType": "text", "content": "Parking: level 2\nBring badge"},
        },
    )

    world.update(made["id"], draft(invite=False, body="From the CRM"))

    body = world.event(made["id"])["body"]
    assert body["contentType"] == "html"
    assert body["content"] == (
        '<div id="calsync-body">From the CRM</div>Parking: level 2<br>Bring badge'
    )


def test_r25_body_is_not_sent_when_our_text_did_not_change(
    world: World, sandbox: SandboxServer
) -> None:
    first = world.create(draft())
    ours = world.event(first.event_id)["body"]["content"]
    outlook = f"<html><body>{ours.replace('<br>', '<br/>')}{TEAMS_BLOCK}</body></html>"
    world.admin.update_event(
        ORGANIZER, first.event_id, {"body": {"contentType": "html", "content": outlook}}
    )

    with RecordingProxy(sandbox.graph_url) as proxy:
        proxied = replace(world.credentials, api_url=f"{proxy.url}/v1.0")
        world.writer.update(proxied, first.event_id, draft(subject="Renamed"), first.attendees)

    patches = [body for method, body in proxy.requests if method == "PATCH"]
    assert patches == [{"subject": "Renamed"}]
    assert world.event(first.event_id)["body"]["content"] == outlook


# --- identity, failures, versions --------------------------------------------------------


def test_r25_create_repeated_with_the_same_appointment_id_answers_the_first_event(
    world: World,
) -> None:
    first = world.create(draft())
    again = world.create(draft())

    assert again.event_id == first.event_id
    assert again.ical_uid == first.ical_uid
    assert again.calls == 1
    assert len(world.events()) == 1
    assert world.mail(BOB) == [("invitation", first.event_id)]

    # The CRM changed in between: the first event is brought up to date, still only one.
    changed = world.create(draft(subject="Intro call v2"))
    assert changed.event_id == first.event_id
    assert [e["subject"] for e in world.events()] == ["Intro call v2"]
    assert changed.calls == 2


def test_r13_update_of_a_deleted_event_raises_event_gone(world: World) -> None:
    first = world.create(draft())
    world.admin.delete_event(ORGANIZER, first.event_id)

    with pytest.raises(EventGone):
        world.update(first.event_id, draft(subject="Too late"), first.attendees)


def test_r13_update_of_a_cancelled_event_raises_event_gone(world: World) -> None:
    first = world.create(draft(invite=False))
    world.admin.update_event(ORGANIZER, first.event_id, {"isCancelled": True})
    world.admin.clear_requests()

    with pytest.raises(EventGone):
        world.update(first.event_id, draft(subject="Too late"))
    assert [m for m, _, _ in world.api_calls()] == ["GET"]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_r20_create_answered_5xx_is_retried_and_counted(world: World, status: int) -> None:
    world.admin.fail_next(status, path="/calendar/events$", retry_after=0)

    written = world.create(draft())

    assert written.calls == 2
    assert [s for _, _, s in world.api_calls()] == [status, 201]
    assert len(world.events()) == 1


def test_r20_create_answered_5xx_for_good_is_provider_unavailable(world: World) -> None:
    world.admin.fail_next(500, count=10, path="/calendar/events$")

    with pytest.raises(ProviderUnavailable):
        world.create(draft())


def test_r20_create_answered_400_is_provider_rejected(world: World) -> None:
    world.admin.fail_next(400, path="/calendar/events$")

    with pytest.raises(ProviderRejected) as raised:
        world.create(draft())
    assert raised.value.status == 400
    assert len(world.api_calls()) == 1


def test_r25_version_is_what_the_sync_reads_for_the_event(world: World) -> None:
    source = world.harness.source()
    created = world.create(draft(video=True))
    updated = world.update(created.event_id, draft(video=True, location="Video"), created.attendees)

    synced = sync_run(source, world.credentials).by_id()

    assert synced[updated.event_id].version == updated.version
    assert updated.version != created.version
    assert synced[updated.event_id].ical_uid == updated.ical_uid
    assert synced[updated.event_id].video_url == updated.video_url


def test_r26_all_day_drafts_are_written_as_midnight_to_midnight_days(world: World) -> None:
    source = world.harness.source()
    days = AllDay(date(2026, 5, 7), date(2026, 5, 9))
    written = world.create(draft(timing=days, invite=False))

    event = world.event(written.event_id)
    assert event["isAllDay"] is True
    assert event["start"] == {
        "dateTime": "2026-05-07T00:00:00.0000000",
        "timeZone": "Europe/Berlin",
    }
    assert event["end"] == {"dateTime": "2026-05-09T00:00:00.0000000", "timeZone": "Europe/Berlin"}
    assert sync_run(source, world.credentials).by_id()[written.event_id].timing == days

    # Same days again: nothing to send; then to a timed meeting and back.
    assert world.update(written.event_id, draft(timing=days, invite=False)).calls == 1
    world.update(written.event_id, draft(invite=False))
    assert world.event(written.event_id)["isAllDay"] is False
    one_day = AllDay(date(2026, 5, 8), date(2026, 5, 9))
    world.update(written.event_id, draft(timing=one_day, invite=False))
    assert sync_run(source, world.credentials).by_id()[written.event_id].timing == one_day


def test_r20_writer_refuses_other_providers_credentials(world: World) -> None:
    google = replace(world.credentials, provider=Provider.GOOGLE)
    with pytest.raises(ValueError, match="google"):
        world.writer.create(google, draft())


# --- a recording proxy -------------------------------------------------------------------


@dataclass
class RecordingProxy:
    """Forwards HTTP to ``target`` and records each request's method and JSON body."""

    target: str
    requests: list[tuple[str, Any]] = field(default_factory=list)

    def __enter__(self) -> RecordingProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                proxy.requests.append((self.command, json.loads(raw) if raw else None))
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                answer = httpx.request(
                    self.command, proxy.target + self.path, headers=headers, content=raw
                )
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
