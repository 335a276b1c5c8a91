"""R36: ``GET /api/v1/connections`` lists the calling account's connections with their shown
status, last sync, last error and lag; filters are checked; another account's never show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from adapters.crypto import TokenCipher
from adapters.directory_file import parse_directory
from adapters.sql.accounts import SqlAccounts
from adapters.sql.appointments import SqlAppointments
from adapters.sql.channels import SqlChannels
from adapters.sql.connection_list import ConnectionFilter, SqlConnectionList
from adapters.sql.connections import SqlConnections, record_sync_progress
from adapters.sql.directory import SqlDirectory
from ingest import create_app
from ingest.openapi_connections import LISTED_CONNECTION
from ingest.ports import IngestPorts
from tests.fakes import RecordingPublisher
from tests.support.operations_world import USERS, directory, seed_connections

#: The clock every store and the app read here: lag is measured against it.
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CONNECTED = NOW - timedelta(days=30)


@pytest.fixture
def connections(store: sa.Engine) -> SqlConnections:
    for account_id, user_ids in USERS.items():
        SqlDirectory(store).load(parse_directory(directory(account_id, user_ids)))
    return SqlConnections(store, TokenCipher("test-key"), clock=lambda: NOW)


@pytest.fixture
def api(store: sa.Engine, connections: SqlConnections) -> tuple[FlaskClient, dict[str, str]]:
    accounts = SqlAccounts(store)
    keys = {"a": accounts.rotate_key("a"), "b": accounts.rotate_key("b")}
    ports = IngestPorts(
        accounts=accounts,
        appointments=SqlAppointments(store),
        publisher=RecordingPublisher(),
        channels=SqlChannels(store),
        crm_signing_secret="not-used-here",
        connection_list=SqlConnectionList(store, clock=lambda: NOW),
        clock=lambda: NOW,
    )
    return create_app(ports).test_client(), keys


def connect(connections: SqlConnections, account: str, user: str, provider: str) -> str:
    return connections.connect(account, user, provider, "{}", now=CONNECTED).id


def finish_sync(store: sa.Engine, connection_id: str, generation: int, started: datetime) -> None:
    """What the sync engine writes with the last page of a run."""
    with store.begin() as conn:
        record_sync_progress(
            conn,
            connection_id,
            cursor="c",
            page_cursor=None,
            finished_generation=generation,
            now=started + timedelta(seconds=5),
            covered_until=started,
        )


@pytest.fixture
def four_states(store: sa.Engine) -> None:
    """a: ann active, bea failing 10 min behind, cai needs reconnect 2 h behind, dan
    disconnected; b: ann active 90 s behind, eve failing (``tests/support/operations_world``)."""
    seed_connections(store, NOW)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def listed(client: FlaskClient, key: str, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/connections{query}", headers=auth(key))
    assert response.status_code == 200, response.get_json()
    for item in response.get_json():  # as /openapi.json documents it
        jsonschema.validate(item, LISTED_CONNECTION)
    return response.get_json()


@pytest.mark.usefixtures("four_states")
def test_r36_lists_the_accounts_connections_with_status_last_sync_error_and_lag(api) -> None:
    client, keys = api

    shown = listed(client, keys["a"])

    assert shown == [
        {
            "user_id": "ann",
            "provider": "google",
            "status": "active",
            "connected_at": CONNECTED.isoformat(),
            "last_synced_at": NOW.isoformat(),
            "last_error": None,
            "lag_seconds": 0,
        },
        {
            "user_id": "bea",
            "provider": "microsoft",
            "status": "failing",
            "connected_at": CONNECTED.isoformat(),
            "last_synced_at": None,
            "last_error": "ProviderUnavailable: Graph answered 503",
            "lag_seconds": 600,
        },
        {
            "user_id": "cai",
            "provider": "google",
            "status": "needs_reconnect",
            "connected_at": CONNECTED.isoformat(),
            "last_synced_at": None,
            "last_error": "invalid_grant",
            "lag_seconds": 7200,
        },
        {
            "user_id": "dan",
            "provider": "microsoft",
            "status": "disconnected",
            "connected_at": CONNECTED.isoformat(),
            "last_synced_at": None,
            "last_error": None,
            "lag_seconds": None,
        },
    ]


@pytest.mark.usefixtures("four_states")
def test_r36_another_accounts_connections_never_show(api) -> None:
    client, keys = api

    a_users = [(c["user_id"], c["provider"]) for c in listed(client, keys["a"])]
    b_users = [(c["user_id"], c["provider"], c["lag_seconds"]) for c in listed(client, keys["b"])]

    # b's ann (microsoft) and eve are not a's, though a has an ann too
    assert a_users == [
        ("ann", "google"),
        ("bea", "microsoft"),
        ("cai", "google"),
        ("dan", "microsoft"),
    ]
    assert b_users == [("ann", "microsoft", 90), ("eve", "google", 0)]
    assert listed(client, keys["b"], "?status=needs_reconnect") == []


@pytest.mark.usefixtures("four_states")
@pytest.mark.parametrize(
    ("query", "users"),
    [
        ("?status=active", ["ann"]),
        ("?status=failing", ["bea"]),
        ("?status=needs_reconnect", ["cai"]),
        ("?status=disconnected", ["dan"]),
        ("?provider=microsoft", ["bea", "dan"]),
        ("?provider=google&status=needs_reconnect", ["cai"]),
        ("?provider=google&status=failing", []),
        ("?status=&provider=", ["ann", "bea", "cai", "dan"]),
        ("?limit=2", ["ann", "bea"]),
        ("?limit=2&offset=3", ["dan"]),
    ],
)
def test_r36_status_provider_and_paging_narrow_the_list(api, query: str, users: list[str]) -> None:
    client, keys = api

    assert [c["user_id"] for c in listed(client, keys["a"], query)] == users


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("?status=broken", "'status' must be one of active, failing, needs_reconnect"),
        ("?status=ACTIVE", "'status' must be one of"),
        ("?provider=outlook", "'provider' must be one of google, microsoft, got 'outlook'"),
        ("?limit=0", "'limit' must be a whole number from 1 to 1000"),
        ("?offset=-1", "'offset' must be a whole number"),
    ],
)
def test_r36_unknown_filter_values_are_400_naming_the_parameter(
    api, query: str, names: str
) -> None:
    client, keys = api

    response = client.get(f"/api/v1/connections{query}", headers=auth(keys["a"]))

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_parameter"
    assert names in error["message"]


def test_r36_the_list_needs_the_accounts_key(api) -> None:
    client, _keys = api

    assert client.get("/api/v1/connections").status_code == 401
    assert client.get("/api/v1/connections", headers=auth("wrong")).status_code == 401


def test_r36_lag_counts_from_the_oldest_request_and_ends_with_the_sync_that_reads_it(
    store: sa.Engine, connections: SqlConnections
) -> None:
    listing = SqlConnectionList(store, clock=lambda: NOW)
    ann = connect(connections, "a", "ann", "google")

    def lag() -> int | None:
        return listing.list("a", ConnectionFilter())[0].lag_seconds

    connections.request_sync(ann, received_at=NOW - timedelta(seconds=40))
    connections.request_sync(ann, received_at=NOW - timedelta(seconds=70))  # queued longer
    connections.request_sync(ann, received_at=NOW - timedelta(seconds=10))
    assert lag() == 70
    generation = connections.acquire_lease(ann, "w", timedelta(minutes=1))
    assert generation is not None
    started = NOW - timedelta(seconds=30)
    connections.request_sync(ann, received_at=NOW - timedelta(seconds=5))  # during the run
    finish_sync(store, ann, generation, started)
    assert lag() == 30  # what came during the run is behind since the run started reading
    again = connections.release_lease(ann, "w", generation)
    assert again is not None
    finish_sync(store, ann, again, NOW - timedelta(seconds=2))
    assert lag() == 0
