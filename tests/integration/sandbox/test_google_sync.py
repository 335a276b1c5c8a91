"""Google events.list: full sync paging, sync tokens, 410 resync, filters and recurrence."""

from __future__ import annotations

import time
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from infra.sandbox.client import SandboxAdminClient
from tests.integration.sandbox.google_client import insert, reason, timed


def full_sync(calendar: Any, **params: Any) -> tuple[list[list[dict[str, Any]]], str]:
    """Page through events.list; returns the pages and the final nextSyncToken."""
    pages, token = [], None
    while True:
        page = calendar.events().list(calendarId="primary", pageToken=token, **params).execute()
        pages.append(page["items"])
        assert not ("nextPageToken" in page and "nextSyncToken" in page)
        token = page.get("nextPageToken")
        if token is None:
            return pages, page["nextSyncToken"]


def hour(n: int) -> tuple[str, str]:
    return f"2026-05-01T{n:02d}:00:00Z", f"2026-05-01T{n:02d}:30:00Z"


def test_full_sync_pages_and_ends_with_a_sync_token(calendar: Any) -> None:
    ids = [insert(calendar, timed(*hour(n), summary=f"e{n}"))["id"] for n in range(5)]

    pages, sync_token = full_sync(calendar, maxResults=2)

    assert [len(p) for p in pages] == [2, 2, 1]
    assert [e["id"] for p in pages for e in p] == ids
    assert sync_token


def test_incremental_sync_returns_changed_and_cancelled_events_only(calendar: Any) -> None:
    kept, changed, deleted = (insert(calendar, timed(*hour(n)))["id"] for n in range(3))
    _, token = full_sync(calendar)
    calendar.events().patch(
        calendarId="primary", eventId=changed, body={"summary": "new"}
    ).execute()
    calendar.events().delete(calendarId="primary", eventId=deleted).execute()
    added = insert(calendar, timed(*hour(5)))["id"]

    pages, next_token = full_sync(calendar, syncToken=token)

    items = {e["id"]: e for p in pages for e in p}
    assert set(items) == {changed, deleted, added}
    assert kept not in items
    assert items[changed]["summary"] == "new"
    assert items[deleted]["status"] == "cancelled"
    assert "summary" not in items[deleted]
    assert full_sync(calendar, syncToken=next_token)[0] == [[]]


def test_incremental_sync_pages_with_the_same_sync_token(calendar: Any) -> None:
    _, token = full_sync(calendar)
    for n in range(3):
        insert(calendar, timed(*hour(n)))

    pages, _ = full_sync(calendar, syncToken=token, maxResults=2)

    assert [len(p) for p in pages] == [2, 1]


def test_deleted_events_stay_hidden_from_a_full_sync_unless_asked(calendar: Any) -> None:
    event = insert(calendar, timed(*hour(1)))["id"]
    calendar.events().delete(calendarId="primary", eventId=event).execute()

    assert full_sync(calendar)[0] == [[]]
    shown = full_sync(calendar, showDeleted=True)[0][0]
    assert [(e["id"], e["status"]) for e in shown] == [(event, "cancelled")]


@pytest.mark.parametrize(
    "params",
    [
        {"iCalUID": "x@google.com"},
        {"orderBy": "updated"},
        {"privateExtendedProperty": "crmId=1"},
        {"q": "intro"},
        {"sharedExtendedProperty": "crmId=1"},
        {"timeMin": "2026-05-01T00:00:00Z"},
        {"timeMax": "2026-05-01T00:00:00Z"},
        {"updatedMin": "2026-05-01T00:00:00Z"},
        {"showDeleted": False},
    ],
)
def test_parameters_google_forbids_with_a_sync_token_are_refused(
    calendar: Any, params: dict[str, Any]
) -> None:
    _, token = full_sync(calendar)

    with pytest.raises(HttpError) as refused:
        calendar.events().list(calendarId="primary", syncToken=token, **params).execute()

    assert refused.value.resp.status == 400


def test_expired_sync_tokens_get_410_full_sync_required(
    calendar: Any, google_admin: SandboxAdminClient
) -> None:
    insert(calendar, timed(*hour(1)))
    _, token = full_sync(calendar)
    google_admin.expire_sync_tokens("ann@example.com")

    with pytest.raises(HttpError) as gone:
        calendar.events().list(calendarId="primary", syncToken=token).execute()

    assert gone.value.resp.status == 410
    assert reason(gone.value) == "fullSyncRequired"
    pages, fresh = full_sync(calendar)
    assert len(pages[0]) == 1
    assert full_sync(calendar, syncToken=fresh)[0] == [[]]


def test_unknown_sync_token_gets_410(calendar: Any) -> None:
    with pytest.raises(HttpError) as gone:
        calendar.events().list(calendarId="primary", syncToken="made-up").execute()
    assert gone.value.resp.status == 410


def test_a_thousand_events_per_page(calendar: Any, google_admin: SandboxAdminClient) -> None:
    bodies = [timed(*hour(n % 24), summary=f"bulk {n}") for n in range(1200)]
    google_admin.create_events("ann@example.com", bodies, sendUpdates="none")

    started = time.monotonic()
    pages, _ = full_sync(calendar, maxResults=1000)

    assert [len(p) for p in pages] == [1000, 200]
    assert time.monotonic() - started < 5


def test_filters_by_window_text_extended_property_and_ical_uid(calendar: Any) -> None:
    early = insert(calendar, timed(*hour(8), summary="Breakfast"))
    tagged = insert(
        calendar,
        timed(
            *hour(12), summary="Lunch with client", extendedProperties={"private": {"crmId": "7"}}
        ),
    )

    def ids(**params: Any) -> list[str]:
        return [e["id"] for p in full_sync(calendar, **params)[0] for e in p]

    assert ids(timeMin="2026-05-01T10:00:00Z") == [tagged["id"]]
    assert ids(timeMax="2026-05-01T10:00:00Z") == [early["id"]]
    assert ids(q="client") == [tagged["id"]]
    assert ids(privateExtendedProperty="crmId=7") == [tagged["id"]]
    assert ids(iCalUID=early["iCalUID"]) == [early["id"]]
    assert ids(orderBy="updated") == [early["id"], tagged["id"]]


def test_single_events_expands_a_series_into_instances(calendar: Any) -> None:
    series = insert(
        calendar,
        {
            "summary": "Weekly",
            "start": {"dateTime": "2026-05-04T09:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-05-04T09:30:00", "timeZone": "Europe/Berlin"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"],
        },
    )

    pages, _ = full_sync(calendar, singleEvents=True, orderBy="startTime")
    instances = pages[0]

    assert [i["id"] for i in instances] == [
        f"{series['id']}_20260504T070000Z",
        f"{series['id']}_20260511T070000Z",
        f"{series['id']}_20260518T070000Z",
    ]
    assert {i["recurringEventId"] for i in instances} == {series["id"]}
    assert instances[1]["originalStartTime"] == instances[1]["start"]
    assert instances[1]["start"]["dateTime"] == "2026-05-11T09:00:00+02:00"
    assert full_sync(calendar)[0][0][0]["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=3"]


def test_cancelled_instance_shows_only_its_identity_in_incremental_sync(calendar: Any) -> None:
    series = insert(
        calendar,
        {
            "start": {"dateTime": "2026-05-04T09:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-05-04T09:30:00", "timeZone": "Europe/Berlin"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=5"],
        },
    )
    _, token = full_sync(calendar, singleEvents=True)
    instance = f"{series['id']}_20260506T070000Z"

    calendar.events().delete(calendarId="primary", eventId=instance).execute()
    pages, _ = full_sync(calendar, syncToken=token, singleEvents=True)

    assert pages[0] == [
        {
            "kind": "calendar#event",
            "etag": pages[0][0]["etag"],
            "id": instance,
            "status": "cancelled",
            "updated": pages[0][0]["updated"],
            "recurringEventId": series["id"],
            "originalStartTime": {
                "dateTime": "2026-05-06T09:00:00+02:00",
                "timeZone": "Europe/Berlin",
            },
        }
    ]
    remaining, _ = full_sync(calendar, singleEvents=True)
    assert len(remaining[0]) == 4


def test_moving_one_instance_makes_an_exception(calendar: Any) -> None:
    series = insert(
        calendar,
        {
            "start": {"dateTime": "2026-05-04T09:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-05-04T09:30:00", "timeZone": "Europe/Berlin"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=2"],
        },
    )
    instance = f"{series['id']}_20260505T070000Z"

    moved = (
        calendar.events()
        .patch(
            calendarId="primary",
            eventId=instance,
            body={
                "start": {"dateTime": "2026-05-05T15:00:00", "timeZone": "Europe/Berlin"},
                "end": {"dateTime": "2026-05-05T15:30:00", "timeZone": "Europe/Berlin"},
            },
        )
        .execute()
    )

    assert moved["id"] == instance
    assert moved["originalStartTime"]["dateTime"] == "2026-05-05T09:00:00+02:00"
    pages, _ = full_sync(calendar, singleEvents=True)
    assert [i["start"]["dateTime"] for i in pages[0]] == [
        "2026-05-04T09:00:00+02:00",
        "2026-05-05T15:00:00+02:00",
    ]


def test_instances_and_calendar_list(calendar: Any) -> None:
    series = insert(
        calendar,
        {
            "start": {"date": "2026-05-04"},
            "end": {"date": "2026-05-05"},
            "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=3", "EXDATE;VALUE=DATE:20260506"],
        },
    )

    instances = calendar.events().instances(calendarId="primary", eventId=series["id"]).execute()
    entries = calendar.calendarList().list().execute()["items"]

    assert [i["id"] for i in instances["items"]] == [
        f"{series['id']}_20260504",
        f"{series['id']}_20260511",
    ]
    assert instances["items"][0]["originalStartTime"] == {"date": "2026-05-04"}
    assert [(e["id"], e["primary"], e["timeZone"]) for e in entries] == [
        ("ann@example.com", True, "Europe/Berlin")
    ]


def test_recurrence_the_sandbox_cannot_expand_is_refused(calendar: Any) -> None:
    body = {
        "start": {"dateTime": "2026-05-04T09:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-05-04T09:30:00", "timeZone": "Europe/Berlin"},
        "recurrence": ["RRULE:FREQ=HOURLY;COUNT=3"],
    }
    with pytest.raises(HttpError) as refused:
        insert(calendar, body)
    assert refused.value.resp.status == 400
