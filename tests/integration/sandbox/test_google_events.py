"""Google events.insert/get/patch/update/delete through google-api-python-client."""

from __future__ import annotations

from typing import Any

import pytest
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.ids import BASE32HEX
from infra.sandbox.server import SandboxServer
from tests.integration.sandbox.google_client import insert, reason, timed


def test_insert_fills_server_fields(calendar: Any) -> None:
    body = timed(
        "2026-05-01T10:00:00Z",
        "2026-05-01T11:00:00Z",
        summary="Intro call",
        attendees=[{"email": "ann@example.com"}, {"email": "bob@client.com", "optional": True}],
    )

    event = insert(calendar, body)

    assert set(event["id"]) <= set(BASE32HEX)
    assert event["iCalUID"] == f"{event['id']}@google.com"
    assert event["status"] == "confirmed"
    assert event["sequence"] == 0
    assert event["etag"].startswith('"')
    assert event["organizer"] == {
        "email": "ann@example.com",
        "displayName": "Ann Example",
        "self": True,
    }
    assert event["start"] == {"dateTime": "2026-05-01T12:00:00+02:00", "timeZone": "Europe/Berlin"}
    ann, bob = event["attendees"]
    assert ann == {
        "email": "ann@example.com",
        "displayName": "Ann Example",
        "organizer": True,
        "self": True,
        "responseStatus": "accepted",
    }
    assert bob == {"email": "bob@client.com", "optional": True, "responseStatus": "needsAction"}


def test_client_chosen_id_is_honoured_and_duplicates_are_refused(calendar: Any) -> None:
    body = timed("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z", id="crm0123456789abc")
    assert insert(calendar, body)["id"] == "crm0123456789abc"

    with pytest.raises(HttpError) as duplicate:
        insert(calendar, body)

    assert duplicate.value.resp.status == 409
    assert reason(duplicate.value) == "duplicate"


def test_ids_outside_base32hex_are_refused(calendar: Any) -> None:
    with pytest.raises(HttpError) as refused:
        insert(calendar, timed("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z", id="not-base32hex!"))
    assert refused.value.resp.status == 400


def test_patch_changes_etag_updated_and_sequence(calendar: Any) -> None:
    created = insert(
        calendar,
        timed(
            "2026-05-01T10:00:00Z",
            "2026-05-01T11:00:00Z",
            summary="Intro",
            extendedProperties={"private": {"crmId": "42", "other": "x"}},
        ),
    )

    renamed = (
        calendar.events()
        .patch(
            calendarId="primary",
            eventId=created["id"],
            body={"summary": "Renamed", "extendedProperties": {"private": {"other": None}}},
        )
        .execute()
    )
    moved = (
        calendar.events()
        .patch(
            calendarId="primary",
            eventId=created["id"],
            body={
                "start": {"dateTime": "2026-05-01T12:00:00Z"},
                "end": {"dateTime": "2026-05-01T13:00:00Z"},
            },
        )
        .execute()
    )

    assert renamed["summary"] == "Renamed"
    assert renamed["extendedProperties"] == {"private": {"crmId": "42"}}
    assert len({created["etag"], renamed["etag"], moved["etag"]}) == 3
    assert created["updated"] <= renamed["updated"] <= moved["updated"]
    assert (created["sequence"], renamed["sequence"], moved["sequence"]) == (0, 0, 1)
    assert moved["summary"] == "Renamed"


def test_update_replaces_the_whole_event(calendar: Any) -> None:
    created = insert(
        calendar,
        timed(
            "2026-05-01T10:00:00Z",
            "2026-05-01T11:00:00Z",
            summary="Intro",
            location="Room 1",
            extendedProperties={"private": {"crmId": "42"}},
        ),
    )

    updated = (
        calendar.events()
        .update(
            calendarId="primary",
            eventId=created["id"],
            body=timed("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z", summary="Only this"),
        )
        .execute()
    )

    assert updated["summary"] == "Only this"
    assert "location" not in updated
    assert "extendedProperties" not in updated
    assert updated["id"] == created["id"]
    assert updated["iCalUID"] == created["iCalUID"]
    assert calendar.events().get(calendarId="primary", eventId=created["id"]).execute() == updated


def test_if_match_with_a_stale_etag_fails(calendar: Any) -> None:
    created = insert(calendar, timed("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z"))
    request = calendar.events().patch(
        calendarId="primary", eventId=created["id"], body={"summary": "x"}
    )
    request.headers["If-Match"] = '"stale"'

    with pytest.raises(HttpError) as stale:
        request.execute()

    assert stale.value.resp.status == 412
    assert reason(stale.value) == "conditionNotMet"


def test_delete_leaves_a_cancelled_event_and_a_second_delete_is_gone(calendar: Any) -> None:
    created = insert(calendar, timed("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z"))

    calendar.events().delete(calendarId="primary", eventId=created["id"]).execute()

    assert (
        calendar.events().get(calendarId="primary", eventId=created["id"]).execute()["status"]
        == "cancelled"
    )
    with pytest.raises(HttpError) as gone:
        calendar.events().delete(calendarId="primary", eventId=created["id"]).execute()
    assert gone.value.resp.status == 410
    assert reason(gone.value) == "deleted"


def test_unknown_event_is_not_found(calendar: Any) -> None:
    with pytest.raises(HttpError) as missing:
        calendar.events().get(calendarId="primary", eventId="nosuchevent").execute()
    assert missing.value.resp.status == 404
    assert reason(missing.value) == "notFound"


def test_all_day_events_keep_dates_with_exclusive_end(calendar: Any) -> None:
    event = insert(calendar, {"start": {"date": "2026-05-01"}, "end": {"date": "2026-05-02"}})
    assert (event["start"], event["end"]) == ({"date": "2026-05-01"}, {"date": "2026-05-02"})


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (
            {"dateTime": "2026-05-01T11:00:00Z"},
            {"dateTime": "2026-05-01T10:00:00Z"},
            "timeRangeEmpty",
        ),
        ({"date": "2026-05-01"}, {"dateTime": "2026-05-01T10:00:00Z"}, "invalid"),
        ({"dateTime": "2026-05-01T10:00:00"}, {"dateTime": "2026-05-01T11:00:00Z"}, "required"),
    ],
)
def test_inconsistent_times_are_refused(
    calendar: Any, start: dict[str, str], end: dict[str, str], expected: str
) -> None:
    with pytest.raises(HttpError) as refused:
        insert(calendar, {"start": start, "end": end})
    assert refused.value.resp.status == 400
    assert reason(refused.value) == expected


def test_send_updates_records_mail_per_recipient(
    calendar: Any, google_admin: SandboxAdminClient
) -> None:
    google_admin.create_user("carl@example.com")
    guests = [{"email": "bob@client.com"}, {"email": "carl@example.com"}]
    body = timed("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z", summary="Demo", attendees=guests)

    quiet = insert(calendar, body)
    external = insert(calendar, body, sendUpdates="externalOnly")
    loud = insert(calendar, body, sendUpdates="all")

    sent = google_admin.invitations()
    assert [(s["recipient"], s["event_id"]) for s in sent] == [
        ("bob@client.com", external["id"]),
        ("bob@client.com", loud["id"]),
        ("carl@example.com", loud["id"]),
    ]
    assert all(s["kind"] == "invitation" and s["organizer"] == "ann@example.com" for s in sent)
    assert quiet["id"] not in {s["event_id"] for s in sent}


def test_changes_and_deletes_send_updates_and_cancellations(
    calendar: Any, google_admin: SandboxAdminClient
) -> None:
    body = timed(
        "2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z", attendees=[{"email": "bob@client.com"}]
    )
    event = insert(calendar, body, sendUpdates="all")
    patch = {"attendees": [{"email": "bob@client.com"}, {"email": "dan@client.com"}]}
    calendar.events().patch(
        calendarId="primary", eventId=event["id"], body=patch, sendUpdates="all"
    ).execute()
    calendar.events().delete(calendarId="primary", eventId=event["id"], sendUpdates="all").execute()

    assert [s["kind"] for s in google_admin.invitations("bob@client.com")] == [
        "invitation",
        "update",
        "cancellation",
    ]
    assert [s["kind"] for s in google_admin.invitations("dan@client.com")] == [
        "invitation",
        "cancellation",
    ]


def test_admin_creates_events_as_a_person_would(
    calendar: Any, google_admin: SandboxAdminClient
) -> None:
    invite = timed(
        "2026-05-01T10:00:00Z",
        "2026-05-01T11:00:00Z",
        summary="From a prospect",
        organizer={"email": "eve@prospect.com"},
        attendees=[{"email": "eve@prospect.com"}, {"email": "ann@example.com"}],
    )

    created = google_admin.create_event("ann@example.com", invite)
    seen = calendar.events().get(calendarId="primary", eventId=created["id"]).execute()

    assert seen["organizer"] == {"email": "eve@prospect.com"}
    assert [a.get("self", False) for a in seen["attendees"]] == [False, True]
    assert google_admin.events("ann@example.com")[0]["id"] == created["id"]


def test_batch_requests_run_each_call(
    sandbox: SandboxServer, calendar: Any, google_admin: SandboxAdminClient
) -> None:
    answers: dict[str, Any] = {}

    def collect(request_id: str, response: Any, exception: Exception | None) -> None:
        answers[request_id] = exception or response

    # The client derives the batch address from the discovery rootUrl (www.googleapis.com),
    # so it must be given the sandbox's explicitly.
    batch = BatchHttpRequest(callback=collect, batch_uri=f"{sandbox.google_url}/batch/calendar/v3")
    body = timed("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z", id="batch00001")
    batch.add(calendar.events().insert(calendarId="primary", body=body), request_id="first")
    batch.add(calendar.events().insert(calendarId="primary", body=body), request_id="again")
    batch.add(calendar.events().list(calendarId="primary"), request_id="list")
    batch.execute()

    assert answers["first"]["id"] == "batch00001"
    assert isinstance(answers["again"], HttpError)
    assert answers["again"].resp.status == 409
    assert [e["id"] for e in answers["list"]["items"]] == ["batch00001"]
    logged = [r["path"] for r in google_admin.requests() if r["path"].startswith("/calendar")]
    assert logged == ["/calendar/v3/calendars/primary/events"] * 3
