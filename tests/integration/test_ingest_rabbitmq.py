"""Ingest through real RabbitMQ: a 2xx means the broker confirmed the message, and a cut
broker turns into 503s, never into a 2xx whose message is lost."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from adapters.broker.pika_publisher import PikaConfirmingPublisher
from adapters.sql.channels import SqlChannels
from tests.conftest import empty_store
from tests.integration.test_ingest_crm import event, signed
from tests.integration.test_ingest_support import build_app, seed_connection
from tests.support.broker import drain
from tests.support.tcp_proxy import TcpProxy

TOKEN = "channel-secret-for-rabbitmq-tests"
CLIENT_STATE = "client-state-for-rabbitmq-tests"


def google_headers(number: int, token: str = TOKEN) -> dict[str, str]:
    return {
        "X-Goog-Channel-ID": "google-channel",
        "X-Goog-Channel-Token": token,
        "X-Goog-Resource-ID": "resource-1",
        "X-Goog-Resource-State": "exists",
        "X-Goog-Message-Number": str(number),
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/primary/events",
    }


@pytest.fixture
def channels(sqlite_engine: sa.Engine) -> Iterator[SqlChannels]:
    seed_connection(sqlite_engine, "conn-google", "google")
    seed_connection(sqlite_engine, "conn-graph", "microsoft", user_id="lucas")
    store = SqlChannels(sqlite_engine)
    store.register("google-channel", "conn-google", "google", TOKEN)
    store.register("graph-subscription", "conn-graph", "microsoft", CLIENT_STATE)
    yield store
    empty_store(sqlite_engine)


def client_for(engine: sa.Engine, publisher: PikaConfirmingPublisher) -> FlaskClient:
    app, _channels = build_app(engine, publisher)  # type: ignore[arg-type]
    return app.test_client()


@pytest.fixture
def client(
    sqlite_engine: sa.Engine, channels: SqlChannels, broker_url: str
) -> Iterator[FlaskClient]:
    publisher = PikaConfirmingPublisher(broker_url, confirm_timeout=2)
    yield client_for(sqlite_engine, publisher)
    publisher.close()


def test_google_notification_is_a_confirmed_hint_on_the_sync_queue(client, broker_url) -> None:
    assert client.post("/webhooks/google", headers=google_headers(7)).status_code == 200
    assert (
        client.post("/webhooks/google", headers=google_headers(8, token="wrong")).status_code == 401
    )

    ((properties, envelope),) = drain(broker_url, "sync")
    assert (envelope.type, envelope.connection_id) == ("google.notification", "conn-google")
    assert envelope.payload["message_number"] == 7
    assert properties["delivery_mode"] == 2


def test_graph_batch_with_mixed_client_states_queues_only_the_valid(client, broker_url) -> None:
    batch = {
        "value": [
            {
                "subscriptionId": "graph-subscription",
                "clientState": CLIENT_STATE,
                "changeType": "updated",
                "resource": "users/lucas/events/1",
            },
            {
                "subscriptionId": "graph-subscription",
                "clientState": "forged",
                "changeType": "deleted",
                "resource": "users/lucas/events/2",
            },
            {
                "subscriptionId": "graph-subscription",
                "clientState": CLIENT_STATE,
                "lifecycleEvent": "missed",
            },
        ]
    }

    response = client.post("/webhooks/microsoft", json=batch)

    assert response.status_code == 202
    ((_p, hint),) = drain(broker_url, "sync")
    assert (hint.connection_id, hint.payload["change_types"]) == ("conn-graph", ["updated"])
    ((_p, lifecycle),) = drain(broker_url, "connections")
    assert lifecycle.payload["lifecycle_event"] == "missed"


def test_crm_event_is_queued_and_a_repeat_keeps_its_message_id(client, broker_url) -> None:
    raw = json.dumps(event("company.saved", {"id": "c9", "name": "Kund AB"})).encode()

    for _ in range(2):
        response = client.post(
            "/crm/events", data=raw, content_type="application/json", headers=signed(raw)
        )
        assert response.status_code == 202

    first, second = drain(broker_url, "crm")
    assert first[1].id == second[1].id  # the consumer's inbox absorbs the repeat
    assert first[1].payload["data"]["name"] == "Kund AB"


def test_broker_cut_while_posting_every_2xx_is_queued_and_the_rest_are_503(
    sqlite_engine: sa.Engine, channels: SqlChannels, broker_url: str
) -> None:
    # Given the ingest app publishing through a proxy we can cut
    parts = urlsplit(broker_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
    publisher = PikaConfirmingPublisher(
        urlunsplit((parts.scheme, netloc, parts.path, "", "")), confirm_timeout=1
    )
    client = client_for(sqlite_engine, publisher)
    statuses: dict[int, int] = {}
    try:
        # When notifications keep coming while the broker's port is cut and restored
        for number in range(1, 401):
            if number == 120:
                proxy.cut()
            if number == 240:
                proxy.restore()
            statuses[number] = client.post(
                "/webhooks/google", headers=google_headers(number)
            ).status_code
        deadline = time.monotonic() + 15
        number = 401
        while client.post("/webhooks/google", headers=google_headers(number)).status_code != 200:
            assert time.monotonic() < deadline, "ingest never recovered after the broker came back"
            time.sleep(0.1)
        statuses[number] = 200
    finally:
        publisher.close()
        proxy.close()

    # Then every 2xx is in the queue, and every other answer was a 503
    accepted = {n for n, status in statuses.items() if status == 200}
    queued = {e.payload["message_number"] for _p, e in drain(broker_url, "sync")}
    assert set(statuses.values()) <= {200, 503}
    assert accepted <= queued
    assert any(status == 503 for status in statuses.values())
    assert {n for n in accepted if n < 120} == set(range(1, 120))
