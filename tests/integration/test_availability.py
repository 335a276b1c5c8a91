"""``GET /api/v1/users/{id}/availability`` (R28): free slots live from both sandbox providers.

The app is the one the composition root builds (``Container.http_app``) over the ``store``
fixture, so every test runs on SQLite and on PostgreSQL, once with Google ``freeBusy`` and
once with Graph ``getSchedule``, through the real google-api-python-client and msgraph-sdk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from adapters.calendar.stored import StoredTokens
from adapters.directory_file import parse_directory
from adapters.sql.tables import users
from domain.model import Provider
from infra.bootstrap import Container
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from infra.settings import Settings
from tests.factories import article_directory
from tests.integration.test_ingest_support import assert_documented
from tests.support.calendar_sandbox import sandbox_settings as sandbox_environment

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ACCOUNT, OTHER_ACCOUNT = "exempel", "annan"
KARL = "karl.andersson@exempel.se"

#: Thursday 22 to Wednesday 28 October 2026, Stockholm time: Sunday 25 is when CEST ends.
DST_WEEK = {"from": "2026-10-22T00:00:00+02:00", "to": "2026-10-28T00:00:00+01:00"}

PROVIDER_CALL = {Provider.GOOGLE: "/freeBusy", Provider.MICROSOFT: "/calendar/getSchedule"}


def sandbox_settings(sandbox: SandboxServer, store: sa.Engine, var_dir: Path) -> Settings:
    """The settings ``calsync serve`` would read, pointed at the sandboxes and the store."""
    return Settings.from_env(
        {
            "CALSYNC_VAR_DIR": str(var_dir),
            "CALSYNC_DATABASE_URL": store.url.render_as_string(hide_password=False),
            "CALSYNC_BROKER_URL": "memory://",
            **sandbox_environment(sandbox),
        }
    )


def load_accounts(container: Container) -> dict[str, str]:
    """Karl and Lucas in ``exempel``; Olle in ``annan``. Returns each account's API key."""
    container.directory.load(
        parse_directory(article_directory(with_lucas=True, account_id=ACCOUNT))
    )
    other = {
        "accounts": [
            {
                "id": OTHER_ACCOUNT,
                "name": "Annan AB",
                "users": [{"id": "olle", "name": "Olle", "email": "olle@annan.se"}],
            }
        ]
    }
    container.directory.load(parse_directory(other))
    return {name: container.accounts.rotate_key(name) for name in (ACCOUNT, OTHER_ACCOUNT)}


@dataclass
class World:
    """The app over one store and one sandbox provider, with Karl's calendar there."""

    provider: Provider
    container: Container
    admin: SandboxAdminClient
    client: FlaskClient
    keys: dict[str, str]
    karl: dict[str, Any]

    def connect(self, user_id: str = "karl", refresh_token: str | None = None) -> str:
        record = self.container.connections.connect(
            ACCOUNT,
            user_id,
            self.provider.value,
            StoredTokens(refresh_token or self.karl["refresh_token"]).dump(),
        )
        return record.id

    def book(self, day: int, start: str, end: str, month: int = 10, **fields: Any) -> None:
        """An event in Karl's calendar, in Stockholm wall-clock time."""
        date = f"2026-{month:02d}-{day:02d}"
        if self.provider is Provider.GOOGLE:
            body: dict[str, Any] = {
                "summary": "Busy",
                "start": {"dateTime": f"{date}T{start}:00", "timeZone": "Europe/Stockholm"},
                "end": {"dateTime": f"{date}T{end}:00", "timeZone": "Europe/Stockholm"},
            }
        else:
            body = {
                "subject": "Busy",
                "start": {"dateTime": f"{date}T{start}:00", "timeZone": "Europe/Stockholm"},
                "end": {"dateTime": f"{date}T{end}:00", "timeZone": "Europe/Stockholm"},
            }
        self.admin.create_event(KARL, {**body, **fields})

    def availability(
        self, user_id: str = "karl", key: str | None = None, **params: str
    ) -> TestResponse:
        query = {**DST_WEEK, "slot": "60", **params}
        response = self.client.get(
            f"/api/v1/users/{user_id}/availability",
            query_string={k: v for k, v in query.items() if v is not None},
            headers={"Authorization": f"Bearer {key or self.keys[ACCOUNT]}"},
        )
        assert_documented(self.container_app, response)
        return response

    @property
    def container_app(self) -> Any:
        return self.client.application

    def provider_calls(self) -> int:
        path = PROVIDER_CALL[self.provider]
        return sum(1 for r in self.admin.requests() if r["path"].endswith(path))

    def set_working_hours(self, days: str, start: str, end: str, zone: str) -> None:
        with self.container.engine.begin() as conn:
            conn.execute(
                users.update()
                .where(users.c.account_id == ACCOUNT, users.c.id == "karl")
                .values(work_days=days, work_start=start, work_end=end, time_zone=zone)
            )


@pytest.fixture(params=[Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"])
def world(
    request: pytest.FixtureRequest,
    store: sa.Engine,
    sandbox: SandboxServer,
    admins: dict[Provider, SandboxAdminClient],
    tmp_path: Path,
) -> Iterator[World]:
    provider: Provider = request.param
    admin = admins[provider]
    admin.reset()
    container = Container(sandbox_settings(sandbox, store, tmp_path))
    keys = load_accounts(container)
    karl = admin.create_user(KARL, time_zone="Europe/Stockholm")
    client = container.http_app().test_client()
    yield World(provider, container, admin, client, keys, karl)
    container.close()


def local_starts(body: dict[str, Any]) -> list[str]:
    return [slot["local_start"] for slot in body["slots"]]


def hours(day: str, *starts: int, offset: str) -> list[str]:
    return [f"{day}T{hour:02d}:00:00{offset}" for hour in starts]


def test_working_hours_stay_nine_to_five_local_across_the_dst_change(world: World) -> None:
    world.connect()
    world.book(23, "10:00", "11:00")  # Friday, summer time
    world.book(26, "13:00", "14:30")  # Monday, winter time: also blocks 14:00-15:00
    world.book(24, "10:00", "12:00")  # Saturday: outside working days anyway

    response = world.availability()

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert local_starts(body) == [
        *hours("2026-10-22", *range(9, 17), offset="+02:00"),
        *hours("2026-10-23", 9, 11, 12, 13, 14, 15, 16, offset="+02:00"),
        *hours("2026-10-26", 9, 10, 11, 12, 15, 16, offset="+01:00"),
        *hours("2026-10-27", *range(9, 17), offset="+01:00"),
    ]
    first_utc = {slot["local_start"][:10]: slot["start"] for slot in reversed(body["slots"])}
    assert first_utc["2026-10-22"] == "2026-10-22T07:00:00+00:00"  # 09:00 CEST
    assert first_utc["2026-10-26"] == "2026-10-26T08:00:00+00:00"  # 09:00 CET
    last = {slot["local_end"][:10]: slot["local_end"] for slot in body["slots"]}
    assert last == {
        "2026-10-22": "2026-10-22T17:00:00+02:00",
        "2026-10-23": "2026-10-23T17:00:00+02:00",
        "2026-10-26": "2026-10-26T17:00:00+01:00",
        "2026-10-27": "2026-10-27T17:00:00+01:00",
    }
    assert body["user_id"] == "karl"
    assert body["provider"] == world.provider.value
    assert body["time_zone"] == "Europe/Stockholm"
    assert body["slot_minutes"] == 60
    assert body["working_hours"] == {
        "days": ["monday", "tuesday", "wednesday", "thursday", "friday"],
        "start": "09:00",
        "end": "17:00",
    }
    assert body["from"] == "2026-10-21T22:00:00+00:00"
    assert body["to"] == "2026-10-27T23:00:00+00:00"


def test_the_users_own_working_days_hours_zone_and_slot_length(world: World) -> None:
    world.connect()
    world.set_working_hours("0,2", "08:00", "10:00", "America/New_York")
    world.book(26, "13:00", "13:30")  # Monday 08:00-08:30 in New York (EDT until Nov 1)

    response = world.availability(
        **{"from": "2026-10-26T00:00:00-04:00", "to": "2026-10-29T00:00:00-04:00", "slot": "30"}
    )

    assert response.status_code == 200, response.get_json()
    assert local_starts(response.get_json()) == [
        "2026-10-26T08:30:00-04:00",
        "2026-10-26T09:00:00-04:00",
        "2026-10-26T09:30:00-04:00",
        "2026-10-28T08:00:00-04:00",
        "2026-10-28T08:30:00-04:00",
        "2026-10-28T09:00:00-04:00",
        "2026-10-28T09:30:00-04:00",
    ]
    assert response.get_json()["working_hours"]["days"] == ["monday", "wednesday"]


def test_time_shown_as_free_does_not_block(world: World) -> None:
    world.connect()
    period = {"from": "2026-10-22T09:00:00+02:00", "to": "2026-10-22T12:00:00+02:00"}
    if world.provider is Provider.GOOGLE:
        world.book(22, "09:00", "10:00", transparency="transparent")
    else:
        world.book(22, "09:00", "10:00", showAs="free")
    world.book(22, "11:00", "12:00")

    response = world.availability(**period)

    assert local_starts(response.get_json()) == [
        "2026-10-22T09:00:00+02:00",
        "2026-10-22T10:00:00+02:00",
    ]


def test_every_answer_is_asked_of_the_provider_and_never_cached(world: World) -> None:
    world.connect()
    period = {"from": "2026-10-22T09:00:00+02:00", "to": "2026-10-22T11:00:00+02:00"}

    before = world.availability(**period)
    world.book(22, "09:00", "10:00")
    after = world.availability(**period)

    assert len(before.get_json()["slots"]) == 2
    assert local_starts(after.get_json()) == ["2026-10-22T10:00:00+02:00"]
    assert world.provider_calls() == 2
    assert before.headers["Cache-Control"] == "no-store"
    assert after.get_json()["checked_at"] >= before.get_json()["checked_at"]


def test_refreshed_tokens_are_stored_and_never_answered(world: World) -> None:
    connection_id = world.connect()

    response = world.availability()

    stored = StoredTokens.load(world.container.connections.credentials(connection_id))
    assert stored.access_token
    assert stored.access_token not in response.get_data(as_text=True)
    assert world.karl["refresh_token"] not in response.get_data(as_text=True)


def test_another_accounts_user_is_not_found_like_an_unknown_one(world: World) -> None:
    world.connect()

    theirs = world.availability(user_id="olle")
    unknown = world.availability(user_id="nobody")
    karl_from_elsewhere = world.availability(key=world.keys[OTHER_ACCOUNT])

    assert [r.status_code for r in (theirs, unknown, karl_from_elsewhere)] == [404, 404, 404]
    assert theirs.get_json() == {"error": {"code": "not_found", "message": "no user 'olle'"}}
    assert unknown.get_json()["error"]["code"] == "not_found"
    assert world.provider_calls() == 0


def test_a_user_without_a_calendar_connection_is_a_conflict(world: World) -> None:
    response = world.availability(user_id="lucas")

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "not_connected"
    assert "lucas" in response.get_json()["error"]["message"]


def test_a_connection_needing_reconnection_is_a_conflict(world: World) -> None:
    connection_id = world.connect()
    world.container.connections.mark_needs_reconnect(connection_id, "invalid_grant")

    response = world.availability()

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "needs_reconnect"
    assert world.provider_calls() == 0


def test_a_revoked_grant_is_a_conflict_and_marks_the_connection(world: World) -> None:
    connection_id = world.connect()
    world.admin.revoke_refresh_tokens(user=KARL)

    response = world.availability()

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "needs_reconnect"
    record = world.container.connections.get(connection_id)
    assert record is not None
    assert record.status == "needs_reconnect"


@pytest.mark.parametrize("status", [500, 503])
def test_an_unavailable_provider_is_503(world: World, status: int) -> None:
    world.connect()
    world.admin.fail_next(status, count=10, path=PROVIDER_CALL[world.provider], retry_after=0)

    response = world.availability()

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "provider_unavailable"


def test_an_unreachable_provider_is_503(
    store: sa.Engine, sandbox: SandboxServer, tmp_path: Path
) -> None:
    settings = sandbox_settings(sandbox, store, tmp_path)
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    for provider in (Provider.GOOGLE, Provider.MICROSOFT):
        container = Container(
            replace(settings, google_token_url=dead + "/token", microsoft_token_url=dead + "/token")
        )
        try:
            keys = load_accounts(container)
            container.connections.connect(ACCOUNT, "karl", provider.value, StoredTokens("r").dump())
            response = (
                container.http_app()
                .test_client()
                .get(
                    "/api/v1/users/karl/availability",
                    query_string={**DST_WEEK, "slot": "60"},
                    headers={"Authorization": f"Bearer {keys[ACCOUNT]}"},
                )
            )
        finally:
            container.close()
        assert response.status_code == 503, (provider, response.get_json())
        assert response.get_json()["error"]["code"] == "provider_unavailable"
        with store.begin() as conn:  # next provider, same store
            conn.execute(sa.text("DELETE FROM calendar_connections"))


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"from": None}, "'from' is required"),
        ({"to": None}, "'to' is required"),
        ({"slot": None}, "'slot' is required"),
        ({"from": "yesterday"}, "'from' must be an RFC 3339 date-time"),
        ({"to": "2026-13-01T00:00:00Z"}, "'to' must be an RFC 3339 date-time"),
        ({"from": "2026-10-22T00:00:00"}, "'from' needs a UTC offset"),
        # No UTC instant at all: refused as every read route refuses it (issue 15, item 4)
        ({"from": "0001-01-01T00:00:00+01:00"}, "'from' lies beyond the years 1 to 9999 in UTC"),
        ({"to": "9999-12-31T23:00:00-05:00"}, "'to' lies beyond the years 1 to 9999 in UTC"),
        ({"from": "1969-12-31T00:00:00Z"}, "'from' must lie in the years 1970 to 2999"),
        ({"slot": "abc"}, "'slot' must be a whole number"),
        ({"slot": "0"}, "'slot' must be a whole number from 5 to 1440"),
        ({"slot": "4"}, "'slot' must be a whole number from 5 to 1440"),
        ({"slot": "1441"}, "'slot' must be a whole number from 5 to 1440"),
        ({"slot": "30.5"}, "'slot' must be a whole number"),
        ({"slot": "-30"}, "'slot' must be a whole number"),
        ({"to": "2026-10-21T00:00:00+02:00"}, "'to' must be later than 'from'"),
        ({"to": DST_WEEK["from"]}, "'to' must be later than 'from'"),
        ({"to": "2026-11-21T23:00:01+01:00"}, "at most 31 days"),  # 31 days and a second
    ],
)
def test_every_bad_parameter_is_400_naming_it(
    world: World, params: dict[str, str | None], named: str
) -> None:
    world.connect()

    response = world.availability(**params)  # type: ignore[arg-type]

    assert response.status_code == 400
    assert named in response.get_json()["error"]["message"]
    assert world.provider_calls() == 0


def test_exactly_31_days_is_allowed(world: World) -> None:
    world.connect()

    response = world.availability(to="2026-11-21T23:00:00+01:00")  # 744 hours after 'from'

    assert response.status_code == 200, response.get_json()


def test_without_an_api_key_it_is_401(world: World) -> None:
    response = world.client.get("/api/v1/users/karl/availability", query_string=DST_WEEK)

    assert response.status_code == 401
    assert_documented(world.client.application, response)


def test_no_secret_reaches_the_log(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    connection_id = world.connect()
    world.admin.fail_next(503, count=10, path=PROVIDER_CALL[world.provider], retry_after=0)

    failed = world.availability()
    world.admin.clear_faults()
    answered = world.availability()

    assert [failed.status_code, answered.status_code] == [503, 200]
    logged = capsys.readouterr()
    text = logged.out + logged.err
    stored = json.loads(world.container.connections.credentials(connection_id))
    assert stored["access_token"]
    for secret in (world.karl["refresh_token"], stored["refresh_token"], stored["access_token"]):
        assert secret not in text
