"""Helpers the ingest tests share, and tests of the helpers themselves.

``assert_documented`` is what keeps ``/openapi.json`` true: every endpoint test passes
its responses through it. A checker that cannot fail proves nothing, so it is tested here.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from flask import Flask
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

from adapters.directory_file import parse_directory
from adapters.sql.accounts import SqlAccounts
from adapters.sql.appointments import SqlAppointments
from adapters.sql.channels import SqlChannels
from adapters.sql.directory import SqlDirectory
from adapters.sql.tables import accounts, calendar_connections, push_channels
from ingest import create_app
from ingest.openapi import document
from ingest.ports import IngestPorts
from tests.factories import article_directory
from tests.fakes import RecordingPublisher

ACCOUNT = "acme"
CRM_SECRET = "crm-signing-secret-for-tests"
_DOC_URI = "urn:calsync:openapi"


def build_app(
    engine: sa.Engine, publisher: RecordingPublisher, **config: Any
) -> tuple[Flask, SqlChannels]:
    """The ingest app on ``engine`` with ``publisher``; returns it with its channel store."""
    channels = SqlChannels(engine)
    known = SqlAccounts(engine)
    ports = IngestPorts(
        accounts=known,
        appointments=SqlAppointments(engine),
        publisher=publisher,
        channels=channels,
        crm_signing_secret=CRM_SECRET,
        readiness={"database": lambda: None},
        known_accounts=known,
    )
    return create_app(ports, {"TESTING": True, **config}), channels


def seed_connection(
    engine: sa.Engine, connection_id: str, provider: str, user_id: str = "karl"
) -> None:
    """A calendar connection of ``user_id`` in :data:`ACCOUNT` (directory loaded if needed)."""
    with engine.connect() as conn:
        loaded = conn.execute(sa.select(accounts.c.id).where(accounts.c.id == ACCOUNT))
        if loaded.first() is None:
            SqlDirectory(engine).load(
                parse_directory(article_directory(with_lucas=True, account_id=ACCOUNT))
            )
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            calendar_connections.insert().values(
                id=connection_id,
                account_id=ACCOUNT,
                user_id=user_id,
                provider=provider,
                connected_at=now,
                created_at=now,
                updated_at=now,
            )
        )


def stop_channel(engine: sa.Engine, channel_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            push_channels.update()
            .where(push_channels.c.id == channel_id)
            .values(stopped_at=datetime.now(UTC))
        )


def openapi_path(rule: str) -> str:
    """Flask's ``/a/<b>`` or ``/a/<int:b>`` as OpenAPI's ``/a/{b}``."""
    return "/".join(
        "{" + segment[1:-1].rpartition(":")[2] + "}" if segment.startswith("<") else segment
        for segment in rule.split("/")
    )


def assert_documented(app: Flask, response: TestResponse) -> None:
    """Fail unless ``response`` is what ``/openapi.json`` promises for its route and status."""
    method = response.request.method.lower()
    rule, _args = app.url_map.bind("localhost").match(
        response.request.path, response.request.method, return_rule=True
    )
    path = openapi_path(rule.rule)
    operation = document()["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method.upper()} {path}: {status} undocumented"
    pointer = f"/paths/{_escape(path)}/{method}/responses/{status}"
    documented = operation["responses"][status]
    if "$ref" in documented:
        pointer = documented["$ref"].removeprefix("#")
        documented = _resolve(pointer)
    for name, header in documented.get("headers", {}).items():
        assert not header.get("required") or name in response.headers, f"{name} missing"
    content, mimetype = documented.get("content", {}), response.mimetype or ""
    assert mimetype in content, f"{path} {status}: {mimetype or 'no type'} undocumented"
    body = response.get_json() if response.is_json else response.get_data(as_text=True)
    schema_pointer = f"{pointer}/content/{_escape(mimetype)}/schema"
    _validator(schema_pointer).validate(body)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _resolve(pointer: str) -> Any:
    node: Any = document()
    for token in pointer.strip("/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


@functools.cache
def _validator(pointer: str) -> jsonschema.Draft202012Validator:
    resource = Resource.from_contents(document(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_DOC_URI, resource)
    return jsonschema.Draft202012Validator({"$ref": f"{_DOC_URI}#{pointer}"}, registry=registry)


# --- the helpers' own tests ---------------------------------------------------------------


@pytest.fixture
def app(sqlite_engine: sa.Engine) -> Flask:
    return build_app(sqlite_engine, RecordingPublisher())[0]


def test_a_documented_response_passes(app: Flask) -> None:
    assert_documented(app, app.test_client().get("/healthz"))


def test_a_body_off_its_schema_fails(app: Flask) -> None:
    @app.get("/healthz-broken")
    def broken() -> dict[str, str]:
        return {"status": "fine"}

    response = app.test_client().get("/healthz-broken")
    # Judge the broken body as if /healthz had sent it.
    response.request.path = "/healthz"

    with pytest.raises(jsonschema.ValidationError, match="'ok' was expected"):
        assert_documented(app, response)


def test_an_undocumented_status_fails(app: Flask) -> None:
    response = app.test_client().post("/webhooks/google", headers={"X-Goog-Channel-ID": "x"})
    response.status_code = 418

    with pytest.raises(AssertionError, match="418 undocumented"):
        assert_documented(app, response)


def test_a_missing_required_header_fails(app: Flask) -> None:
    response = app.test_client().post("/webhooks/google")
    response.status_code = 503

    with pytest.raises(AssertionError, match="Retry-After missing"):
        assert_documented(app, response)


def test_flask_rules_become_openapi_paths() -> None:
    assert openapi_path("/api/v1/appointments/<appointment_id>") == (
        "/api/v1/appointments/{appointment_id}"
    )
    assert openapi_path("/a/<int:n>/b") == "/a/{n}/b"
