"""``POST /webhooks/google``: authentic pushes become sync hints; everything else a JSON 4xx."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from adapters.broker.envelope import MessageType
from tests.fakes import RecordingPublisher
from tests.integration.test_ingest_support import (
    ACCOUNT,
    assert_documented,
    build_app,
    seed_connection,
    stop_channel,
)

CHANNEL = "3f1c0d6e-channel-karl"
TOKEN = "channel-token-3b2a"


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def app(store: sa.Engine, publisher: RecordingPublisher) -> Flask:
    app, channels = build_app(store, publisher, PUBLISH_TIMEOUT=1.5)
    seed_connection(store, "conn-karl", "google")
    channels.register(CHANNEL, "conn-karl", "google", TOKEN, resource_id="res-1")
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def push(**overrides: str | None) -> dict[str, str]:
    """The headers of a genuine push, with some replaced (or removed when None)."""
    headers: dict[str, str | None] = {
        "X-Goog-Channel-ID": CHANNEL,
        "X-Goog-Channel-Token": TOKEN,
        "X-Goog-Resource-ID": "res-1",
        "X-Goog-Resource-State": "exists",
        "X-Goog-Message-Number": "4711",
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/primary/events",
        "X-Goog-Channel-Expiration": "Tue, 19 Nov 2030 01:13:52 GMT",
    }
    headers.update(overrides)
    return {name: value for name, value in headers.items() if value is not None}


def error_of(response: Any) -> str:
    return str(response.get_json()["error"]["code"])


@pytest.mark.parametrize("state", ["sync", "exists", "not_exists"])
def test_a_genuine_push_queues_one_sync_hint(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher, state: str
) -> None:
    # When Google pushes with the channel's token
    response = client.post(
        "/webhooks/google", headers=push(**{"X-Goog-Resource-State": state}), data=b""
    )

    # Then one hint for karl's connection is on the sync queue, confirmed within the budget
    assert response.status_code == 200
    assert response.get_json() == {"status": "accepted"}
    assert_documented(app, response)
    ((queue, envelope),) = publisher.published
    assert queue == "sync"
    assert (envelope.type, envelope.account_id, envelope.connection_id) == (
        MessageType.GOOGLE_NOTIFICATION,
        ACCOUNT,
        "conn-karl",
    )
    assert envelope.payload == {
        "provider": "google",
        "channel_id": CHANNEL,
        "resource_state": state,
        "message_number": 4711,
    }
    assert envelope.trace_id == response.headers["X-Request-ID"]
    assert publisher.timeouts == [1.5]


def test_body_and_content_type_are_ignored(
    client: FlaskClient, publisher: RecordingPublisher
) -> None:
    response = client.post(
        "/webhooks/google", headers=push(), data=b"\xff\xfe not json", content_type="image/png"
    )

    assert response.status_code == 200
    assert len(publisher.published) == 1


@pytest.mark.parametrize(
    "header",
    ["X-Goog-Channel-ID", "X-Goog-Resource-ID", "X-Goog-Resource-State", "X-Goog-Message-Number"],
)
def test_a_missing_header_is_400_naming_it(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher, header: str
) -> None:
    response = client.post("/webhooks/google", headers=push(**{header: None}))

    assert response.status_code == 400
    assert error_of(response) == "missing_header"
    assert header in response.get_json()["error"]["message"]
    assert_documented(app, response)
    assert publisher.published == []


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Goog-Channel-ID", "has spaces"),
        ("X-Goog-Channel-ID", "x" * 65),
        ("X-Goog-Channel-ID", ""),
        ("X-Goog-Resource-ID", "é"),
        ("X-Goog-Message-Number", "-1"),
        ("X-Goog-Message-Number", "one"),
        ("X-Goog-Message-Number", "9" * 20),
        ("X-Goog-Resource-State", "EXISTS!"),
    ],
)
def test_a_malformed_header_is_400_naming_it(
    client: FlaskClient, publisher: RecordingPublisher, header: str, value: str
) -> None:
    response = client.post("/webhooks/google", headers=push(**{header: value}))

    assert response.status_code == 400
    assert error_of(response) == "invalid_header"
    assert header in response.get_json()["error"]["message"]
    assert publisher.published == []


@pytest.mark.parametrize("state", ["add", "update", "sync2"])
def test_a_state_calendar_never_sends_is_400(
    client: FlaskClient, publisher: RecordingPublisher, state: str
) -> None:
    # Drive-style states are a known integration bug (PROVIDERS.md §A1).
    response = client.post("/webhooks/google", headers=push(**{"X-Goog-Resource-State": state}))

    assert response.status_code == 400
    assert "X-Goog-Resource-State" in response.get_json()["error"]["message"]
    assert publisher.published == []


def test_an_unknown_channel_is_404(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher
) -> None:
    response = client.post("/webhooks/google", headers=push(**{"X-Goog-Channel-ID": "nope"}))

    assert response.status_code == 404
    assert error_of(response) == "unknown_channel"
    assert_documented(app, response)
    assert publisher.published == []


def test_a_stopped_channel_is_404(
    store: sa.Engine, client: FlaskClient, publisher: RecordingPublisher
) -> None:
    stop_channel(store, CHANNEL)

    response = client.post("/webhooks/google", headers=push())

    assert response.status_code == 404
    assert publisher.published == []


def test_a_graph_subscription_id_is_not_a_google_channel(
    store: sa.Engine, app: Flask, client: FlaskClient, publisher: RecordingPublisher
) -> None:
    seed_connection(store, "conn-lucas", "microsoft", user_id="lucas")
    app.extensions["calsync"].channels.register("graph-sub-1", "conn-lucas", "microsoft", TOKEN)

    response = client.post("/webhooks/google", headers=push(**{"X-Goog-Channel-ID": "graph-sub-1"}))

    assert response.status_code == 404
    assert publisher.published == []


@pytest.mark.parametrize("token", [None, "", "channel-token-3b2b", TOKEN + " ", TOKEN.upper()])
def test_a_wrong_or_missing_token_is_401(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher, token: str | None
) -> None:
    response = client.post("/webhooks/google", headers=push(**{"X-Goog-Channel-Token": token}))

    assert response.status_code == 401
    assert error_of(response) == "invalid_token"
    assert_documented(app, response)
    assert publisher.published == []


def test_broker_down_is_503_with_retry_after_and_nothing_claimed(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher
) -> None:
    publisher.fail = True

    response = client.post("/webhooks/google", headers=push())

    # Google retries 500/502/503/504 with backoff, so the change is not lost.
    assert response.status_code == 503
    assert error_of(response) == "broker_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert_documented(app, response)
    assert publisher.published == []


def test_an_oversized_body_is_413_json(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher
) -> None:
    response = client.post("/webhooks/google", headers=push(), data=b"x" * (1024 * 1024 + 1))

    assert response.status_code == 413
    assert response.is_json
    assert_documented(app, response)
    assert publisher.published == []


def test_other_methods_are_405_json(client: FlaskClient) -> None:
    response = client.get("/webhooks/google", headers=push())

    assert response.status_code == 405
    assert error_of(response) == "method_not_allowed"
    assert "POST" in response.headers["Allow"]
