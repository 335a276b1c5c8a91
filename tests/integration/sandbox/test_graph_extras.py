"""Graph getSchedule and Places rooms through msgraph-sdk."""

from __future__ import annotations

from typing import Any

import httpx
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.users.item.calendar.get_schedule.get_schedule_post_request_body import (
    GetSchedulePostRequestBody,
)
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import (
    CalendarViewRequestBuilder,
)

from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.integration.sandbox.graph_client import timed


def test_get_schedule_for_users_rooms_and_strangers(
    graph: Any, run: Any, bea: dict[str, Any], graph_admin: SandboxAdminClient
) -> None:
    graph_admin.create_room("room1@contoso.com", "Room 1", capacity=6)
    graph_admin.create_event("bea@contoso.com", timed("2026-05-01T09:00:00", "2026-05-01T10:00:00"))
    graph_admin.create_event(
        "bea@contoso.com",
        timed("2026-05-01T11:00:00", "2026-05-01T11:30:00", showAs="tentative", subject="Maybe"),
    )
    graph_admin.create_event(
        "bea@contoso.com",
        timed(
            "2026-05-01T12:00:00",
            "2026-05-01T13:00:00",
            attendees=[{"emailAddress": {"address": "room1@contoso.com"}, "type": "resource"}],
        ),
    )
    body = GetSchedulePostRequestBody(
        schedules=["bea@contoso.com", "room1@contoso.com", "nobody@contoso.com"],
        start_time=DateTimeTimeZone(date_time="2026-05-01T08:00:00", time_zone="UTC"),
        end_time=DateTimeTimeZone(date_time="2026-05-01T14:00:00", time_zone="UTC"),
        availability_view_interval=60,
    )

    answer = run(graph.users.by_user_id(bea["id"]).calendar.get_schedule.post(body))

    bea_info, room_info, stranger = answer.value
    assert bea_info.availability_view == "020120"
    maybe = bea_info.schedule_items[1]
    assert (maybe.status.value, maybe.subject) == ("tentative", "Maybe")
    assert bea_info.schedule_items[0].start.date_time == "2026-05-01T09:00:00.0000000"
    assert bea_info.working_hours.time_zone.name == "Europe/Berlin"
    assert bea_info.working_hours.days_of_week[0].value == "monday"
    assert room_info.availability_view == "000020"
    assert stranger.error.response_code == "ErrorMailRecipientNotFound"


def test_rooms_are_listed_by_the_places_api(
    graph: Any,
    run: Any,
    bea: dict[str, Any],
    graph_admin: SandboxAdminClient,
    sandbox: SandboxServer,
) -> None:
    graph_admin.create_room("room1@contoso.com", "Room 1", capacity=6, building="HQ", floor="3")
    graph_admin.create_room("room2@contoso.com", "Room 2", capacity=12)

    rooms = run(graph.places.graph_room.get()).value

    assert [(r.email_address, r.display_name, r.capacity) for r in rooms] == [
        ("room1@contoso.com", "Room 1", 6),
        ("room2@contoso.com", "Room 2", 12),
    ]
    assert rooms[0].building == "HQ"
    assert rooms[0].floor_number == 3
    token = run(
        graph.request_adapter._authentication_provider.access_token_provider.get_authorization_token(
            ""
        )
    )
    long_form = httpx.get(
        f"{sandbox.graph_api_url}/places/microsoft.graph.room",
        params={"$top": "1"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert [r["emailAddress"] for r in long_form["value"]] == ["room1@contoso.com"]
    assert "$skip=1" in long_form["@odata.nextLink"]


def test_invited_rooms_accept(
    graph: Any, run: Any, bea: dict[str, Any], graph_admin: SandboxAdminClient
) -> None:
    graph_admin.create_room("room1@contoso.com", "Room 1")
    created = graph_admin.create_event(
        "bea@contoso.com",
        timed(
            "2026-05-01T12:00:00",
            "2026-05-01T13:00:00",
            attendees=[{"emailAddress": {"address": "room1@contoso.com"}}],
        ),
    )
    [room] = created["attendees"]
    assert room["type"] == "resource"
    assert room["status"]["response"] == "accepted"
    assert room["emailAddress"]["name"] == "Room 1"


def test_calendar_view_pages_and_mailbox_settings(
    graph: Any, run: Any, bea: dict[str, Any], graph_admin: SandboxAdminClient
) -> None:
    for day in (1, 2, 3):
        body = timed(f"2026-05-0{day}T10:00:00", f"2026-05-0{day}T11:00:00", subject=f"d{day}")
        graph_admin.create_event("bea@contoso.com", body)
    query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
        start_date_time="2026-05-01T00:00:00Z", end_date_time="2026-05-03T00:00:00Z", top=1
    )

    first = run(graph.me.calendar_view.get(RequestConfiguration(query_parameters=query)))
    second = run(graph.me.calendar_view.with_url(first.odata_next_link).get())
    settings = run(graph.me.mailbox_settings.get())

    assert [e.subject for e in first.value + second.value] == ["d1", "d2"]
    assert second.odata_next_link is None
    assert settings.time_zone == "Europe/Berlin"
