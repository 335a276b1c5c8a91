"""The calsync CLI as a user runs it: exit codes, results on stdout, one-line errors on stderr."""

from __future__ import annotations

import json
import socket
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.factories import article_directory, bulk_directory

#: Nothing listens on port 1; the password must never be shown.
UNREACHABLE_DATABASE = "postgresql+psycopg://calsync:pa55word@127.0.0.1:1/calsync"


def test_account_create_prints_only_the_key_and_the_key_reads_the_api(calsync) -> None:
    assert calsync("db", "upgrade").returncode == 0

    created = calsync("account", "create", "acme", "--name", "Acme")

    assert created.returncode == 0
    key = created.stdout.strip()
    assert created.stdout == key + "\n"
    assert key.startswith("csk_")
    assert key not in created.stderr  # logged, but never the key itself


def test_account_create_twice_is_one_line_error_exit_1(calsync) -> None:
    calsync("db", "upgrade")
    calsync("account", "create", "acme")

    again = calsync("account", "create", "acme")

    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr.splitlines()[-1] == "calsync: error: account 'acme' exists already"


def test_rotate_key_for_an_account_made_by_directory_load(calsync, tmp_path: Path) -> None:
    calsync("db", "upgrade")
    (tmp_path / "dir.json").write_text(json.dumps(article_directory()))
    assert calsync("directory", "load", "dir.json").returncode == 0

    rotated = calsync("account", "rotate-key", "exempel")
    missing = calsync("account", "rotate-key", "nobody")

    assert rotated.returncode == 0
    assert rotated.stdout.strip().startswith("csk_")
    assert missing.returncode == 1
    assert missing.stderr.strip().endswith("calsync: error: no account 'nobody'")


def test_directory_load_is_idempotent_and_reports_counts(calsync, tmp_path: Path) -> None:
    calsync("db", "upgrade")
    (tmp_path / "dir.json").write_text(json.dumps(article_directory(with_lucas=True)))

    first = calsync("directory", "load", "dir.json")
    second = calsync("directory", "load", "dir.json")

    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout == "loaded 1 accounts, 2 users, 1 companies, 1 contacts\n"


def test_directory_load_names_the_bad_record_and_loads_nothing(calsync, tmp_path: Path) -> None:
    calsync("db", "upgrade")
    document = article_directory()
    document["accounts"][0]["contacts"][0]["emails"] = ["eva(at)kund.se"]
    (tmp_path / "bad.json").write_text(json.dumps(document))

    result = calsync("directory", "load", "bad.json")

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "calsync: error: bad.json: accounts[0] (exempel).contacts[0] (eva).emails: "
        "'eva(at)kund.se' is not an e-mail address"
    )
    assert calsync("account", "rotate-key", "exempel").returncode == 1  # nothing was loaded


def test_bad_usage_is_exit_2_with_one_line(calsync) -> None:
    missing_file = calsync("directory", "load", "nope.json")
    unknown = calsync("frobnicate")
    missing_arg = calsync("account", "create")

    for result in (missing_file, unknown, missing_arg):
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stderr.startswith("calsync: usage: ")


def test_large_directory_loads_well_under_a_minute(calsync, tmp_path: Path) -> None:
    calsync("db", "upgrade")
    (tmp_path / "big.json").write_text(
        json.dumps(bulk_directory("big", contacts=100_000, users=500))
    )

    started = time.monotonic()
    result = calsync("directory", "load", "big.json", timeout=300)
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    assert result.stdout == "loaded 1 accounts, 500 users, 10000 companies, 100000 contacts\n"
    print(f"100,000 contacts loaded in {elapsed:.1f} s")  # the figure; no timing assertion here


def test_connect_without_the_oauth_app_says_which_variables_are_missing(calsync) -> None:
    calsync("db", "upgrade")
    # With no app at all the sandboxes would stand in: configure Microsoft's only.
    calsync.env["CALSYNC_MICROSOFT_CLIENT_ID"] = "ms-client"

    result = calsync(
        "connect",
        "google",
        "--account",
        "a",
        "--user",
        "u",
        "--refresh-token",
        "secret-refresh-token",
    )

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "calsync: error: cannot connect google: "
        "CALSYNC_GOOGLE_CLIENT_ID and CALSYNC_GOOGLE_CLIENT_SECRET not set"
    )
    assert "secret-refresh-token" not in result.stderr


def test_run_on_a_taken_port_is_one_line_error_exit_1(calsync) -> None:
    calsync("db", "upgrade")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        calsync.env["CALSYNC_LISTEN"] = f"127.0.0.1:{port}"

        result = calsync("run", timeout=60)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        f"calsync: error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "stop what uses it or set CALSYNC_LISTEN to another host:port"
    )
    assert "is in use by another program" not in result.stderr  # not Werkzeug's own lines


def test_version_is_the_installed_package_version(calsync) -> None:
    result = calsync("--version")

    assert result.returncode == 0
    assert result.stdout == f"calsync {version('calsync')}\n"


@pytest.mark.parametrize("command", ["run", "serve", "worker", "scheduler"])
def test_services_refuse_to_start_on_an_unmigrated_database(calsync, command: str) -> None:
    result = calsync(command, timeout=60)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "calsync: error: the database schema is empty (migrations pending): "
        "run `calsync db upgrade`"
    ]


def test_a_command_on_an_unmigrated_database_says_to_run_db_upgrade(calsync) -> None:
    result = calsync("dlq", "stats")

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("calsync: error: the database at sqlite:///")
    assert line.endswith("(no such table: dead_letters): run `calsync db upgrade`")


@pytest.mark.parametrize(
    "command",
    [("dlq", "stats"), ("account", "create", "acme"), ("run",), ("db", "upgrade")],
    ids=" ".join,
)
def test_an_unreachable_database_is_one_line_without_password_or_traceback(
    calsync, command: tuple[str, ...]
) -> None:
    calsync.env["CALSYNC_DATABASE_URL"] = UNREACHABLE_DATABASE

    result = calsync(*command, timeout=60)

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("calsync: error: cannot use the database (")
    assert line.endswith(
        "; is the database at postgresql+psycopg://calsync:***@127.0.0.1:1/calsync reachable?"
    )
    assert "pa55word" not in result.stderr


def test_at_debug_level_a_database_failure_logs_its_traceback(calsync) -> None:
    calsync.env["CALSYNC_DATABASE_URL"] = UNREACHABLE_DATABASE
    calsync.env["CALSYNC_LOG_LEVEL"] = "DEBUG"

    result = calsync("dlq", "stats")

    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("calsync: error: cannot use the database (")
    assert "pa55word" not in result.stderr


def test_a_truncated_directory_file_is_named_once(calsync, tmp_path: Path) -> None:
    calsync("db", "upgrade")
    (tmp_path / "cut.json").write_text('{"accounts": [')

    result = calsync("directory", "load", "cut.json")

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("calsync: error: cut.json: not readable JSON: ")
    assert line.count("cut.json") == 1
