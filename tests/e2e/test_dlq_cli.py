"""``calsync dlq`` as on-call runs it: a subprocess on PostgreSQL and RabbitMQ, exit codes,
results on stdout, one-line errors on stderr, JSON logs, and what reached the queues."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.broker import topology
from adapters.broker.envelope import Envelope
from adapters.sql import dead_letters
from adapters.sql.dead_letters import DeadLetter
from adapters.sql.tables import dead_letter_audit
from adapters.sql.tables import dead_letters as dead_letters_table
from tests.conftest import empty_store, queue_depth
from tests.e2e.conftest import CALSYNC
from tests.integration.test_worker_base import take_all

Run = Callable[..., subprocess.CompletedProcess[str]]
SYNC = topology.SYNC.name
OPERATIONAL = "sqlalchemy.exc.OperationalError"


@pytest.fixture
def dlq(calsync: Run, postgres_engine: sa.Engine, broker_url: str) -> Iterator[Run]:
    """``calsync`` on the session's PostgreSQL store and RabbitMQ vhost; the store is emptied
    afterwards (the vhost's queues are purged by ``broker_url``)."""
    env: dict[str, str] = calsync.env  # type: ignore[attr-defined]
    env["CALSYNC_DATABASE_URL"] = postgres_engine.url.render_as_string(hide_password=False)
    env["CALSYNC_BROKER_URL"] = broker_url
    yield calsync
    empty_store(postgres_engine)


def letter(
    engine: sa.Engine,
    *,
    queue: str = SYNC,
    reason: str = "retries_exhausted",
    error_class: str = OPERATIONAL,
    account: str = "acme",
    minutes_ago: int = 10,
    envelope: Envelope | None = None,
    replay_count: int = 0,
) -> tuple[int, Envelope]:
    """Park one dead letter as the parker would, with our failure headers; its id and body."""
    envelope = envelope or Envelope(
        type="sync.requested",
        payload={"connection_id": "conn-1", "refresh_token": "1//s3cret"},
        account_id=account,
        connection_id="conn-1",
    )
    failed = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    headers = {
        "trace_id": envelope.trace_id,
        "account_id": account,
        "calsync-attempt": 3,
        "calsync-reason": reason,
        "calsync-attempts": 3,
        "calsync-original-queue": queue,
        "calsync-error-class": error_class,
        "calsync-error-message": "connection refused",
        "calsync-first-failed-at": (failed - timedelta(seconds=40)).isoformat(),
        "calsync-last-failed-at": failed.isoformat(),
    }
    with engine.begin() as conn:
        letter_id = dead_letters.park(
            conn,
            DeadLetter(
                queue=queue,
                reason=reason,
                headers=headers,
                body=envelope.to_json(),
                attempts=3,
                first_failed_at=failed - timedelta(seconds=40),
                last_failed_at=failed,
                parked_at=failed,
                message_id=envelope.id,
                routing_key=queue,
                error_class=error_class,
                error_message="connection refused",
                account_id=account,
                trace_id=envelope.trace_id,
            ),
        )
        if replay_count:
            conn.execute(
                dead_letters_table.update()
                .where(dead_letters_table.c.id == letter_id)
                .values(replay_count=replay_count, last_replayed_at=failed)
            )
    return letter_id, envelope


def rows(engine: sa.Engine) -> dict[int, dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(sa.select(dead_letters_table)).mappings()
        return {int(r["id"]): dict(r) for r in result}


def audit(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = sa.select(dead_letter_audit).order_by(dead_letter_audit.c.id)
        return [dict(r) for r in conn.execute(query).mappings()]


def together(run: Run, *commands: Sequence[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run independent commands at once (each is a fresh Python process)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda argv: run(*argv), commands))


def log_lines(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- reading --------------------------------------------------------------------------------------


def test_stats_list_and_show_read_the_parked_letters(dlq, postgres_engine) -> None:
    # Given letters that each one filter would leave out, and one message that died twice
    a, envelope = letter(postgres_engine, minutes_ago=10)
    earlier, _ = letter(postgres_engine, minutes_ago=300, envelope=envelope, replay_count=1)
    crm, _ = letter(postgres_engine, queue="crm", minutes_ago=8)
    letter(postgres_engine, reason="permanent", minutes_ago=20)
    letter(postgres_engine, error_class="workers.errors.Retriable", minutes_ago=30)
    letter(postgres_engine, account="other", minutes_ago=40)
    g, _ = letter(postgres_engine, minutes_ago=5)

    # When on-call reads them
    stats, listed, filtered, shown, missing = together(
        dlq,
        ["dlq", "stats"],
        ["dlq", "list", "--limit", "3"],
        [
            "dlq",
            "list",
            "--json",
            "--queue",
            SYNC,
            "--reason",
            "retries_exhausted",
            "--error-class",
            OPERATIONAL,
            "--account",
            "acme",
            "--since",
            "2h",
        ],
        ["dlq", "show", str(a)],
        ["dlq", "show", "999999"],
    )

    # Then stats count per queue, with the never-replayed ones and the top reasons
    assert stats.returncode == 0, stats.stderr
    header, sync_line, crm_line = stats.stdout.splitlines()
    assert header.split() == ["QUEUE", "DEAD", "PENDING", "OLDEST", "FAILURE", "TOP", "REASONS"]
    assert sync_line.split()[:3] == [SYNC, "6", "5"]
    assert sync_line.endswith(
        "retries_exhausted (OperationalError) 4, permanent (OperationalError) 1, "
        "retries_exhausted (Retriable) 1"
    )
    assert crm_line.split()[:3] == ["crm", "1", "1"]
    # The list is newest first, limited, and says how many more there are
    assert listed.returncode == 0, listed.stderr
    table = listed.stdout.splitlines()
    assert table[0].split()[:4] == ["ID", "LAST", "FAILURE", "QUEUE"]
    assert [int(line.split()[0]) for line in table[1:4]] == [g, crm, a]
    assert table[0].endswith("ERROR")
    assert table[3].endswith(f"{OPERATIONAL}: connection refused")  # the class and the reason
    assert table[4] == "… 4 more (--limit 7 shows them all)"
    # Every filter narrows: only two letters pass them all
    assert filtered.returncode == 0, filtered.stderr
    assert [item["id"] for item in json.loads(filtered.stdout)] == [g, a]
    # Show has the headers, the body with its secrets redacted, and every death of the message
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"dead letter {a}\n")
    assert "  reason:       retries_exhausted\n" in shown.stdout
    assert f'"trace_id": "{envelope.trace_id}"' in shown.stdout
    assert f'"id": "{envelope.id}"' in shown.stdout
    assert '"refresh_token": "[redacted]"' in shown.stdout
    assert "1//s3cret" not in shown.stdout
    failures = shown.stdout.split("failures (2, oldest first):\n")[1].splitlines()
    assert [int(line.split()[0]) for line in failures[1:3]] == [earlier, a]
    # A missing letter is a reported failure, in one line
    assert (missing.returncode, missing.stdout) == (1, "")
    assert one_error_line(missing) == "calsync: error: no dead letter 999999"


# -- replay ---------------------------------------------------------------------------------------


def test_replay_puts_a_letter_back_with_its_message_id_and_marks_it_replayed(
    dlq, postgres_engine, broker_url
) -> None:
    # Given a parked letter of the sync queue
    letter_id, envelope = letter(postgres_engine)

    # When on-call replays it
    result = dlq("dlq", "replay", str(letter_id), "--by", "alice")

    # Then it is back on its queue: same body, same message id, replay headers, fresh attempts
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"replayed 1 dead letter \(sync 1\); run ([0-9a-f]{32})\n", result.stdout)
    assert match, result.stdout
    ((headers, properties, body),) = take_all(broker_url, SYNC)
    assert (properties["message_id"], body) == (envelope.id, envelope.to_json())
    assert headers["calsync-replay-count"] == 1
    assert headers["calsync-replayed-by"] == "alice"
    assert headers["calsync-replayed-from"] == letter_id
    replayed_at = datetime.fromisoformat(headers["calsync-replayed-at"])
    assert abs(datetime.now(UTC) - replayed_at) < timedelta(minutes=1)
    assert headers["trace_id"] == envelope.trace_id
    assert not any(k in headers for k in ("calsync-attempt", "calsync-reason", "x-death"))
    # The letter is kept, marked replayed, with an audit row and a log line
    row = rows(postgres_engine)[letter_id]
    assert (row["replay_count"], row["last_replayed_at"] is not None) == (1, True)
    ((entry),) = audit(postgres_engine)
    assert (entry["action"], entry["actor"], entry["dead_letter_id"]) == (
        "replay",
        "alice",
        letter_id,
    )
    assert (entry["run_id"], entry["message_id"]) == (match.group(1), envelope.id)
    logged = [line for line in log_lines(result.stderr) if line["event"] == "dead letter replayed"]
    assert [(line["dead_letter_id"], line["actor"]) for line in logged] == [(letter_id, "alice")]
    assert "replaying" not in result.stderr  # no progress bar off a terminal


def test_bulk_replay_shows_the_count_needs_yes_and_keeps_its_rate(
    dlq, postgres_engine, broker_url
) -> None:
    # Given four letters of the sync queue, one replayed before, and one of crm
    ids = [letter(postgres_engine, minutes_ago=40 - i)[0] for i in range(4)]
    earlier, _ = letter(postgres_engine, minutes_ago=50, replay_count=1)
    crm, _ = letter(postgres_engine, queue="crm")

    # When on-call asks for a dry run of a bulk replay (a bulk replay without --yes is
    # refused with the count: test_muddled_commands_…)
    planned = dlq("dlq", "replay", "--all", "--queue", SYNC, "--dry-run")

    # Then it lists the never-replayed ones and changes nothing
    assert planned.returncode == 0, planned.stderr
    plan = planned.stdout.splitlines()
    assert [int(line.split()[0]) for line in plan[1:5]] == ids
    assert plan[5] == "would replay 4 dead letters (sync 4); dry run, nothing changed"
    assert queue_depth(broker_url, SYNC) == 0
    assert audit(postgres_engine) == []

    # When it is confirmed, at 5 a second, on a terminal
    result, terminal = run_with_terminal_stderr(
        dlq, "dlq", "replay", "--all", "--queue", SYNC, "--yes", "--rate", "5/s"
    )

    # Then the four went back oldest first, at most 5 a second, with a progress bar
    assert result.returncode == 0, terminal
    assert result.stdout.startswith("replayed 4 dead letters (sync 4); run ")
    assert "replaying" in terminal
    copies = take_all(broker_url, SYNC)
    assert [headers["calsync-replayed-from"] for headers, _p, _b in copies] == ids
    moments = [datetime.fromisoformat(h["calsync-replayed-at"]) for h, _p, _b in copies]
    assert moments[-1] - moments[0] >= timedelta(seconds=0.55)  # 3 intervals of 0.2 s
    replayed = rows(postgres_engine)
    assert [replayed[i]["replay_count"] for i in ids] == [1, 1, 1, 1]
    assert replayed[crm]["replay_count"] == 0  # filtered out
    assert replayed[earlier]["replay_count"] == 1  # replayed before: not again unless asked


def test_a_replay_that_cannot_publish_fails_in_one_line_and_changes_nothing(
    dlq, postgres_engine, broker_url
) -> None:
    # Given a letter whose queue is gone, and an ordinary one after it
    gone, _ = letter(postgres_engine, queue="no-such-queue", minutes_ago=20)
    fine, _ = letter(postgres_engine)

    # When both are replayed
    result = dlq("dlq", "replay", "--all", "--yes")

    # Then the run stops at the unroutable one and says so; nothing is marked
    assert result.returncode == 1
    assert result.stdout.startswith("replayed 0 of 2 dead letters; run ")
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"calsync: error: dead letter {gone} not replayed: not confirmed")
    assert "NO_ROUTE" in error
    assert error.endswith("; 1 more not tried")

    # When the broker is unreachable
    down = run_with_env(dlq, {"CALSYNC_BROKER_URL": "amqp://guest:guest@127.0.0.1:9/"})
    unreachable = down("dlq", "replay", str(fine))

    # Then that is one line too, and the letter stays as it was
    assert unreachable.returncode == 1
    assert (
        unreachable.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"calsync: error: dead letter {fine} not replayed: not confirmed by the broker: "
        )
    )
    assert [row["replay_count"] for row in rows(postgres_engine).values()] == [0, 0]
    assert audit(postgres_engine) == []
    assert queue_depth(broker_url, SYNC) == 0


# -- purge ----------------------------------------------------------------------------------------


def test_purge_needs_yes_drops_letters_for_good_and_audits_it(dlq, postgres_engine) -> None:
    # Given two permanent failures and one to keep
    first, _ = letter(postgres_engine, reason="permanent")
    second, _ = letter(postgres_engine, reason="permanent", queue="crm")
    keep, _ = letter(postgres_engine)

    # When purged as a dry run (without --yes it is refused: test_muddled_commands_…)
    planned = dlq("dlq", "purge", "--all", "--reason", "permanent", "--dry-run")

    # Then nothing is dropped
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.splitlines()[-1] == (
        "would purge 2 dead letters (crm 1, sync 1); dry run, nothing changed"
    )
    assert sorted(rows(postgres_engine)) == sorted([first, second, keep])

    # When confirmed
    result = dlq("dlq", "purge", "--all", "--reason", "permanent", "--yes", "--by", "bob")

    # Then they are gone, with an audit row each and a log line
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("purged 2 dead letters (crm 1, sync 1); run ")
    assert list(rows(postgres_engine)) == [keep]
    assert [(e["action"], e["actor"], e["dead_letter_id"]) for e in audit(postgres_engine)] == [
        ("purge", "bob", first),
        ("purge", "bob", second),
    ]
    (summary,) = [e for e in log_lines(result.stderr) if e["event"] == "dead letters purged"]
    assert (summary["purged"], summary["actor"]) == (2, "bob")
    assert summary["selection"] == {"all": True, "reason": "permanent"}


# -- usage ----------------------------------------------------------------------------------------


def test_muddled_commands_are_one_line_and_the_right_exit_status(dlq, postgres_engine) -> None:
    letter_id, _ = letter(postgres_engine)

    results = together(
        dlq,
        ["dlq", "replay"],
        ["dlq", "replay", "--all", "--queue", SYNC],
        ["dlq", "purge", str(letter_id)],
        ["dlq", "purge", str(letter_id), "--queue", SYNC, "--yes"],
        ["dlq", "replay", "--all", "--rate", "fast", "--since", "last tuesday"],
        ["dlq", "show", "abc"],
    )

    expected = [
        (2, "calsync: usage: name the dead letters by ID, or take --all (with filters)"),
        (
            2,
            "calsync: usage: 1 dead letter matches (sync 1); add --yes to replay them, "
            "or --dry-run to list them (see 'calsync dlq replay --help')",
        ),
        (
            2,
            "calsync: usage: 1 dead letter matches (sync 1); add --yes to drop them for good, "
            "or --dry-run to list them (see 'calsync dlq purge --help')",
        ),
        (2, "calsync: usage: --queue goes with --all, not with IDs"),
        (2, "calsync: usage: Invalid value for '--rate': 'fast' is not a rate like 20/s"),
        (2, "calsync: usage: Invalid value for 'ID': 'abc' is not a valid integer"),
    ]
    for result, (status, start) in zip(results, expected, strict=True):
        assert (result.returncode, result.stdout) == (status, ""), result.stderr
        assert one_error_line(result).startswith(start)
    # Nothing was published, replayed or dropped
    assert rows(postgres_engine)[letter_id]["replay_count"] == 0
    assert audit(postgres_engine) == []


# -- helpers that change how the subprocess runs --------------------------------------------------


def run_with_env(run: Run, overrides: dict[str, str]) -> Run:
    env = {**run.env, **overrides}  # type: ignore[attr-defined]

    def changed(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CALSYNC, *args],
            cwd=run.cwd,  # type: ignore[attr-defined]
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return changed


def run_with_terminal_stderr(run: Run, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run with stderr on a pseudo-terminal (where progress bars show); its text comes back."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*CALSYNC, *args],
        cwd=run.cwd,  # type: ignore[attr-defined]
        env=run.env,  # type: ignore[attr-defined]
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )
    os.close(terminal)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's last writer is gone
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    stdout, _ = process.communicate(timeout=120)
    reader.join(10)
    os.close(controller)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, "")
    return result, b"".join(chunks).decode(errors="replace")
