"""Fault knobs on both sandboxes, seen through the real client libraries."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.subscription import Subscription

from infra.sandbox.client import SandboxAdminClient, SandboxAdminError
from infra.sandbox.server import SandboxServer
from tests.integration.sandbox.google_client import (
    calendar_service,
    credentials,
    insert,
    reason,
    timed,
    watch,
)
from tests.integration.sandbox.graph_client import error_code, in_hours
from tests.integration.sandbox.graph_client import timed as graph_timed
from tests.integration.sandbox.webhook import WebhookReceiver

EVENTS = "/calendar/v3/calendars/primary/events"


def list_request(calendar: Any) -> Any:
    request = calendar.events().list(calendarId="primary")
    # Shorten google-api-python-client's random backoff (rand() * 2**n seconds) for the test.
    request._rand = lambda: 0.05
    return request


@pytest.mark.parametrize(
    ("status", "expected_reason"),
    [
        (429, "rateLimitExceeded"),
        (403, "rateLimitExceeded"),
        (500, "backendError"),
        (503, "backendError"),
    ],
)
def test_google_status_faults(
    calendar: Any, google_admin: SandboxAdminClient, status: int, expected_reason: str
) -> None:
    google_admin.fail_next(status)

    with pytest.raises(HttpError) as failed:
        list_request(calendar).execute()

    assert failed.value.resp.status == status
    assert reason(failed.value) == expected_reason
    assert failed.value.resp.get("retry-after") == ("1" if status in (429, 503) else None)
    assert list_request(calendar).execute()["items"] == []


def test_google_client_retries_through_a_429(
    calendar: Any, google_admin: SandboxAdminClient
) -> None:
    google_admin.fail_next(429, count=2, retry_after=3)

    assert list_request(calendar).execute(num_retries=2)["items"] == []

    assert [r["status"] for r in google_admin.requests() if r["path"] == EVENTS] == [429, 429, 200]


def test_faults_can_target_a_path_and_a_method(
    calendar: Any, google_admin: SandboxAdminClient
) -> None:
    google_admin.fail_next(500, path="/freeBusy$")
    google_admin.fail_next(503, method="POST", path="/events$")

    assert list_request(calendar).execute()["items"] == []
    with pytest.raises(HttpError) as insert_failed:
        insert(calendar, timed("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z"))
    with pytest.raises(HttpError) as freebusy_failed:
        calendar.freebusy().query(
            body={"timeMin": "2026-05-01T00:00:00Z", "timeMax": "2026-05-02T00:00:00Z", "items": []}
        ).execute()

    assert (insert_failed.value.resp.status, freebusy_failed.value.resp.status) == (503, 500)
    assert google_admin.faults() == {"status": [], "latency": [], "notifications": []}


def test_token_endpoint_faults_need_a_path(
    sandbox: SandboxServer, ann: dict[str, Any], google_admin: SandboxAdminClient
) -> None:
    google_admin.fail_next(503)
    google_admin.fail_next(400, path="^/token$")
    calendar = calendar_service(sandbox, credentials(sandbox, ann["refresh_token"]))

    with pytest.raises(RefreshError):
        calendar.events().list(calendarId="primary").execute()

    with pytest.raises(HttpError) as api_fault:
        calendar.events().list(calendarId="primary").execute()
    assert api_fault.value.resp.status == 503


def test_latency_slows_matching_calls(calendar: Any, google_admin: SandboxAdminClient) -> None:
    google_admin.add_latency(0.3, count=1)

    started = time.monotonic()
    list_request(calendar).execute()
    elapsed = time.monotonic() - started
    list_request(calendar).execute()

    durations = [
        r["finished"] - r["started"] for r in google_admin.requests() if r["path"] == EVENTS
    ]
    assert elapsed >= 0.3
    assert durations[-2] >= 0.3 > durations[-1]


def test_latency_after_holds_the_answer_of_a_change_already_made(
    calendar: Any, google_admin: SandboxAdminClient
) -> None:
    # A caller that dies while waiting leaves the event created but never told of it
    google_admin.add_latency(1.0, count=1, path=EVENTS + "$", after=True)
    insert = calendar.events().insert(
        calendarId="primary",
        body={
            "summary": "Held",
            "start": {"dateTime": "2026-05-04T10:00:00Z"},
            "end": {"dateTime": "2026-05-04T11:00:00Z"},
        },
    )
    done: list[float] = []
    caller = threading.Thread(target=lambda: (insert.execute(), done.append(time.monotonic())))
    started = time.monotonic()
    caller.start()
    while not [e for e in google_admin.events("ann@example.com") if e.get("summary") == "Held"]:
        assert time.monotonic() - started < 5, "the event was never created"
        time.sleep(0.02)
    created = time.monotonic()
    caller.join(timeout=5)

    (answered,) = done
    assert answered - started >= 1.0
    assert created < answered
    assert google_admin.faults()["latency"] == []


def test_request_log_records_user_query_and_timing(
    calendar: Any, google_admin: SandboxAdminClient
) -> None:
    calendar.events().list(calendarId="primary", maxResults=5).execute()

    [record] = [r for r in google_admin.requests() if r["path"] == EVENTS]

    assert record["method"] == "GET"
    assert record["user"] == "ann@example.com"
    assert record["query"]["maxResults"] == "5"
    assert record["status"] == 200
    assert record["started"] <= record["finished"]


def test_unknown_fault_kinds_are_refused(google_admin: SandboxAdminClient) -> None:
    with pytest.raises(SandboxAdminError):
        google_admin._call("POST", "/faults", {"kind": "gremlins"})


def changes(calendar: Any, count: int) -> None:
    for n in range(count):
        insert(calendar, timed(f"2026-05-01T{10 + n}:00:00Z", f"2026-05-01T{10 + n}:30:00Z"))


def states_and_numbers(webhook: WebhookReceiver) -> list[tuple[str, int]]:
    return [
        (r.headers["X-Goog-Resource-State"], int(r.headers["X-Goog-Message-Number"]))
        for r in webhook.notifications()
    ]


def test_google_dropped_notifications(
    calendar: Any, webhook: WebhookReceiver, google_admin: SandboxAdminClient
) -> None:
    watch(calendar, webhook.url)
    webhook.wait_for(1)
    google_admin.drop_notifications(1)

    changes(calendar, 2)

    webhook.wait_for(2)
    assert len(webhook.settle(0.2)) == 2
    assert [d["outcome"] for d in google_admin.deliveries()] == [
        "delivered",
        "dropped",
        "delivered",
    ]


def test_google_duplicated_notifications(
    calendar: Any, webhook: WebhookReceiver, google_admin: SandboxAdminClient
) -> None:
    watch(calendar, webhook.url)
    webhook.wait_for(1)
    google_admin.duplicate_notifications(1)

    changes(calendar, 1)

    received = states_and_numbers(webhook)[:1] + [
        (r.headers["X-Goog-Resource-State"], int(r.headers["X-Goog-Message-Number"]))
        for r in webhook.wait_for(3)[1:]
    ]
    assert received[1] == received[2]


def test_google_reordered_notifications(
    calendar: Any, webhook: WebhookReceiver, google_admin: SandboxAdminClient
) -> None:
    watch(calendar, webhook.url)
    webhook.wait_for(1)
    google_admin.reorder_notifications(2)

    changes(calendar, 2)

    webhook.wait_for(3)
    numbers = [number for _, number in states_and_numbers(webhook)]
    assert numbers[0] == 1
    assert numbers[1] > numbers[2]


def test_graph_retry_handler_honours_retry_after(
    graph: Any, run: Any, bea: dict[str, Any], graph_admin: SandboxAdminClient
) -> None:
    graph_admin.fail_next(429, path="/events$")

    started = time.monotonic()
    assert run(graph.me.events.get()).value == []

    assert time.monotonic() - started >= 1
    assert [r["status"] for r in graph_admin.requests() if r["path"].endswith("/events")] == [
        429,
        200,
    ]


@pytest.mark.parametrize(
    ("status", "code"), [(500, "generalException"), (503, "serviceNotAvailable")]
)
def test_graph_server_errors(
    graph: Any,
    run: Any,
    graph_admin: SandboxAdminClient,
    status: int,
    code: str,
) -> None:
    graph_admin.fail_next(status)

    with pytest.raises(ODataError) as failed:
        run(graph.me.events.get(request_configuration=without_retries()))

    assert failed.value.response_status_code == status
    assert error_code(failed.value) == code


def without_retries() -> RequestConfiguration[Any]:
    """Turn kiota's retry handler off for one call, so a 503 surfaces at once."""
    return RequestConfiguration(options=[RetryHandlerOption(max_retries=0, should_retry=False)])


def test_graph_notification_faults(
    graph: Any,
    run: Any,
    bea: dict[str, Any],
    webhook: WebhookReceiver,
    graph_admin: SandboxAdminClient,
) -> None:
    run(
        graph.subscriptions.post(
            Subscription(
                change_type="created",
                notification_url=webhook.url,
                resource="me/events",
                expiration_date_time=in_hours(1),
                client_state="cs",
            )
        )
    )
    graph_admin.duplicate_notifications(1)
    graph_admin.drop_notifications(1)
    graph_admin.reorder_notifications(2)
    subjects = ["dup", "dropped", "first", "second"]
    ids = {
        graph_admin.create_event(
            "bea@contoso.com", graph_timed("2026-05-01T10:00:00", "2026-05-01T11:00:00", subject=s)
        )["id"]: s
        for s in subjects
    }

    items = webhook.wait_for_items(4)

    assert [ids[i["resourceData"]["id"]] for i in items] == ["dup", "dup", "second", "first"]
