"""``calsync demo``: the article's scenarios end to end on the embedded default."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from infra.demo import run_demo

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _row(table: str, scenario: str) -> str:
    (line,) = [line for line in table.splitlines() if line.startswith(f"{scenario} ")]
    return line


def test_the_demo_shows_the_articles_scenarios(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a working directory of its own (the demo must not touch its var/)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    work = tmp_path / "work"
    handlers = logging.getLogger().handlers[:]

    # When the demo runs
    out = io.StringIO()
    status = run_demo(out, work_dir=work)

    # Then every meeting came out as the article says
    table = out.getvalue()
    assert status == 0, table
    assert "All 4 meetings came out as the article says." in table

    # Scenario 1: synced to Karl, Johanna is no participant, the external inviter is
    one = _row(table, "1")
    assert "| google " in one
    assert "| synced " in one
    assert "karl@exempel.se (user)" in one
    assert "anna.berg@leverantor.se (external)" in one
    assert "johanna" not in one

    # Scenario 2: synced, Johanna at gbg.exempel.se is external
    two = _row(table, "2")
    assert "| synced " in two
    assert "johanna@gbg.exempel.se (external)" in two

    # Scenario 3: Lucas makes gbg.exempel.se a colleague domain: not synced
    three = _row(table, "3")
    assert "| not synced " in three
    assert "johanna" not in three

    # The Microsoft meeting: synced, Eva resolved to the account's contact
    microsoft = _row(table, "MS")
    assert "| microsoft " in microsoft
    assert "| synced " in microsoft
    assert "eva@kund.se (contact)" in microsoft

    for line in (one, two, three, microsoft):
        assert line.rstrip().endswith("as the article says")

    # And each user's CRM calendar is listed; Lucas's is empty
    calendars = table.split("What each user's CRM calendar shows:", 1)[1]
    assert "karl @ exempel:" in calendars
    assert "lucas @ exempel-gbg:\n    (nothing)" in calendars
    assert "Scenario 3" not in calendars.split("The other direction", 1)[0]

    # And the other direction: CRM saves written to the calendars, Eva mailed only when
    # invited (R20, R21), with the provider's video link (R22)
    written = table.split("The other direction", 1)[1]
    rows = [line for line in written.splitlines() if line.startswith("Save ")]
    assert len(rows) == 3
    invite_google, no_invite, invite_microsoft = rows
    assert "| google " in invite_google
    assert "https://meet.google.com/" in invite_google
    assert "| invitation " in invite_google
    assert "| none " in no_invite
    assert "https://teams.microsoft.com/" in invite_microsoft
    assert "| invitation " in invite_microsoft
    assert all(row.rstrip().endswith("as R20-R22 say") for row in rows)
    assert "All 3 CRM saves reached the calendars as the rules say." in written

    # The store and the embedded broker lived in the work directory only
    assert (work / "calsync.sqlite3").exists()
    assert (work / "broker.sqlite3").exists()
    assert list(cwd.iterdir()) == []
    assert logging.getLogger().handlers == handlers
