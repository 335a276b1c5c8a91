"""Google events.watch / channels.stop and the push messages they cause."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from infra.sandbox.client import SandboxAdminClient
from tests.integration.sandbox.google_client import insert, reason, timed, watch
from tests.integration.sandbox.webhook import WebhookReceiver


def test_watch_answers_a_channel_and_sends_sync_first(
    calendar: Any, webhook: WebhookReceiver
) -> None:
    before = time.time()
    channel = watch(calendar, f"{webhook.url}/google", token="tenant=acme", params={"ttl": "3600"})

    [sync] = webhook.wait_for(1)

    assert channel["kind"] == "api#channel"
    assert channel["id"] == "chan-1"
    assert channel["token"] == "tenant=acme"
    assert channel["resourceUri"].endswith("/calendar/v3/calendars/primary/events?alt=json")
    assert before + 3590 < int(channel["expiration"]) / 1000 < before + 3610
    assert sync.path == "/google"
    assert sync.body == b""
    headers = {k: v for k, v in sync.headers.items() if k.startswith("X-Goog-")}
    assert headers == {
        "X-Goog-Channel-Id": "chan-1",
        "X-Goog-Channel-Token": "tenant=acme",
        "X-Goog-Channel-Expiration": headers["X-Goog-Channel-Expiration"],
        "X-Goog-Resource-Id": channel["resourceId"],
        "X-Goog-Resource-Uri": channel["resourceUri"],
        "X-Goog-Resource-State": "sync",
        "X-Goog-Message-Number": "1",
    }
    expiry = parsedate_to_datetime(headers["X-Goog-Channel-Expiration"])
    assert expiry.timestamp() == pytest.approx(int(channel["expiration"]) / 1000, abs=1)
    assert sync.headers["User-Agent"].startswith("APIs-Google")


def test_every_change_sends_exists_with_growing_message_numbers(
    calendar: Any, webhook: WebhookReceiver, google_admin: SandboxAdminClient
) -> None:
    watch(calendar, webhook.url)
    webhook.wait_for(1)

    event = insert(calendar, timed("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z"))
    calendar.events().patch(
        calendarId="primary", eventId=event["id"], body={"summary": "x"}
    ).execute()
    google_admin.delete_event("ann@example.com", event["id"])
    received = webhook.wait_for(4)

    assert [r.headers["X-Goog-Resource-State"] for r in received] == [
        "sync",
        "exists",
        "exists",
        "exists",
    ]
    numbers = [int(r.headers["X-Goog-Message-Number"]) for r in received]
    assert numbers == sorted(set(numbers))
    assert numbers[0] == 1
    assert "X-Goog-Channel-Token" not in received[1].headers


def test_a_stopped_channel_gets_no_more_messages(calendar: Any, webhook: WebhookReceiver) -> None:
    stopped = watch(calendar, f"{webhook.url}/stopped", channel_id="old")
    watch(calendar, f"{webhook.url}/live", channel_id="new")
    webhook.wait_for(2)

    calendar.channels().stop(body={"id": "old", "resourceId": stopped["resourceId"]}).execute()
    insert(calendar, timed("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z"))

    webhook.wait_for(2, path="/live")
    assert len(webhook.settle(0.2)) == 3
    assert [r.headers["X-Goog-Resource-State"] for r in webhook.notifications("/stopped")] == [
        "sync"
    ]


def test_stop_needs_the_matching_resource_id(calendar: Any, webhook: WebhookReceiver) -> None:
    watch(calendar, webhook.url)
    with pytest.raises(HttpError) as missing:
        calendar.channels().stop(body={"id": "chan-1", "resourceId": "wrong"}).execute()
    assert missing.value.resp.status == 404


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"address": "http://example.com/hook"}, "push.webhookUrlNotHttps"),
        ({"type": "carrier_pigeon"}, "invalid"),
        ({"id": "x" * 65}, "invalid"),
    ],
)
def test_bad_channels_are_refused(
    calendar: Any, webhook: WebhookReceiver, body: dict[str, Any], expected: str
) -> None:
    request = {"id": "chan-1", "type": "web_hook", "address": webhook.url, **body}
    with pytest.raises(HttpError) as refused:
        calendar.events().watch(calendarId="primary", body=request).execute()
    assert refused.value.resp.status == 400
    assert reason(refused.value) == expected


def test_channel_ids_must_be_new(calendar: Any, webhook: WebhookReceiver) -> None:
    watch(calendar, webhook.url)
    with pytest.raises(HttpError) as reused:
        watch(calendar, webhook.url)
    assert reason(reused.value) == "channelIdNotUnique"


def test_failing_receivers_are_retried_only_on_5xx(
    calendar: Any, webhook: WebhookReceiver, google_admin: SandboxAdminClient
) -> None:
    webhook.status = 503
    watch(calendar, webhook.url)
    attempts = google_admin.wait_for_deliveries(3, lambda d: d["outcome"] == "failed")
    assert [d["attempt"] for d in attempts] == [1, 2, 3]

    webhook.status = 404
    insert(calendar, timed("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z"))
    google_admin.wait_for_deliveries(4, lambda d: True)
    time.sleep(0.3)  # long enough for a retry that must not come
    assert [d["status"] for d in google_admin.deliveries()][3:] == [404]
