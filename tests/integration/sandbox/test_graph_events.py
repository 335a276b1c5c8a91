"""Graph events: create/get/patch/delete/cancel through msgraph-sdk."""

from __future__ import annotations

from typing import Any

import pytest
from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.attendee_type import AttendeeType
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.event_type import EventType
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.location import Location
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.online_meeting_provider_type import OnlineMeetingProviderType
from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import (
    CancelPostRequestBody,
)

from infra.sandbox.client import SandboxAdminClient
from tests.integration.sandbox.graph_client import error_code, prefer


def when(value: str, zone: str = "UTC") -> DateTimeTimeZone:
    return DateTimeTimeZone(date_time=value, time_zone=zone)


def attendee(address: str, kind: AttendeeType = AttendeeType.Required) -> Attendee:
    return Attendee(email_address=EmailAddress(address=address), type=kind)


def meeting(**fields: Any) -> Event:
    """A one-hour meeting on 1 May 2026, 10:00 Berlin time."""
    values: dict[str, Any] = {
        "subject": "Intro call",
        "start": when("2026-05-01T10:00:00", "W. Europe Standard Time"),
        "end": when("2026-05-01T11:00:00", "W. Europe Standard Time"),
    }
    values.update(fields)
    return Event(**values)


def test_create_fills_server_fields(graph: Any, run: Any, bea: dict[str, Any]) -> None:
    body = meeting(
        body=ItemBody(content_type=BodyType.Html, content="<p>Hello <b>there</b></p>"),
        location=Location(display_name="Room 1"),
        attendees=[attendee("bob@client.com"), attendee("dan@client.com", AttendeeType.Optional)],
    )

    event = run(graph.users.by_user_id(bea["id"]).events.post(body))

    assert event.id
    assert event.i_cal_u_id
    assert event.change_key
    assert event.type == EventType.SingleInstance
    assert event.start.date_time == "2026-05-01T08:00:00.0000000"
    assert event.start.time_zone == "UTC"
    assert event.original_start_time_zone == "W. Europe Standard Time"
    assert event.is_organizer is True
    assert event.organizer.email_address.address == "bea@contoso.com"
    assert event.location.display_name == "Room 1"
    assert event.body_preview == "Hello there"
    assert [
        (a.email_address.address, a.type, a.status.response.value) for a in event.attendees
    ] == [
        ("bob@client.com", AttendeeType.Required, "none"),
        ("dan@client.com", AttendeeType.Optional, "none"),
    ]
    assert event.last_modified_date_time is not None


def test_prefer_outlook_timezone_converts_times(graph: Any, run: Any, bea: dict[str, Any]) -> None:
    created = run(graph.me.events.post(meeting()))
    item = graph.me.events.by_event_id(created.id)

    pacific = run(
        item.get(request_configuration=prefer('outlook.timezone="Pacific Standard Time"'))
    )
    utc = run(
        item.get(request_configuration=prefer('outlook.timezone="UTC"', 'IdType="ImmutableId"'))
    )

    assert (pacific.start.date_time, pacific.start.time_zone) == (
        "2026-05-01T01:00:00.0000000",
        "Pacific Standard Time",
    )
    assert (utc.end.date_time, utc.end.time_zone) == ("2026-05-01T09:00:00.0000000", "UTC")


def test_all_day_events_stay_midnight_to_midnight(
    graph: Any, run: Any, bea: dict[str, Any]
) -> None:
    body = Event(
        subject="Offsite",
        is_all_day=True,
        start=when("2026-05-01T00:00:00", "Europe/Berlin"),
        end=when("2026-05-02T00:00:00", "Europe/Berlin"),
    )
    created = run(graph.me.events.post(body))

    seen = run(
        graph.me.events.by_event_id(created.id).get(
            request_configuration=prefer('outlook.timezone="Pacific Standard Time"')
        )
    )

    assert seen.is_all_day is True
    assert (seen.start.date_time, seen.end.date_time) == (
        "2026-05-01T00:00:00.0000000",
        "2026-05-02T00:00:00.0000000",
    )
    assert seen.start.time_zone == "Pacific Standard Time"


def test_all_day_events_must_start_at_midnight(graph: Any, run: Any, bea: dict[str, Any]) -> None:
    body = meeting(is_all_day=True)
    with pytest.raises(ODataError) as refused:
        run(graph.me.events.post(body))
    assert refused.value.response_status_code == 400


def test_transaction_id_makes_create_idempotent(
    graph: Any, run: Any, bea: dict[str, Any], graph_admin: SandboxAdminClient
) -> None:
    body = meeting(transaction_id="crm-42-create", attendees=[attendee("bob@client.com")])

    first = run(graph.me.events.post(body))
    retried = run(graph.me.events.post(body))

    assert retried.id == first.id
    assert retried.transaction_id == "crm-42-create"
    assert len(graph_admin.events(bea["id"])) == 1
    assert len(graph_admin.invitations("bob@client.com")) == 1


def test_patch_changes_the_change_key_and_sends_updates(
    graph: Any, run: Any, bea: dict[str, Any], graph_admin: SandboxAdminClient
) -> None:
    created = run(graph.me.events.post(meeting(attendees=[attendee("bob@client.com")])))

    patch = Event(
        subject="Renamed", attendees=[attendee("bob@client.com"), attendee("dan@client.com")]
    )
    changed = run(graph.me.events.by_event_id(created.id).patch(patch))

    assert changed.subject == "Renamed"
    assert changed.change_key != created.change_key
    assert changed.last_modified_date_time >= created.last_modified_date_time
    assert changed.start.date_time == created.start.date_time
    assert [(s["recipient"], s["kind"]) for s in graph_admin.invitations()] == [
        ("bob@client.com", "invitation"),
        ("dan@client.com", "invitation"),
        ("bob@client.com", "update"),
    ]


def test_delete_and_unknown_ids(graph: Any, run: Any, bea: dict[str, Any]) -> None:
    created = run(graph.me.events.post(meeting()))
    run(graph.me.events.by_event_id(created.id).delete())

    with pytest.raises(ODataError) as missing:
        run(graph.me.events.by_event_id(created.id).get())

    assert missing.value.response_status_code == 404
    assert error_code(missing.value) == "ErrorItemNotFound"


def test_cancel_sends_cancellations_and_removes_the_event(
    graph: Any, run: Any, bea: dict[str, Any], graph_admin: SandboxAdminClient
) -> None:
    created = run(graph.me.events.post(meeting(attendees=[attendee("bob@client.com")])))

    run(graph.me.events.by_event_id(created.id).cancel.post(CancelPostRequestBody(comment="Sorry")))

    assert [s["kind"] for s in graph_admin.invitations("bob@client.com")] == [
        "invitation",
        "cancellation",
    ]
    assert graph_admin.events(bea["id"])[0]["@sandbox.deleted"] is True


def test_online_meeting_gets_a_teams_join_url_that_sticks(
    graph: Any, run: Any, bea: dict[str, Any]
) -> None:
    created = run(graph.me.events.post(meeting(is_online_meeting=True)))

    changed = run(graph.me.events.by_event_id(created.id).patch(Event(is_online_meeting=False)))

    assert created.online_meeting_provider == OnlineMeetingProviderType.TeamsForBusiness
    assert created.online_meeting.join_url.startswith("https://teams.microsoft.com/l/meetup-join/")
    assert changed.online_meeting.join_url == created.online_meeting.join_url


def test_users_are_reachable_by_id_and_by_principal_name(
    graph: Any, run: Any, bea: dict[str, Any]
) -> None:
    run(graph.users.by_user_id(bea["id"]).events.post(meeting()))

    by_upn = run(graph.users.by_user_id("bea@contoso.com").events.get())
    by_me = run(graph.me.events.get())

    assert [e.id for e in by_upn.value] == [e.id for e in by_me.value]


def test_delegated_tokens_cannot_reach_other_mailboxes(
    graph: Any, run: Any, bea: dict[str, Any], graph_admin: SandboxAdminClient
) -> None:
    carl = graph_admin.create_user("carl@contoso.com")

    with pytest.raises(ODataError) as denied:
        run(graph.users.by_user_id(carl["id"]).events.get())

    assert denied.value.response_status_code == 403
    assert error_code(denied.value) == "ErrorAccessDenied"


def test_admin_events_trigger_invitations_like_outlook(
    graph: Any, run: Any, bea: dict[str, Any], graph_admin: SandboxAdminClient
) -> None:
    body = {
        "subject": "Pricing",
        "start": {"dateTime": "2026-05-01T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-05-01T11:00:00", "timeZone": "UTC"},
        "attendees": [{"emailAddress": {"address": "bob@client.com"}, "type": "required"}],
    }

    created = graph_admin.create_event("bea@contoso.com", body)

    assert run(graph.me.events.by_event_id(created["id"]).get()).subject == "Pricing"
    assert [s["kind"] for s in graph_admin.invitations("bob@client.com")] == ["invitation"]
