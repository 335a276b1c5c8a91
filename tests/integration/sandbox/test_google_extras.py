"""Google freeBusy, Directory rooms and Meet conferences."""

from __future__ import annotations

import time
from typing import Any

from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.integration.sandbox.google_client import credentials, directory_service, insert, timed


def test_rooms_are_listed_by_the_directory_api(
    sandbox: SandboxServer, ann: dict[str, Any], google_admin: SandboxAdminClient
) -> None:
    for n in range(3):
        google_admin.create_room(f"room{n}@resource.example.com", f"Room {n}", capacity=4 + n)
    creds = credentials(sandbox, ann["refresh_token"])

    for endpoint in (sandbox.google_api_url, sandbox.google_url + "/"):
        rooms = directory_service(sandbox, creds, endpoint).resources().calendars()
        first = rooms.list(customer="my_customer", maxResults=2).execute()
        second = rooms.list(customer="my_customer", pageToken=first["nextPageToken"]).execute()

        listed = first["items"] + second["items"]
        assert [r["resourceEmail"] for r in listed] == [
            "room0@resource.example.com",
            "room1@resource.example.com",
            "room2@resource.example.com",
        ]
        assert listed[2]["capacity"] == 6
        assert "nextPageToken" not in second


def test_free_busy_for_users_and_rooms(calendar: Any, google_admin: SandboxAdminClient) -> None:
    google_admin.create_room("room1@resource.example.com", "Room 1")
    insert(calendar, timed("2026-05-01T09:00:00Z", "2026-05-01T10:00:00Z"))
    insert(calendar, timed("2026-05-01T09:30:00Z", "2026-05-01T11:00:00Z"))
    insert(
        calendar,
        timed(
            "2026-05-01T14:00:00Z",
            "2026-05-01T15:00:00Z",
            attendees=[{"email": "room1@resource.example.com", "resource": True}],
        ),
    )
    insert(
        calendar, timed("2026-05-01T16:00:00Z", "2026-05-01T17:00:00Z", transparency="transparent")
    )

    answer = (
        calendar.freebusy()
        .query(
            body={
                "timeMin": "2026-05-01T00:00:00Z",
                "timeMax": "2026-05-02T00:00:00Z",
                "items": [
                    {"id": "primary"},
                    {"id": "room1@resource.example.com"},
                    {"id": "nobody@x.com"},
                ],
            }
        )
        .execute()
    )

    calendars = answer["calendars"]
    assert calendars["primary"]["busy"] == [
        {"start": "2026-05-01T09:00:00Z", "end": "2026-05-01T11:00:00Z"},
        {"start": "2026-05-01T14:00:00Z", "end": "2026-05-01T15:00:00Z"},
    ]
    assert calendars["room1@resource.example.com"]["busy"] == [
        {"start": "2026-05-01T14:00:00Z", "end": "2026-05-01T15:00:00Z"}
    ]
    assert calendars["nobody@x.com"]["errors"] == [{"domain": "global", "reason": "notFound"}]


def test_meet_conference_is_created_asynchronously(
    calendar: Any, google_admin: SandboxAdminClient
) -> None:
    google_admin.configure(meet_delay_seconds=0.1)
    body = timed(
        "2026-05-01T09:00:00Z",
        "2026-05-01T10:00:00Z",
        conferenceData={
            "createRequest": {
                "requestId": "req-1",
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }
        },
    )

    created = insert(calendar, body, conferenceDataVersion=1)
    assert created["conferenceData"]["createRequest"]["status"] == {"statusCode": "pending"}
    assert "hangoutLink" not in created

    event = created
    deadline = time.monotonic() + 3
    while "hangoutLink" not in event and time.monotonic() < deadline:
        time.sleep(0.05)
        event = calendar.events().get(calendarId="primary", eventId=created["id"]).execute()

    data = event["conferenceData"]
    assert data["createRequest"]["status"] == {"statusCode": "success"}
    video = [e for e in data["entryPoints"] if e["entryPointType"] == "video"]
    assert (
        video[0]["uri"] == event["hangoutLink"] == f"https://meet.google.com/{data['conferenceId']}"
    )
    assert data["conferenceSolution"]["key"] == {"type": "hangoutsMeet"}
    assert event["etag"] != created["etag"]


def test_conference_data_is_ignored_without_version_1(calendar: Any) -> None:
    body = timed(
        "2026-05-01T09:00:00Z",
        "2026-05-01T10:00:00Z",
        conferenceData={
            "createRequest": {
                "requestId": "req-1",
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }
        },
    )
    assert "conferenceData" not in insert(calendar, body)
