"""Graph webhooks: the handshake comes first; batches are checked item by item."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from adapters.broker.envelope import MessageType
from adapters.sql.channels import ChannelRecord
from ingest import create_app
from ingest.ports import IngestPorts
from tests.fakes import RecordingPublisher
from tests.integration.test_ingest_support import (
    ACCOUNT,
    assert_documented,
    build_app,
    seed_connection,
    stop_channel,
)

ROUTES = ["/webhooks/microsoft", "/webhooks/microsoft/lifecycle"]
KARL_SUB, LUCAS_SUB, KARL_OLD_SUB = "sub-karl", "sub-lucas", "sub-karl-old"
STATE = {KARL_SUB: "state-karl", LUCAS_SUB: "state-lucas", KARL_OLD_SUB: "state-karl-old"}


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def app(store: sa.Engine, publisher: RecordingPublisher) -> Flask:
    app, channels = build_app(store, publisher)
    seed_connection(store, "conn-karl", "microsoft")
    seed_connection(store, "conn-lucas", "microsoft", user_id="lucas")
    # karl has two live subscriptions, as during a renewal overlap
    channels.register(KARL_SUB, "conn-karl", "microsoft", STATE[KARL_SUB])
    channels.register(KARL_OLD_SUB, "conn-karl", "microsoft", STATE[KARL_OLD_SUB])
    channels.register(LUCAS_SUB, "conn-lucas", "microsoft", STATE[LUCAS_SUB])
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def change(subscription: str, change_type: str = "updated", **fields: Any) -> dict[str, Any]:
    item = {
        "id": "lsgTZMr9KwAAA",
        "subscriptionId": subscription,
        "subscriptionExpirationDateTime": "2030-11-20T18:23:45.9356913Z",
        "clientState": STATE.get(subscription, "whatever"),
        "changeType": change_type,
        "resource": "Users/karl/Events/AAMkAGUwNjQ4ZjIxAAA=",
        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": "AAMkAGUwNjQ4ZjIxAAA="},
    }
    item.update(fields)
    return item


def lifecycle(subscription: str, event: str, **fields: Any) -> dict[str, Any]:
    item = {
        "subscriptionId": subscription,
        "subscriptionExpirationDateTime": "2030-11-20T18:23:45.9356913Z",
        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
        "clientState": STATE.get(subscription, "whatever"),
        "lifecycleEvent": event,
    }
    item.update(fields)
    return item


def post_batch(client: FlaskClient, items: list[Any], route: str = ROUTES[0]) -> Any:
    return client.post(route, json={"value": items})


def rejected(reason: str, source: str = "microsoft") -> float:
    value = REGISTRY.get_sample_value(
        "calsync_webhook_items_rejected_total", {"source": source, "reason": reason}
    )
    return value or 0.0


def published(publisher: RecordingPublisher) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    return [(q, e.type, e.connection_id, e.payload) for q, e in publisher.published]


# --- handshake -----------------------------------------------------------------------------


class ExplodingChannels:
    """A channel store that must not be asked: the handshake answers without it."""

    def find(self, channel_id: str) -> ChannelRecord | None:
        raise AssertionError(f"the handshake looked up {channel_id!r}")

    def find_many(self, channel_ids: Iterable[str]) -> dict[str, ChannelRecord]:
        raise AssertionError("the handshake looked up subscriptions")


@pytest.fixture
def bare_client() -> FlaskClient:
    ports = IngestPorts(
        accounts=None,  # type: ignore[arg-type]
        appointments=None,  # type: ignore[arg-type]
        publisher=RecordingPublisher(fail=True),
        channels=ExplodingChannels(),
        crm_signing_secret="unused",
    )
    return create_app(ports).test_client()


@pytest.mark.parametrize("route", ROUTES)
def test_handshake_echoes_the_decoded_token_as_plain_text(app: Flask, route: str) -> None:
    response = app.test_client().post(
        route + "?validationToken=a%2Bb%20c%3D%C3%A9", content_type="text/plain; charset=utf-8"
    )

    assert response.status_code == 200
    assert response.content_type == "text/plain; charset=utf-8"
    assert response.get_data(as_text=True) == "a+b c=é"
    assert_documented(app, response)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "text/plain; charset=utf-8"),
        (b"{not json", "application/json"),
        (b"\xff\xfe\x00", "application/octet-stream"),
        (json.dumps({"value": [change("no-such-subscription")]}).encode(), "application/json"),
    ],
)
def test_handshake_comes_before_body_database_and_broker(
    bare_client: FlaskClient, route: str, body: bytes, content_type: str
) -> None:
    response = bare_client.post(
        route, query_string={"validationToken": "tok"}, data=body, content_type=content_type
    )

    assert (response.status_code, response.get_data(as_text=True)) == (200, "tok")


@pytest.mark.parametrize("route", ROUTES)
def test_handshake_token_over_1024_characters_is_400(app: Flask, route: str) -> None:
    client = app.test_client()

    longest = client.post(route, query_string={"validationToken": "t" * 1024})
    too_long = client.post(route, query_string={"validationToken": "t" * 1025})

    assert longest.status_code == 200
    assert too_long.status_code == 400
    assert too_long.get_json()["error"]["code"] == "invalid_validation_token"
    assert_documented(app, too_long)


# --- change notifications ------------------------------------------------------------------


def test_a_batch_becomes_one_hint_per_connection(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher
) -> None:
    # Given a batch with three items for karl (two subscriptions) and one for lucas
    items = [
        change(KARL_SUB, "created"),
        change(LUCAS_SUB, "deleted"),
        change(KARL_SUB, "updated"),
        change(KARL_OLD_SUB, "updated"),
    ]

    response = post_batch(client, items)

    # Then each connection gets one sync hint with every change type seen
    assert response.status_code == 202
    assert response.get_json() == {"status": "accepted"}
    assert_documented(app, response)
    assert published(publisher) == [
        (
            "sync",
            MessageType.GRAPH_NOTIFICATION,
            "conn-karl",
            {
                "provider": "microsoft",
                "subscription_id": KARL_SUB,
                "change_types": ["created", "updated"],
            },
        ),
        (
            "sync",
            MessageType.GRAPH_NOTIFICATION,
            "conn-lucas",
            {"provider": "microsoft", "subscription_id": LUCAS_SUB, "change_types": ["deleted"]},
        ),
    ]
    assert {e.account_id for _q, e in publisher.published} == {ACCOUNT}


def test_mixed_client_states_publish_the_valid_and_count_the_rest(
    client: FlaskClient, publisher: RecordingPublisher
) -> None:
    before = rejected("client_state_mismatch")
    items = [
        change(KARL_SUB, clientState="guessed"),
        change(LUCAS_SUB),
        change(KARL_SUB, clientState=STATE[LUCAS_SUB]),  # another subscription's secret
        change(KARL_OLD_SUB, clientState=None),
    ]

    with structlog.testing.capture_logs() as logs:
        response = post_batch(client, items)

    assert response.status_code == 202
    assert [payload["subscription_id"] for *_rest, payload in published(publisher)] == [LUCAS_SUB]
    assert rejected("client_state_mismatch") == before + 3
    dropped = [entry for entry in logs if entry["event"] == "notification item dropped"]
    assert [entry["subscription_id"] for entry in dropped] == [KARL_SUB, KARL_SUB, KARL_OLD_SUB]
    assert "guessed" not in repr(logs)
    assert STATE[LUCAS_SUB] not in repr(logs)


def test_unknown_stopped_and_google_subscriptions_are_dropped_and_counted(
    store: sa.Engine, app: Flask, client: FlaskClient, publisher: RecordingPublisher
) -> None:
    app.extensions["calsync"].channels.register("google-chan", "conn-karl", "google", "g-token")
    stop_channel(store, KARL_OLD_SUB)
    unknown, stopped = rejected("unknown_subscription"), rejected("stopped_subscription")
    items = [
        change("sub-nobody"),
        change(KARL_OLD_SUB),
        change(" "),
        change("google-chan", clientState="g-token"),
    ]

    response = post_batch(client, items)

    assert response.status_code == 202
    assert publisher.published == []
    assert rejected("unknown_subscription") == unknown + 3
    assert rejected("stopped_subscription") == stopped + 1


@pytest.mark.parametrize(
    "item",
    [
        "not an object",
        None,
        [change(KARL_SUB)],
        {"clientState": STATE[KARL_SUB], "changeType": "updated"},
        change(KARL_SUB, subscriptionId=42),
        change(KARL_SUB, changeType=None),
        change(KARL_SUB, changeType="updated; drop table"),
        change(KARL_SUB, lifecycleEvent={"nested": True}),
    ],
)
def test_malformed_items_are_dropped_and_counted(
    client: FlaskClient, publisher: RecordingPublisher, item: Any
) -> None:
    before = rejected("malformed")

    response = post_batch(client, [item, change(LUCAS_SUB)])

    assert response.status_code == 202
    assert [payload["subscription_id"] for *_rest, payload in published(publisher)] == [LUCAS_SUB]
    assert rejected("malformed") == before + 1


def test_a_junk_batch_is_cheap_and_logs_a_bounded_number_of_lines(
    client: FlaskClient, publisher: RecordingPublisher
) -> None:
    before = rejected("unknown_subscription")
    junk = [
        {"subscriptionId": f"sub-{i}", "clientState": "x", "changeType": "updated"}
        for i in range(3000)
    ]

    with structlog.testing.capture_logs() as logs:
        response = post_batch(client, [*junk, change(KARL_SUB)])

    assert response.status_code == 202
    assert len(publisher.published) == 1
    assert rejected("unknown_subscription") == before + 3000
    assert [entry["event"] for entry in logs].count("notification item dropped") == 20
    (summary,) = [entry for entry in logs if entry["event"] == "more notification items dropped"]
    assert summary["count"] == 2980


@pytest.mark.parametrize("items", [[], [change("sub-nobody")]])
def test_a_batch_with_nothing_valid_is_still_202(
    client: FlaskClient, publisher: RecordingPublisher, items: list[Any]
) -> None:
    # Nothing to retry: a 5xx would only make Graph send the same junk again.
    response = post_batch(client, items)

    assert response.status_code == 202
    assert publisher.published == []


# --- lifecycle -----------------------------------------------------------------------------


def test_lifecycle_events_go_to_the_connections_queue(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher
) -> None:
    items = [
        lifecycle(KARL_SUB, "reauthorizationRequired"),
        lifecycle(KARL_SUB, "missed"),
        lifecycle(KARL_SUB, "reauthorizationRequired"),  # repeated in the batch
        lifecycle(LUCAS_SUB, "subscriptionRemoved", clientState="wrong"),
    ]
    before = rejected("client_state_mismatch", source="microsoft_lifecycle")

    response = post_batch(client, items, route="/webhooks/microsoft/lifecycle")

    assert response.status_code == 202
    assert_documented(app, response)
    assert published(publisher) == [
        (
            "connections",
            MessageType.GRAPH_LIFECYCLE,
            "conn-karl",
            {"subscription_id": KARL_SUB, "lifecycle_event": "reauthorizationRequired"},
        ),
        (
            "connections",
            MessageType.GRAPH_LIFECYCLE,
            "conn-karl",
            {"subscription_id": KARL_SUB, "lifecycle_event": "missed"},
        ),
    ]
    after = rejected("client_state_mismatch", source="microsoft_lifecycle")
    assert after == before + 1


def test_one_url_for_both_kinds_routes_each_item_by_its_kind(
    client: FlaskClient, publisher: RecordingPublisher
) -> None:
    # lifecycleNotificationUrl may equal notificationUrl (PROVIDERS.md §B1)
    response = post_batch(client, [change(KARL_SUB), lifecycle(LUCAS_SUB, "missed")])

    assert response.status_code == 202
    assert [(q, t) for q, t, *_ in published(publisher)] == [
        ("sync", MessageType.GRAPH_NOTIFICATION),
        ("connections", MessageType.GRAPH_LIFECYCLE),
    ]


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_broker_down_is_503_so_graph_retries(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher, route: str
) -> None:
    publisher.fail = True

    response = post_batch(client, [change(KARL_SUB), lifecycle(LUCAS_SUB, "missed")], route)

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "broker_unavailable"
    assert "Retry-After" in response.headers
    assert_documented(app, response)
    assert publisher.published == []


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_notifications_need_a_json_content_type(
    app: Flask, route: str, content_type: str | None, publisher: RecordingPublisher
) -> None:
    body = json.dumps({"value": [change(KARL_SUB)]})

    response = app.test_client().post(route, data=body, content_type=content_type)

    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert_documented(app, response)
    assert publisher.published == []


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (b'{"value": {}}', "invalid_body", "'value' array"),
        (b"{}", "invalid_body", "'value' array"),
        (b"[]", "invalid_json", "JSON object"),
        (b'{"value": [', "invalid_json", "not valid JSON"),
        (b'{"value": [NaN]}', "invalid_json", "not valid JSON"),
        (b"\xff\xfe\xfa", "invalid_json", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json", ""),
        (b'{"value": ' + b"[" * 40 + b"]" * 40 + b"}", "invalid_json", "deeper than"),
    ],
)
def test_a_body_that_is_not_a_batch_is_400(
    app: Flask,
    client: FlaskClient,
    publisher: RecordingPublisher,
    *,
    body: bytes,
    code: str,
    words: str,
) -> None:
    response = client.post(ROUTES[0], data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert words in response.get_json()["error"]["message"]
    assert_documented(app, response)
    assert publisher.published == []


def test_an_oversized_batch_is_413_json(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher
) -> None:
    body = json.dumps({"value": [change(KARL_SUB)] * 4000}).encode()
    assert len(body) > 1024 * 1024

    response = client.post(ROUTES[0], data=body, content_type="application/json")

    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"
    assert_documented(app, response)
    assert publisher.published == []
