"""``GET /api/v1/rooms``: Google Directory resources and Graph places, through a connected
user's grant of the asking account, on SQLite and PostgreSQL (which grant is picked is a
store query), through the real google-api-python-client and msgraph-sdk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from adapters.calendar.factory import room_list_for
from adapters.calendar.rooms import Room
from adapters.calendar.stored import StoredTokens
from domain.model import Provider
from infra.bootstrap import Container
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.integration.test_availability import (
    ACCOUNT,
    KARL,
    OTHER_ACCOUNT,
    load_accounts,
    sandbox_settings,
)
from tests.integration.test_ingest_support import assert_documented
from tests.support.calendar_sandbox import QUICK_RETRY, harness_for

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

LUCAS = "lucas@gbg.exempel.se"

ROOMS_CALL = {Provider.GOOGLE: "/resources/calendars", Provider.MICROSOFT: "/places/"}

#: A lasting refusal of the room list as the sandbox can inject it. Graph: 403, as a user
#: without Place.Read.All gets. Google: the sandbox's injected 403 is a rate limit, so 400.
REFUSAL = {Provider.GOOGLE: 400, Provider.MICROSOFT: 403}


@dataclass
class World:
    provider: Provider
    container: Container
    admins: dict[Provider, SandboxAdminClient]
    client: FlaskClient
    keys: dict[str, str]
    people: dict[str, dict[str, Any]]

    @property
    def admin(self) -> SandboxAdminClient:
        return self.admins[self.provider]

    def connect(
        self, user_id: str, provider: Provider | None = None, refresh_token: str | None = None
    ) -> str:
        provider = provider or self.provider
        person = self.people[f"{provider.value}:{user_id}"]
        record = self.container.connections.connect(
            ACCOUNT,
            user_id,
            provider.value,
            StoredTokens(refresh_token or person["refresh_token"]).dump(),
        )
        return record.id

    def rooms(self, key: str | None = None) -> TestResponse:
        response = self.client.get(
            "/api/v1/rooms", headers={"Authorization": f"Bearer {key or self.keys[ACCOUNT]}"}
        )
        assert_documented(self.client.application, response)
        return response

    def room_calls(self, provider: Provider | None = None) -> int:
        provider = provider or self.provider
        path = ROOMS_CALL[provider]
        return sum(1 for r in self.admins[provider].requests() if path in r["path"])

    def status(self, connection_id: str) -> str:
        record = self.container.connections.get(connection_id)
        assert record is not None
        return record.status


def add_rooms(admin: SandboxAdminClient, prefix: str = "") -> None:
    admin.create_room(
        f"{prefix}stora@exempel.se", f"{prefix}Stora rummet", capacity=12, building="HQ", floor="3"
    )
    admin.create_room(f"{prefix}lilla@exempel.se", f"{prefix}Lilla rummet", capacity=4)
    admin.create_room(
        f"{prefix}aulan@exempel.se", f"{prefix}Aulan", capacity=120, building="HQ", floor="1"
    )


@pytest.fixture(params=[Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"])
def world(
    request: pytest.FixtureRequest,
    store: sa.Engine,
    sandbox: SandboxServer,
    admins: dict[Provider, SandboxAdminClient],
    tmp_path: Path,
) -> Iterator[World]:
    for admin in admins.values():
        admin.reset()
    container = Container(sandbox_settings(sandbox, store, tmp_path))
    keys = load_accounts(container)
    people = {
        f"{provider.value}:{user_id}": admin.create_user(email, time_zone="Europe/Stockholm")
        for provider, admin in admins.items()
        for user_id, email in (("karl", KARL), ("lucas", LUCAS))
    }
    add_rooms(admins[request.param])
    yield World(request.param, container, admins, container.http_app().test_client(), keys, people)
    container.close()


def test_the_accounts_rooms_from_the_provider(world: World) -> None:
    world.connect("karl")

    response = world.rooms()

    assert response.status_code == 200, response.get_json()
    provider = world.provider.value
    assert response.get_json() == [
        {
            "email": "aulan@exempel.se",
            "name": "Aulan",
            "capacity": 120,
            "building": "HQ",
            "floor": "1",
            "provider": provider,
        },
        {
            "email": "lilla@exempel.se",
            "name": "Lilla rummet",
            "capacity": 4,
            "building": None,
            "floor": None,
            "provider": provider,
        },
        {
            "email": "stora@exempel.se",
            "name": "Stora rummet",
            "capacity": 12,
            "building": "HQ",
            "floor": "3",
            "provider": provider,
        },
    ]
    assert response.headers["Cache-Control"] == "no-store"


def test_an_account_with_calendars_at_both_providers_gets_both_lists(world: World) -> None:
    other = Provider.MICROSOFT if world.provider is Provider.GOOGLE else Provider.GOOGLE
    add_rooms(world.admins[other], prefix="x-")
    world.connect("karl")
    world.connect("lucas", provider=other)

    response = world.rooms()

    assert response.status_code == 200, response.get_json()
    listed = {(room["email"], room["provider"]) for room in response.get_json()}
    assert len(listed) == 6
    assert ("x-aulan@exempel.se", other.value) in listed
    assert ("aulan@exempel.se", world.provider.value) in listed


def test_a_revoked_grant_is_passed_over_for_the_next_user(world: World) -> None:
    karls = world.connect("karl")
    lucas = world.connect("lucas")
    world.admin.revoke_refresh_tokens(user=KARL)

    response = world.rooms()

    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()) == 3
    assert world.status(karls) == "needs_reconnect"
    assert world.status(lucas) == "active"


def test_a_user_who_may_not_list_rooms_is_passed_over(world: World) -> None:
    world.connect("karl")
    world.connect("lucas")
    world.admin.fail_next(REFUSAL[world.provider], count=1, path=ROOMS_CALL[world.provider])

    response = world.rooms()

    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()) == 3
    assert world.room_calls() == 2


def test_when_no_connected_user_may_list_rooms_it_is_409(world: World) -> None:
    world.connect("karl")
    world.admin.fail_next(REFUSAL[world.provider], count=5, path=ROOMS_CALL[world.provider])

    response = world.rooms()

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "no_room_access"
    assert "karl" in response.get_json()["error"]["message"]


def test_an_account_without_connections_is_409(world: World) -> None:
    response = world.rooms()

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "not_connected"


def test_an_account_whose_connections_all_need_reconnecting_is_409(world: World) -> None:
    world.container.connections.mark_needs_reconnect(world.connect("karl"), "invalid_grant")

    response = world.rooms()

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "needs_reconnect"
    assert world.room_calls() == 0


def test_another_accounts_grants_are_never_used(world: World) -> None:
    world.connect("karl")  # in ACCOUNT

    response = world.rooms(key=world.keys[OTHER_ACCOUNT])

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "not_connected"
    assert world.room_calls() == 0


def test_an_unavailable_provider_is_503(world: World) -> None:
    world.connect("karl")
    world.connect("lucas")
    world.admin.fail_next(503, count=10, path=ROOMS_CALL[world.provider], retry_after=0)

    response = world.rooms()

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "provider_unavailable"


def test_without_an_api_key_it_is_401(world: World) -> None:
    response = world.client.get("/api/v1/rooms")

    assert response.status_code == 401
    assert_documented(world.client.application, response)


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"])
def test_every_page_is_read(
    provider: Provider, sandbox: SandboxServer, admins: dict[Provider, SandboxAdminClient]
) -> None:
    admin = admins[provider]
    admin.reset()
    person = admin.create_user(KARL)
    for number in range(5):
        admin.create_room(f"room-{number}@exempel.se", f"Room {number}", capacity=number)
    credentials = harness_for(provider, sandbox, admin).credentials(person)
    if provider is Provider.MICROSOFT:
        credentials = replace(credentials, user=KARL)
    rooms = room_list_for(provider, page_size=2, retry=QUICK_RETRY)
    try:
        answer = rooms.rooms(credentials)
    finally:
        rooms.close()

    assert [room.email for room in answer.rooms] == [f"room-{n}@exempel.se" for n in range(5)]
    assert answer.rooms[3] == Room("room-3@exempel.se", "Room 3", 3, None, None, provider)
    assert answer.tokens is not None  # refreshed on the first page: the caller must store it
    pages = [r["path"] for r in admin.requests() if ROOMS_CALL[provider] in r["path"]]
    assert len(pages) == 3
    if provider is Provider.GOOGLE:  # at the API root, as admin.googleapis.com serves it
        assert set(pages) == {"/admin/directory/v1/customer/my_customer/resources/calendars"}
