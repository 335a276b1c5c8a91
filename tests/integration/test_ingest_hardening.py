"""Issue 15, hardening: hostile query strings and CRM events get a 4xx JSON error, never a 500."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from adapters.sql.accounts import SqlAccounts
from ingest.signature import sign
from tests.fakes import RecordingPublisher
from tests.integration.test_ingest_support import (
    ACCOUNT,
    CRM_SECRET,
    assert_documented,
    build_app,
    seed_connection,
)

AVAILABILITY = "/api/v1/users/karl/availability"
A_DAY = {"from": "2026-12-01T08:00:00+01:00", "to": "2026-12-02T08:00:00+01:00"}


@pytest.fixture
def read_api(store: sa.Engine) -> tuple[FlaskClient, dict[str, str]]:
    app = build_app(store, RecordingPublisher())[0]
    seed_connection(store, "conn-karl", "google")
    key = SqlAccounts(store).rotate_key(ACCOUNT)
    return app.test_client(), {"Authorization": f"Bearer {key}"}


def refusal(response: object) -> tuple[int, str, str]:
    body = response.get_json()["error"]  # type: ignore[attr-defined]
    return response.status_code, body["code"], body["message"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("limit", "\u00b2"),  # superscript two: isdigit() says yes, int() says no
        ("offset", "\u00b2"),
        ("limit", "\u0663\u0660"),  # Arabic-Indic 30: int() reads it as 30
        ("offset", "\u0663"),
        ("limit", "1" * 4301),  # past int()'s 4,300-digit limit
        ("offset", "0" * 13),
    ],
)
def test_list_numbers_take_ascii_digits_only(
    read_api: tuple[FlaskClient, dict[str, str]], name: str, raw: str
) -> None:
    client, auth = read_api

    response = client.get("/api/v1/appointments", query_string={name: raw}, headers=auth)

    assert refusal(response)[:2] == (400, "invalid_parameter")
    assert f"'{name}'" in refusal(response)[2]


@pytest.mark.parametrize("raw", ["\u00b2", "\u0663\u0660", "3" * 4301])
def test_slot_takes_ascii_digits_only(
    read_api: tuple[FlaskClient, dict[str, str]], raw: str
) -> None:
    client, auth = read_api

    response = client.get(AVAILABILITY, query_string={**A_DAY, "slot": raw}, headers=auth)

    assert refusal(response)[:2] == (400, "invalid_parameter")
    assert "'slot'" in refusal(response)[2]


def test_ascii_digits_with_leading_zeros_still_count(
    read_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    client, auth = read_api

    response = client.get("/api/v1/appointments", query_string={"limit": "0010"}, headers=auth)

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("from", "9999-12-31T23:00:00-01:00"),
        ("to", "9999-12-31T23:30:00-00:45"),
        ("from", "0001-01-01T00:30:00+01:00"),
        ("to", "0001-01-01T00:00:00+00:01"),
    ],
)
def test_instants_without_a_utc_equivalent_are_400(
    read_api: tuple[FlaskClient, dict[str, str]], name: str, raw: str
) -> None:
    client, auth = read_api

    response = client.get("/api/v1/appointments", query_string={name: raw}, headers=auth)

    assert refusal(response)[:2] == (400, "invalid_parameter")
    assert f"'{name}'" in refusal(response)[2]
    assert_documented(client.application, response)


def test_the_last_and_first_utc_instants_are_fine(
    read_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    client, auth = read_api
    query = {"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59+00:00"}

    response = client.get("/api/v1/appointments", query_string=query, headers=auth)

    assert response.status_code == 200


# --- CRM events --------------------------------------------------------------------------


@pytest.fixture
def crm(store: sa.Engine) -> tuple[FlaskClient, RecordingPublisher]:
    publisher = RecordingPublisher()
    app = build_app(store, publisher)[0]
    SqlAccounts(store).create(ACCOUNT)
    return app.test_client(), publisher


def post_event(client: FlaskClient, body: dict[str, Any]) -> Any:
    raw = json.dumps(body).encode()  # ensure_ascii: NUL and surrogates travel as \u escapes
    return client.post(
        "/crm/events", data=raw, content_type="application/json", headers=signed(raw)
    )


def signed(raw: bytes) -> dict[str, str]:
    now = int(time.time())
    return {"X-Calsync-Signature": f"t={now},v1={sign(CRM_SECRET, now, raw)}"}


def appointment_event(**data: Any) -> dict[str, Any]:
    return {
        "id": "evt-1",
        "type": "appointment.saved",
        "account_id": ACCOUNT,
        "occurred_at": "2026-12-01T08:00:00Z",
        "data": {
            "id": "a1",
            "organizer_user_id": "karl",
            "all_day_date": "2026-12-24",
            **data,
        },
    }


@pytest.mark.parametrize("field", ["id", "account_id"])
@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb"])
def test_a_lone_surrogate_in_the_event_or_account_id_is_400(
    crm: tuple[FlaskClient, RecordingPublisher], field: str, bad: str
) -> None:
    # message_id_for encodes both as UTF-8: a UnicodeEncodeError (500) before.
    client, publisher = crm

    response = post_event(client, {**appointment_event(), field: bad})

    assert refusal(response)[:2] == (400, "invalid_event")
    assert refusal(response)[2].startswith(f"{field}: holds a lone surrogate")
    assert publisher.published == []
    assert_documented(client.application, response)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"subject": "Demo\u0000"}, "data.subject"),
        ({"subject": "\udc00"}, "data.subject"),
        ({"emails": ["eva@kund.se", "x\u0000@kund.se"]}, "data.emails[1]"),
        ({"time_zone": "Europe/Stockholm\u0000"}, "data.time_zone"),
        ({"extra": {"deep": [{"deeper": "\ud83d"}]}}, "data.extra.deep[0].deeper"),
        ({"sub\u0000ject": "Demo"}, "data: a field name"),
        ({"x": {"\udfff": 1}}, "data.x: a field name"),
    ],
)
def test_a_nul_or_lone_surrogate_anywhere_is_400_naming_the_field(
    crm: tuple[FlaskClient, RecordingPublisher], data: dict[str, Any], field: str
) -> None:
    client, publisher = crm

    response = post_event(client, appointment_event(**data))

    status, code, message = refusal(response)
    assert (status, code) == (400, "invalid_event")
    assert message.startswith(field), message
    assert "NUL" in message or "surrogate" in message
    assert publisher.published == []


def test_a_paired_surrogate_is_an_ordinary_character(
    crm: tuple[FlaskClient, RecordingPublisher],
) -> None:
    client, publisher = crm

    response = post_event(client, appointment_event(subject="Fika \U0001f370"))

    assert response.status_code == 202
    assert publisher.envelopes()[0].payload["data"]["subject"] == "Fika \U0001f370"


@pytest.mark.parametrize("event_type", ["appointment.saved", "appointment.deleted"])
def test_an_event_for_an_account_that_does_not_exist_is_404(
    crm: tuple[FlaskClient, RecordingPublisher], event_type: str
) -> None:
    client, publisher = crm
    body = {**appointment_event(), "type": event_type, "account_id": "nobody"}
    if event_type == "appointment.deleted":
        body["data"] = {"id": "a1"}

    response = post_event(client, body)

    assert refusal(response) == (404, "unknown_account", "no account 'nobody'")
    assert publisher.published == []
    assert_documented(client.application, response)


def test_a_directory_save_may_still_introduce_an_account(
    crm: tuple[FlaskClient, RecordingPublisher],
) -> None:
    # The CRM worker makes the account of a user, contact or company it is told about.
    client, publisher = crm
    body = {
        **appointment_event(),
        "type": "company.saved",
        "account_id": "new-customer",
        "data": {"id": "c1", "name": "Kund AB"},
    }

    response = post_event(client, body)

    assert response.status_code == 202
    assert publisher.envelopes()[0].account_id == "new-customer"
