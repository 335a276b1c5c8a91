"""Read API: the calendar, lists, timelines and customer cards, scoped to the key's account."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from adapters.directory_file import parse_directory
from adapters.sql.accounts import SqlAccounts
from adapters.sql.appointments import AppointmentRecord, ParticipantRow, RoomRow, SqlAppointments
from adapters.sql.channels import SqlChannels
from adapters.sql.directory import SqlDirectory
from adapters.sql.tables import calendar_connections, event_links
from ingest import create_app
from ingest.ports import IngestPorts
from tests.factories import article_directory
from tests.fakes import RecordingPublisher

NINE = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def meeting(
    account_id: str, appointment_id: str, start: datetime, **fields: object
) -> AppointmentRecord:
    defaults: dict[str, object] = {
        "subject": f"Meeting {appointment_id}",
        "start_at": start,
        "end_at": start + timedelta(hours=1),
        "time_zone": "Europe/Stockholm",
        "organizer_kind": "user",
        "organizer_user_id": "karl",
        "organizer_email": "karl@exempel.se",
        "participants": (
            ParticipantRow("user", "karl@exempel.se", "organizer", user_id="karl"),
            ParticipantRow(
                "contact", "eva@kund.se", "accepted", contact_id="eva", company_id="kund"
            ),
        ),
    }
    defaults.update(fields)
    return AppointmentRecord(
        id=appointment_id, account_id=account_id, origin="calendar", **defaults
    )  # type: ignore[arg-type]


@pytest.fixture
def api(store: sa.Engine) -> tuple[FlaskClient, dict[str, str]]:
    accounts = SqlAccounts(store)
    keys = {"a": accounts.create("a"), "b": accounts.create("b")}
    SqlDirectory(store).load(parse_directory(article_directory(account_id="a")))
    SqlDirectory(store).load(parse_directory(article_directory(account_id="b")))
    ports = IngestPorts(
        accounts=accounts,
        appointments=SqlAppointments(store),
        publisher=RecordingPublisher(),
        channels=SqlChannels(store),
        crm_signing_secret="not-used-here",
        readiness={"database": lambda: None},
    )
    return create_app(ports).test_client(), keys


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_single_appointment_in_the_contract_shape(store: sa.Engine, api) -> None:
    client, keys = api
    SqlAppointments(store).save(
        meeting(
            "a",
            "m1",
            NINE,
            rooms=(RoomRow("room-1@exempel.se", "Room 1"),),
            company_id="kund",
            video_url="https://meet.example/abc",
            appointment_type_id="t1",
        )
    )
    now = datetime.now(UTC)
    with store.begin() as conn:
        conn.execute(
            calendar_connections.insert().values(
                id="conn-1",
                account_id="a",
                user_id="karl",
                provider="google",
                connected_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            event_links.insert().values(
                account_id="a",
                appointment_id="m1",
                connection_id="conn-1",
                provider="google",
                calendar_owner_user_id="karl",
                event_id="evt1",
                ical_uid="uid-1@google.com",
                version_updated=now,
                created_at=now,
                updated_at=now,
            )
        )

    response = client.get("/api/v1/appointments/m1", headers=auth(keys["a"]))

    assert response.status_code == 200
    assert response.get_json() == {
        "id": "m1",
        "crm_id": None,
        "subject": "Meeting m1",
        "description": "",
        "agenda": "",
        "location": "",
        "start": "2026-12-01T08:00:00+00:00",
        "end": "2026-12-01T09:00:00+00:00",
        "all_day": False,
        "time_zone": "Europe/Stockholm",
        "organizer": {"kind": "user", "user_id": "karl", "email": "karl@exempel.se"},
        "participants": [
            {
                "kind": "user",
                "user_id": "karl",
                "email": "karl@exempel.se",
                "response": "organizer",
            },
            {
                "kind": "contact",
                "contact_id": "eva",
                "company_id": "kund",
                "email": "eva@kund.se",
                "response": "accepted",
            },
        ],
        "rooms": [{"email": "room-1@exempel.se", "name": "Room 1"}],
        "company_id": "kund",
        "appointment_type_id": "t1",
        "video_url": "https://meet.example/abc",
        "outcome": None,
        "links": [
            {
                "provider": "google",
                "user_id": "karl",
                "event_id": "evt1",
                "ical_uid": "uid-1@google.com",
                "gone": False,
            }
        ],
        "sync": {"state": "synced", "error": None},
    }


def test_all_day_appointment_shows_dates(store: sa.Engine, api) -> None:
    client, keys = api
    SqlAppointments(store).save(
        meeting(
            "a", "d1", NINE, all_day=True, start_date=date(2026, 12, 1), end_date=date(2026, 12, 2)
        )
    )

    body = client.get("/api/v1/appointments/d1", headers=auth(keys["a"])).get_json()

    assert (body["start"], body["end"], body["all_day"]) == ("2026-12-01", "2026-12-02", True)


def test_another_accounts_appointment_is_not_found_not_forbidden(store: sa.Engine, api) -> None:
    client, keys = api
    SqlAppointments(store).save(meeting("b", "secret-b", NINE))

    single = client.get("/api/v1/appointments/secret-b", headers=auth(keys["a"]))
    listed = client.get("/api/v1/appointments", headers=auth(keys["a"]))

    assert single.status_code == 404
    assert single.get_json()["error"]["code"] == "not_found"
    assert listed.get_json() == []
    assert client.get("/api/v1/appointments/secret-b", headers=auth(keys["b"])).status_code == 200


def test_filters_by_user_contact_company_and_period(store: sa.Engine, api) -> None:
    client, keys = api
    appointments = SqlAppointments(store)
    appointments.save(meeting("a", "with-eva", NINE))
    appointments.save(
        meeting(
            "a",
            "stranger",
            NINE + timedelta(days=1),
            participants=(
                ParticipantRow("user", "karl@exempel.se", "organizer", user_id="karl"),
                ParticipantRow("external", "x@elsewhere.com", "declined"),
            ),
        )
    )
    appointments.save(
        meeting(
            "a",
            "hand-set-company",
            NINE + timedelta(days=2),
            company_id="kund",
            company_set_by_hand=True,
            participants=(
                ParticipantRow("user", "lucas@gbg.exempel.se", "organizer", user_id="lucas"),
            ),
        )
    )

    def ids(**query: str) -> list[str]:
        response = client.get("/api/v1/appointments", query_string=query, headers=auth(keys["a"]))
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()]

    assert ids() == ["with-eva", "stranger", "hand-set-company"]
    assert ids(user="karl") == ["with-eva", "stranger"]
    assert ids(contact="eva") == ["with-eva"]
    assert ids(company="kund") == ["with-eva", "hand-set-company"]
    assert ids(**{"from": "2026-12-02T00:00:00Z", "to": "2026-12-02T23:59:00+00:00"}) == [
        "stranger"
    ]
    assert ids(limit="1", offset="1") == ["stranger"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "yesterday"}, "'from'"),
        ({"to": "2026-12-01T10:00:00"}, "'to' needs a UTC offset"),
        ({"limit": "0"}, "'limit'"),
        ({"limit": "abc"}, "'limit'"),
        ({"offset": "-1"}, "'offset'"),
        ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "'to' must be later"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(api, query: dict[str, str], field: str) -> None:
    client, keys = api

    response = client.get("/api/v1/appointments", query_string=query, headers=auth(keys["a"]))

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"
    assert field in response.get_json()["error"]["message"]


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong", "Basic dXNlcjpwYXNz", "csk_x"])
def test_missing_or_bad_key_is_401_json(api, header: str | None) -> None:
    client, _keys = api
    headers = {"Authorization": header} if header else {}

    response = client.get("/api/v1/appointments", headers=headers)

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_unknown_route_and_method_are_json_errors(api) -> None:
    client, keys = api
    missing = client.get("/api/v1/nothing", headers=auth(keys["a"]))
    wrong_method = client.delete("/api/v1/appointments", headers=auth(keys["a"]))

    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert "GET" in wrong_method.headers["Allow"]


def test_health_and_readiness(store: sa.Engine) -> None:
    def broker_down() -> None:
        raise ConnectionRefusedError("broker down")

    ports = IngestPorts(
        accounts=SqlAccounts(store),
        appointments=SqlAppointments(store),
        publisher=RecordingPublisher(),
        channels=SqlChannels(store),
        crm_signing_secret="not-used-here",
        readiness={"database": lambda: None, "broker": broker_down},
    )
    client = create_app(ports).test_client()

    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json() == {
        "status": "not_ready",
        "checks": {"database": "ok", "broker": "unavailable: ConnectionRefusedError"},
    }
