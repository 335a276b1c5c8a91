"""``calsync connections list`` and ``calsync status`` as on-call runs them: a subprocess on
PostgreSQL and RabbitMQ (and on the embedded default), tables for people, JSON for scripts."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from kombu import Connection

from domain.clock import system_clock
from tests.conftest import empty_store
from tests.support.operations_world import seed_operations

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def on_call(calsync: Run, postgres_engine: sa.Engine, broker_url: str) -> Iterator[Run]:
    """``calsync`` on the session's PostgreSQL and RabbitMQ, with the operations world in it."""
    env: dict[str, str] = calsync.env  # type: ignore[attr-defined]
    env["CALSYNC_DATABASE_URL"] = postgres_engine.url.render_as_string(hide_password=False)
    env["CALSYNC_BROKER_URL"] = broker_url
    seed_operations(postgres_engine, system_clock())
    yield calsync
    empty_store(postgres_engine)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_r36_connections_list_json_is_the_apis_list_of_the_account(on_call: Run) -> None:
    shown = json.loads(ok(on_call("connections", "list", "--account", "a", "--json")))

    assert [(c["user_id"], c["provider"], c["status"]) for c in shown] == [
        ("ann", "google", "active"),
        ("bea", "microsoft", "failing"),
        ("cai", "google", "needs_reconnect"),
        ("dan", "microsoft", "disconnected"),
    ]
    lags = {c["user_id"]: c["lag_seconds"] for c in shown}
    assert lags["ann"] == 0
    assert 600 <= lags["bea"] < 600 + 60  # requested 10 minutes before the command ran
    assert 7200 <= lags["cai"] < 7200 + 60
    assert lags["dan"] is None
    assert shown[1]["last_error"] == "ProviderUnavailable: Graph answered 503"
    assert set(shown[0]) == {
        "user_id",
        "provider",
        "status",
        "connected_at",
        "last_synced_at",
        "last_error",
        "lag_seconds",
    }


def test_r36_connections_list_filters_by_status_and_provider(on_call: Run) -> None:
    def users(*options: str) -> list[str]:
        listed = ok(on_call("connections", "list", "--account", "a", "--json", *options))
        return [c["user_id"] for c in json.loads(listed)]

    assert users("--status", "failing") == ["bea"]
    assert users("--provider", "microsoft") == ["bea", "dan"]
    assert users("--provider", "google", "--status", "needs_reconnect") == ["cai"]
    assert users("--provider", "google", "--status", "disconnected") == []
    # b has an ann too: each account sees its own
    b_listed = json.loads(ok(on_call("connections", "list", "--account", "b", "--json")))
    assert [(c["user_id"], c["provider"]) for c in b_listed] == [
        ("ann", "microsoft"),
        ("eve", "google"),
    ]


def test_r36_connections_list_table_shows_status_lag_and_error(on_call: Run) -> None:
    lines = ok(on_call("connections", "list", "--account", "a")).splitlines()

    assert lines[0].split() == [
        "USER", "PROVIDER", "STATUS", "CONNECTED", "LAST", "SYNC", "LAG", "LAST", "ERROR",
    ]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"ann", "bea", "cai", "dan"}
    assert "failing" in rows["bea"]
    assert "10m" in rows["bea"]
    assert "ProviderUnavailable: Graph answered 503" in rows["bea"]
    assert "2h0m" in rows["cai"]
    assert "invalid_grant" in rows["cai"]


def test_connections_list_refuses_bad_values_and_unknown_accounts(on_call: Run) -> None:
    bad_status = on_call("connections", "list", "--account", "a", "--status", "broken")
    bad_provider = on_call("connections", "list", "--account", "a", "--provider", "outlook")
    no_account = on_call("connections", "list", "--account", "nobody")
    missing = on_call("connections", "list")

    for usage in (bad_status, bad_provider, missing):
        assert usage.returncode == 2
        assert usage.stderr.startswith("calsync: usage:")
        assert usage.stdout == ""
    assert "'broken' is not one of 'active', 'failing'" in bad_status.stderr
    assert (no_account.returncode, no_account.stderr) == (
        1,
        "calsync: error: no account 'nobody'\n",
    )


def test_status_json_reports_queues_dead_letters_connections_jobs_and_the_oldest_change(
    on_call: Run,
) -> None:
    env: dict[str, str] = on_call.env  # type: ignore[attr-defined]
    with Connection(env["CALSYNC_BROKER_URL"]) as connection:
        connection.Producer().publish({"hint": 1}, routing_key="sync")

    report = json.loads(ok(on_call("status", "--json")))

    queues = {q["queue"]: q for q in report["queues"]}
    assert queues["sync"] == {"queue": "sync", "messages": 1, "consumers": 0}
    assert report["broker_error"] is None
    assert [(d["queue"], d["count"]) for d in report["dead_letters"]] == [("sync", 1)]
    assert report["connections"] == {
        "active": 2,
        "failing": 2,
        "needs_reconnect": 1,
        "disconnected": 1,
    }
    assert {j["name"]: j["last_error"] for j in report["jobs"]} == {
        "poll_quiet": None,
        "renew_channels": "ProviderUnavailable: 503",
    }
    oldest = report["oldest_unsynced"]
    assert oldest["sync_request"]["what"] == "a/bea"
    waited = datetime.fromisoformat(report["at"]) - datetime.fromisoformat(
        oldest["sync_request"]["since"]
    )
    assert timedelta(minutes=10) <= waited < timedelta(minutes=11)
    assert oldest["outbox_row"]["what"].startswith("outbox ")
    assert oldest["pending_write"]["what"] == "a/apt-1"


def test_status_screen_has_every_section(on_call: Run) -> None:
    screen = ok(on_call("status"))

    for section in ("Queues", "Dead letters", "Connections", "Scheduler", "Oldest change"):
        assert f"\n{section}" in screen
    assert "active 2, failing 2, needs_reconnect 1, disconnected 1" in screen
    assert "renew_channels" in screen
    assert "ProviderUnavailable: 503" in screen
    assert "a/bea" in screen
    assert "retries_exhausted (OperationalError) 1" in screen


def test_status_on_the_embedded_broker_counts_messages_but_not_consumers(calsync: Run) -> None:
    ok(calsync("db", "upgrade"))

    report = json.loads(ok(calsync("status", "--json")))

    assert report["broker_error"] is None
    assert {q["queue"] for q in report["queues"]} >= {"sync", "crm", "writeback", "calsync.dead"}
    assert all(q["messages"] == 0 and q["consumers"] is None for q in report["queues"])
    assert report["connections"] == {
        "active": 0,
        "failing": 0,
        "needs_reconnect": 0,
        "disconnected": 0,
    }
