"""The on-call console in a real browser (issue 21): headless Chromium (Debian's, never a
downloaded one) driven by Playwright against ``calsync serve`` on PostgreSQL and RabbitMQ.

Signs in, filters dead letters, fixes the cause of a refused CRM save and replays it (it
leaves the list, and the replayed message is then handled), purges another, sees a
connection's error, asks for a sync and an explanation, and screenshots each page into the
test's temporary folder. ``CALSYNC_UPDATE_SCREENSHOT=1`` also copies the overview to
``docs/console-overview.png`` for the README.

Locally the test skips loudly without Chromium or Playwright; under ``CI=true`` it fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from kombu import Connection

from adapters.broker.declare import topology_queues
from adapters.broker.envelope import Envelope
from adapters.sql.tables import appointments, dead_letter_audit
from domain.clock import system_clock
from tests.conftest import IN_CI, empty_store, queue_depth
from tests.e2e.conftest import CALSYNC, ROOT
from tests.e2e.test_run import free_port, wait_for_json
from tests.support.console import TOKEN
from tests.support.console_world import (
    EXPLAINED_EVENT,
    fix_the_cause,
    load_directory,
    seed_console_world,
)
from workers.base import MessageContext
from workers.crm import CrmHandler

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("CALSYNC_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1100, "height": 820}
README_SHOT = ROOT / "docs" / "console-overview.png"


def _browser_missing(why: str) -> None:
    if IN_CI:
        pytest.fail(
            f"{why}; CI=true requires it (.ci/run installs Debian's chromium)", pytrace=False
        )
    pytest.skip(
        f"SKIPPED LOUDLY: {why}; apt-get install chromium to run the console's browser test"
    )


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _browser_missing("Playwright for Python is not installed (pip install -e .[dev])")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _browser_missing(f"Chromium is not at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def served(
    calsync: Any, postgres_engine: sa.Engine, broker_url: str
) -> Iterator[tuple[str, tuple[int, int]]]:
    """``calsync serve`` with the console on, over the seeded world: its URL and letter ids."""
    letters = seed_console_world(postgres_engine, system_clock())
    port = free_port()
    env = {
        **calsync.env,
        "CALSYNC_DATABASE_URL": postgres_engine.url.render_as_string(hide_password=False),
        "CALSYNC_BROKER_URL": broker_url,
        "CALSYNC_LISTEN": f"127.0.0.1:{port}",
        "CALSYNC_HTTP_WORKERS": "1",
        "CALSYNC_CONSOLE_TOKEN": TOKEN,
    }
    log = (calsync.cwd / "serve.log").open("wb")
    process = subprocess.Popen(
        [*CALSYNC, "serve"], cwd=calsync.cwd, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_json(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}", letters
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()
        empty_store(postgres_engine)


def test_on_call_console_in_chromium(
    browser: Any,
    served: tuple[str, tuple[int, int]],
    postgres_engine: sa.Engine,
    broker_url: str,
    tmp_path: Path,
) -> None:
    base, (crm_letter, sync_letter) = served
    page = browser.new_context(viewport=VIEWPORT, base_url=base).new_page()

    def shot(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    # Sign in: the console sends a browser without a session to its sign-in page.
    page.goto("/console/")
    assert "/console/signin" in page.url
    shot("signin")
    page.fill("input[name=token]", TOKEN)
    page.fill("input[name=operator]", "tess")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/")
    assert page.locator("svg.chart").count() == 2
    assert page.get_by_text("renew_channels").count() == 1
    overview = shot("overview")
    if os.environ.get("CALSYNC_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(overview, README_SHOT)

    # Filter dead letters: the CRM save refused because its organizer was no user yet.
    page.click("text=Dead letters")
    page.fill("input[name=queue]", "crm")
    page.click("button:has-text('Filter')")
    assert _listed(page) == [crm_letter]
    shot("dead-letters")
    page.click(f"#letters a:text-is('{crm_letter}')")
    assert "is not an active user" in page.inner_text("main")
    assert "renewal talk" in page.inner_text("#body").lower()
    shot("dead-letter")

    # Fix the cause, then replay: the dry run says what would happen, the confirm does it.
    load_directory(postgres_engine, fix_the_cause())
    page.click("button:has-text('Replay…')")
    assert "Would put 1 dead letter back on its original queue (crm 1)" in page.inner_text(
        "#plan-summary"
    )
    shot("replay-dry-run")
    page.click("#confirm")
    assert "replayed 1 dead letter (crm 1)" in page.inner_text(".notice")
    assert _listed(page) == []  # never-replayed letters of crm: none left
    _handle_the_replayed_save(broker_url, postgres_engine)

    # Purge another, chosen by queue and reason.
    page.goto("/console/dead-letters?queue=sync&reason=permanent")
    assert _listed(page) == [sync_letter]
    page.click(f"tr[data-letter='{sync_letter}'] button:has-text('purge…')")
    assert "Would drop 1 dead letter for good (sync 1)" in page.inner_text("#plan-summary")
    page.click("#confirm")
    assert "purged 1 dead letter (sync 1)" in page.inner_text(".notice")
    assert _listed(page) == []
    shot("after-purge")
    assert _audit(postgres_engine) == [
        ("replay", crm_letter, "console:tess"),
        ("purge", sync_letter, "console:tess"),
    ]

    # A connection's error; "sync now"; an explanation (R36).
    page.click("text=Connections")
    page.select_option("select[name=status]", "failing")
    page.click("button:has-text('Filter')")
    assert "ProviderUnavailable: Graph answered 503" in page.inner_text("#connections")
    shot("connections")
    before = queue_depth(broker_url, "sync")
    page.click("tr[data-user='a/bea'] button:has-text('sync now')")
    assert "sync queued" in page.inner_text(".notice")
    assert queue_depth(broker_url, "sync") == before + 1
    page.fill("input[name=explain_account]", "a")
    page.fill("input[name=explain_user]", "ann")
    page.fill("input[name=event]", EXPLAINED_EVENT)
    page.click("button:has-text('Explain')")
    assert "kept out by R7: no participant besides the owner" in page.inner_text("#explanation")
    shot("explanation")

    for name in ("signin", "overview", "dead-letters", "dead-letter", "replay-dry-run",
                 "after-purge", "connections", "explanation"):  # fmt: skip
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def _listed(page: Any) -> list[int]:
    return [int(v) for v in page.locator("#letters tr[data-letter]").evaluate_all(
        "rows => rows.map(r => r.dataset.letter)"
    )]  # fmt: skip


def _handle_the_replayed_save(broker_url: str, engine: sa.Engine) -> None:
    """The replayed copy is on the crm queue; handled now, it becomes the appointment."""
    with Connection(broker_url) as connection:
        crm = next(q for q in topology_queues(connection) if q.name == "crm")
        queue = connection.SimpleQueue(crm, no_ack=False)
        message = queue.get(timeout=10)
        envelope = Envelope.from_json(message.body)
        context = MessageContext(
            queue="crm", attempt=1, max_attempts=6, redelivered=False, headers=message.headers
        )
        CrmHandler(engine).handle(envelope, context)
        message.ack()
        queue.close()
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(appointments.c.subject).where(appointments.c.crm_id == "crm-42")
        ).scalar_one()
    assert stored == "Renewal talk"


def _audit(engine: sa.Engine) -> list[tuple[str, int, str]]:
    a = dead_letter_audit.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(a.action, a.dead_letter_id, a.actor).order_by(a.id)).all()
    return [(action, int(letter), actor) for action, letter, actor in rows]
