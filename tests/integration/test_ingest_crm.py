"""``POST /crm/events``: signed, valid events are queued whole; the rest get a precise 4xx."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time

from adapters.broker.envelope import MessageType, message_id_for
from adapters.sql.accounts import SqlAccounts
from ingest.signature import sign
from tests.fakes import RecordingPublisher
from tests.integration.test_ingest_support import ACCOUNT, CRM_SECRET, assert_documented, build_app

NOW = "2026-12-01T08:00:00Z"
NOW_UNIX = 1796112000  # NOW as Unix seconds


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def app(store: sa.Engine, publisher: RecordingPublisher) -> Flask:
    # The CRM route reads only whether the event's account exists.
    SqlAccounts(store).create(ACCOUNT)
    return build_app(store, publisher)[0]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def appointment_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "id": "crm-apt-1",
        "organizer_user_id": "karl",
        "subject": "Demo",
        "description": "Product demo",
        "agenda": "1. Intro",
        "location": "Room 1",
        "start": "2026-12-01T09:00:00+01:00",
        "end": "2026-12-01T10:00:00+01:00",
        "time_zone": "Europe/Stockholm",
        "user_ids": ["karl"],
        "contact_ids": ["eva"],
        "emails": ["someone@elsewhere.com"],
        "company_id": "kund",
        "room_emails": ["room-1@exempel.se"],
        "video": "teams",
        "invite": True,
        "appointment_type_id": "t1",
        "outcome": None,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def event(event_type: str = "appointment.saved", data: Any = None, **fields: Any) -> dict[str, Any]:
    body = {
        "id": "evt-0001",
        "type": event_type,
        "account_id": ACCOUNT,
        "occurred_at": "2026-12-01T07:59:58.123Z",
        "data": appointment_data() if data is None else data,
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


def signed(raw: bytes, at: int | None = None, secret: str = CRM_SECRET) -> dict[str, str]:
    t = int(time.time()) if at is None else at
    return {"X-Calsync-Signature": f"t={t},v1={sign(secret, t, raw)}"}


def post_event(client: FlaskClient, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        "/crm/events",
        data=raw,
        content_type="application/json",
        headers={**signed(raw), **headers},
    )


def error(response: Any) -> tuple[int, str, str]:
    body = response.get_json()["error"]
    return response.status_code, body["code"], body["message"]


SAVED_AND_DELETED = [
    ("appointment.saved", appointment_data()),
    ("appointment.saved", appointment_data(start=..., end=..., all_day_date="2026-12-24")),
    ("appointment.saved", {"id": "a2", "organizer_user_id": "karl", "all_day_date": "2026-12-24"}),
    (
        "user.saved",
        {
            "id": "lucas",
            "name": "Lucas",
            "email": "lucas@gbg.exempel.se",
            "aliases": ["l@exempel.se"],
            "time_zone": "Europe/Stockholm",
            "active": True,
        },
    ),
    ("contact.saved", {"id": "p1", "name": "Eva", "emails": ["eva@kund.se"], "company_id": "c1"}),
    ("contact.saved", {"id": "p2", "company_id": None, "active": False}),
    ("company.saved", {"id": "c1", "name": "Kund AB"}),
    ("appointment.deleted", {"id": "crm-apt-1"}),
    ("user.deleted", {"id": "lucas"}),
    ("contact.deleted", {"id": "p1"}),
    ("company.deleted", {"id": "c1"}),
]


@pytest.mark.parametrize(("event_type", "data"), SAVED_AND_DELETED)
def test_a_signed_valid_event_is_queued_whole(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher, event_type: str, data: Any
) -> None:
    body = event(event_type, data)

    response = post_event(client, body)

    assert response.status_code == 202
    assert response.get_json() == {"id": "evt-0001"}
    assert_documented(app, response)
    ((queue, envelope),) = publisher.published
    assert queue == "crm"
    assert envelope.id == message_id_for(ACCOUNT, "evt-0001")
    assert (envelope.type, envelope.account_id, envelope.connection_id) == (
        MessageType.CRM_EVENT,
        ACCOUNT,
        None,
    )
    assert envelope.payload == body


def test_a_repeated_event_is_accepted_under_the_same_message_id(
    store: sa.Engine, client: FlaskClient, publisher: RecordingPublisher
) -> None:
    SqlAccounts(store).create("other")
    first = post_event(client, event())
    again = post_event(client, event())
    other_account = post_event(client, event(account_id="other"))

    assert [r.status_code for r in (first, again, other_account)] == [202, 202, 202]
    ids = [envelope.id for envelope in publisher.envelopes("crm")]
    assert ids[0] == ids[1] == message_id_for(ACCOUNT, "evt-0001")
    assert ids[2] != ids[0]


# --- signature -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        "v1=" + "0" * 64,
        "t=,v1=" + "0" * 64,
        "t=abc,v1=" + "0" * 64,
        "t=1796112000",
        "t=1796112000,v1=not-hex",
        "t=1796112000,t=1796112001,v1=" + "0" * 64,
        "t=1796112000,v1=" + "0" * 5000,
    ],
)
def test_a_missing_or_malformed_signature_is_401(
    app: Flask, publisher: RecordingPublisher, header: str | None
) -> None:
    raw = json.dumps(event()).encode()
    headers = {} if header is None else {"X-Calsync-Signature": header}

    with freeze_time(NOW):
        response = app.test_client().post(
            "/crm/events", data=raw, content_type="application/json", headers=headers
        )

    assert error(response)[:2] == (401, "invalid_signature")
    assert "X-Calsync-Signature" in error(response)[2]
    assert_documented(app, response)
    assert publisher.published == []


def test_a_signature_over_another_body_or_secret_is_401(
    client: FlaskClient, publisher: RecordingPublisher
) -> None:
    raw = json.dumps(event()).encode()
    tampered = raw.replace(b"Demo", b"Dem0")

    other_body = client.post(
        "/crm/events", data=tampered, content_type="application/json", headers=signed(raw)
    )
    other_secret = client.post(
        "/crm/events", data=raw, content_type="application/json", headers=signed(raw, secret="x")
    )

    for response in (other_body, other_secret):
        assert error(response) == (
            401,
            "invalid_signature",
            "the signature does not match the body",
        )
    assert publisher.published == []


def test_any_matching_v1_is_enough_while_the_secret_rotates(
    client: FlaskClient, publisher: RecordingPublisher
) -> None:
    raw = json.dumps(event()).encode()
    t = int(time.time())
    old, new = sign("old-secret", t, raw), sign(CRM_SECRET, t, raw)

    accepted = client.post(
        "/crm/events",
        data=raw,
        content_type="application/json",
        headers={"X-Calsync-Signature": f"t={t}, v1={old}, v0=legacy, v1={new.upper()}"},
    )
    refused = client.post(
        "/crm/events",
        data=raw,
        content_type="application/json",
        headers={"X-Calsync-Signature": f"t={t},v1={old},v1={old[::-1]}"},
    )

    assert accepted.status_code == 202
    assert refused.status_code == 401
    assert len(publisher.published) == 1


@pytest.mark.parametrize(
    ("age", "status"), [(0, 202), (299, 202), (300, 202), (301, 401), (-299, 202), (-301, 401)]
)
def test_the_signature_timestamp_must_be_within_five_minutes(
    client: FlaskClient, publisher: RecordingPublisher, age: int, status: int
) -> None:
    raw = json.dumps(event()).encode()

    with freeze_time(NOW):
        response = client.post(
            "/crm/events",
            data=raw,
            content_type="application/json",
            headers=signed(raw, at=NOW_UNIX - age),
        )

    assert response.status_code == status
    if status == 401:
        assert "outside the 5-minute window" in error(response)[2]
        assert publisher.published == []


# --- body ----------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_signed_body_must_be_sent_as_json(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher, content_type: str
) -> None:
    raw = json.dumps(event()).encode()

    response = client.post("/crm/events", data=raw, content_type=content_type, headers=signed(raw))

    assert error(response)[:2] == (415, "unsupported_media_type")
    assert_documented(app, response)
    assert publisher.published == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (event(id=...), "body: 'id' is a required property"),
        (event(id=""), "id: '' should be non-empty"),
        (event(colour="red"), "body: Additional properties are not allowed ('colour' was"),
        (event("appointment.created"), "type: 'appointment.created' is not one of"),
        (event(account_id=7), "account_id: 7 is not of type 'string'"),
        (event(occurred_at="2026-12-01T09:00:00"), "occurred_at: '2026-12-01T09:00:00' is not a"),
        (event(data=[]), "data: [] is not of type 'object'"),
        (
            event(data=appointment_data(start="tomorrow")),
            "data.start: 'tomorrow' is not a 'date-time'",
        ),
        (
            event(data=appointment_data(end="2026-13-01T10:00:00Z")),
            "data.end: '2026-13-01T10:00:00Z' is not a 'date-time'",
        ),
        (
            event(data=appointment_data(user_ids=["karl", 42])),
            "data.user_ids[1]: 42 is not of type",
        ),
        (event(data=appointment_data(emails=["nope"])), "data.emails[0]: 'nope' is not a 'email'"),
        (event(data=appointment_data(video="zoom")), "data.video: 'zoom' is not one of"),
        (event(data=appointment_data(invite="yes")), "data.invite: 'yes' is not of type 'boolean'"),
        (event(data=appointment_data(colour="red")), "data: Additional properties are not allowed"),
        (event(data=appointment_data(organizer_user_id=...)), "data: 'organizer_user_id' is a"),
        (event(data=appointment_data(end=...)), "data: 'end' is a dependency of 'start'"),
        (event(data=appointment_data(all_day_date="2026-12-01")), "data: needs either 'start'"),
        (event(data=appointment_data(start=..., end=...)), "data: needs either 'start'"),
        (
            event(data=appointment_data(end="2026-12-01T07:59:59Z")),
            "data.end: must not be earlier than data.start",
        ),
        (event(data=appointment_data(time_zone="Mars/Olympus")), "data.time_zone: 'Mars/Olympus'"),
        (event("user.saved", {"id": "u"}), "data: 'email' is a required property"),
        (event("company.saved", {"id": "c", "name": 5}), "data.name: 5 is not of type 'string'"),
        (event("contact.deleted", {"id": "p1", "name": "x"}), "data: Additional properties"),
    ],
)
def test_an_invalid_event_is_400_naming_the_field(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher, body: Any, message: str
) -> None:
    response = post_event(client, body)

    status, code, text = error(response)
    assert (status, code) == (400, "invalid_event")
    assert text.startswith(message), text
    assert_documented(app, response)
    assert publisher.published == []


def test_a_huge_wrong_value_is_not_echoed_whole(client: FlaskClient) -> None:
    response = post_event(client, event(data=appointment_data(subject=["x" * 100_000])))

    status, _code, text = error(response)
    assert status == 400
    assert text == (
        "data.subject: the value (too long to show) does not meet type: ['string', 'null']"
    )


def test_a_list_that_is_too_long_is_refused_before_its_items_are_read(client: FlaskClient) -> None:
    emails = [f"guest{i}@elsewhere.com" for i in range(1001)]

    response = post_event(client, event(data=appointment_data(emails=emails)))

    assert error(response)[2] == (
        "data.emails: the value (too long to show) does not meet maxItems: 1000"
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b"not json",
        b'{"id": NaN}',
        b"\xff\xfe\xfd",
        b'{"id": ' + b"1" * 5000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"data": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}",
    ],
)
def test_a_signed_body_that_is_not_a_json_object_is_400(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher, raw: bytes
) -> None:
    response = post_event(client, raw)

    assert error(response)[:2] == (400, "invalid_json")
    assert_documented(app, response)
    assert publisher.published == []


def test_an_oversized_body_is_413_json(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher
) -> None:
    response = post_event(client, event(data=appointment_data(description="x" * 1024 * 1024)))

    assert error(response)[:2] == (413, "request_entity_too_large")
    assert_documented(app, response)
    assert publisher.published == []


def test_broker_down_is_503_and_nothing_is_claimed(
    app: Flask, client: FlaskClient, publisher: RecordingPublisher
) -> None:
    publisher.fail = True

    response = post_event(client, event())

    assert error(response)[:2] == (503, "broker_unavailable")
    assert response.headers["Retry-After"] == "5"
    assert_documented(app, response)
    assert publisher.published == []
