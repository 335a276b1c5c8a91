"""Issue 15, hardening: hostile query strings and CRM events get a 4xx JSON error, never a 500."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from adapters.sql.accounts import SqlAccounts
from tests.fakes import RecordingPublisher
from tests.integration.test_ingest_support import (
    ACCOUNT,
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
