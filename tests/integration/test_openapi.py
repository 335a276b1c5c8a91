"""``/openapi.json`` documents exactly the routes the app serves, and answers match it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
import schemathesis
import sqlalchemy as sa
from flask import Flask

from adapters.sql.accounts import SqlAccounts
from adapters.sql.appointments import AppointmentRecord, ParticipantRow, RoomRow, SqlAppointments
from adapters.sql.tables import event_links
from ingest.openapi import document
from tests.fakes import RecordingPublisher
from tests.integration.test_ingest_support import (
    ACCOUNT,
    assert_documented,
    build_app,
    openapi_path,
    seed_connection,
)

#: Methods Flask adds to every rule by itself.
_AUTOMATIC = {"HEAD", "OPTIONS"}


@pytest.fixture
def app(sqlite_engine: sa.Engine) -> Flask:
    return build_app(sqlite_engine, RecordingPublisher())[0]


def served_operations(app: Flask) -> set[tuple[str, str]]:
    return {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or set()) - _AUTOMATIC
    }


def documented_operations() -> set[tuple[str, str]]:
    return {(path, method) for path, item in document()["paths"].items() for method in item}


def test_every_route_is_documented_and_every_documented_route_exists(app: Flask) -> None:
    assert served_operations(app) == documented_operations()


def test_the_document_is_valid_openapi_3_1() -> None:
    assert document()["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(document()).validate()


def test_every_schema_is_valid_json_schema_and_every_ref_resolves() -> None:
    doc = document()
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for ref in _refs(doc):
        node: Any = doc
        for token in ref.removeprefix("#/").split("/"):
            node = node[token]


def test_every_operation_documents_a_success_and_its_errors_as_json() -> None:
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            # A browser route's success may be a redirect (/oauth/{provider}/start: 302).
            assert any(s.startswith(("2", "3")) for s in statuses), (path, method)
            if method == "post":
                assert "413" in statuses, (path, "posts can be too large")
                assert "503" in statuses, (path, "posts publish, so the broker can be down")


def test_the_document_is_served_as_json(app: Flask) -> None:
    response = app.test_client().get("/openapi.json")

    assert response.status_code == 200
    assert response.get_json() == document()
    assert_documented(app, response)


def test_read_api_and_health_answers_match_the_document(store: sa.Engine) -> None:
    app = build_app(store, RecordingPublisher())[0]
    seed_connection(store, "conn-karl", "google")
    key = SqlAccounts(store).rotate_key(ACCOUNT)
    SqlAppointments(store).save(_full_appointment())
    SqlAppointments(store).save(_all_day_appointment())
    _link(store, "m1", "conn-karl")
    client, auth = app.test_client(), {"Authorization": f"Bearer {key}"}

    responses = [
        client.get("/api/v1/appointments", headers=auth),
        client.get("/api/v1/appointments/m1", headers=auth),
        client.get("/api/v1/appointments/d1", headers=auth),
        client.get("/api/v1/appointments/none", headers=auth),
        client.get("/api/v1/appointments", query_string={"limit": "0"}, headers=auth),
        client.get("/api/v1/appointments"),
        client.get("/api/v1/appointments/m1"),
        client.get("/healthz"),
        client.get("/readyz"),
    ]

    assert [r.status_code for r in responses] == [200, 200, 200, 404, 400, 401, 401, 200, 200]
    assert len(responses[0].get_json()) == 2
    assert responses[1].get_json()["links"][0]["event_id"] == "evt1"
    for response in responses:
        assert_documented(app, response)


def test_not_ready_matches_the_document(sqlite_engine: sa.Engine) -> None:
    app = build_app(sqlite_engine, RecordingPublisher())[0]

    def broker_down() -> None:
        raise ConnectionRefusedError("down")

    app.extensions["calsync"].readiness["broker"] = broker_down  # type: ignore[index]
    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert_documented(app, response)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _full_appointment() -> AppointmentRecord:
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    return AppointmentRecord(
        id="m1",
        account_id=ACCOUNT,
        origin="crm",
        subject="Demo",
        start_at=start,
        end_at=start + timedelta(hours=1),
        time_zone="Europe/Stockholm",
        organizer_kind="user",
        organizer_user_id="karl",
        organizer_email="karl@exempel.se",
        company_id="kund",
        video_url="https://meet.example/abc",
        participants=(
            ParticipantRow("user", "karl@exempel.se", "organizer", user_id="karl"),
            ParticipantRow(
                "contact", "eva@kund.se", "accepted", contact_id="eva", company_id="kund"
            ),
            ParticipantRow("external", "x@elsewhere.com", "declined"),
        ),
        rooms=(RoomRow("room-1@exempel.se", "Room 1"), RoomRow("room-2@exempel.se")),
    )


def _link(engine: sa.Engine, appointment_id: str, connection_id: str) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            event_links.insert().values(
                account_id=ACCOUNT,
                appointment_id=appointment_id,
                connection_id=connection_id,
                provider="google",
                calendar_owner_user_id="karl",
                event_id="evt1",
                ical_uid=None,
                version_updated=now,
                created_at=now,
                updated_at=now,
            )
        )


def _all_day_appointment() -> AppointmentRecord:
    return AppointmentRecord(
        id="d1",
        account_id=ACCOUNT,
        origin="calendar",
        all_day=True,
        start_date=datetime(2026, 12, 24, tzinfo=UTC).date(),
        end_date=datetime(2026, 12, 25, tzinfo=UTC).date(),
    )


def test_every_operation_lists_the_servers_own_size_errors_as_json() -> None:
    doc = document()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status in ("414", "431"):
                ref = operation["responses"][status]["$ref"]
                response = doc["components"]["responses"][ref.rsplit("/", 1)[1]]
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)
