"""Sync throughput: changed events applied per second, end to end, against the storage ceiling.

End to end: ``EVENTS`` new events wait in one Google calendar of the sandbox (zero latency,
pages of 250); one push notification goes through the real ingest endpoint to RabbitMQ, and
ONE sync worker process reads the pages with the stored cursor, resolves the participants
against the directory, plans and writes them. The clock runs from the hint's POST to a
settled store (every event linked, the sync finished, the lease let go).

Ceiling, in the same run: the same pages' plans, built beforehand (provider, broker and
resolution all left out), written with ``apply_plans`` in one transaction per page of 250,
as the worker does, under fresh ids; once just before the end-to-end run and once just after
it (the worker stopped), averaged, since each run grows the tables by ``EVENTS`` rows and
writes slow down as they grow. Target: end to end >= 50% of the ceiling. Before any of this,
the same rows are written once under other ids and PostgreSQL's statistics are refreshed,
so every run meets a store in a steady state: it holds appointments, and the planner knows
it (see ``World.analyze``).

Both run once on PostgreSQL and once on SQLite (RabbitMQ is the broker in both). The
worker's peak resident set (VmHWM of its process) is reported too, target <= 200 MiB.
"""

from __future__ import annotations

import gc
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from domain.clock import system_clock
from tests.bench.conftest import report
from tests.bench.sync_harness import (
    ACCOUNT,
    BenchConnection,
    World,
    database_url_of,
    load_average,
    report_at_most,
    world,
)
from tests.conftest import empty_store

EVENTS = int(os.environ.get("BENCH_SYNC_EVENTS", "10000"))
WARM_UP_EVENTS = 250
TARGET_SHARE = 0.5
TARGET_RSS_MIB = 200


def prebuilt_plans(bench: World, source: BenchConnection) -> list[list]:
    """Every page of ``source``'s calendar, fetched, resolved and planned as new appointments."""
    from adapters.calendar.stored import StoredTokens
    from domain.sync_plan import plan_page

    container = bench.container
    record = container.connections.get(source.id)
    assert record is not None
    syncer = container.syncer()
    google = container.calendar_sources("google")
    credentials = container.credentials_for(
        record, StoredTokens.load(container.connections.credentials(record.id))
    )
    window = syncer._window(record)
    pages, token = [], None
    while True:
        page = google.changes(credentials, cursor=None, page=token, window=window)
        plans = plan_page(
            page.events,
            resolutions=syncer._resolve(record, page.events),
            owner=syncer._owner_of(record),
            window=window,
            links=[],
            stored={},
            now=datetime.now(UTC),
            new_id=lambda: str(uuid.uuid4()),
        )
        pages.append(plans)
        if page.next_page is None:
            return pages
        token = page.next_page


def write_pages(engine: sa.Engine, connection_id: str, pages: list[list]) -> float:
    """Seconds to write every page with ``apply_plans``, one transaction per page.

    The pre-built plans (and everything else this test process holds) are frozen out of
    the garbage collector's way first: a worker holds one page at a time, not all of them.
    """
    from adapters.sql.sync_store import apply_plans

    gc.collect()
    gc.freeze()
    try:
        started = time.perf_counter()
        for plans in pages:
            with engine.begin() as conn:
                apply_plans(conn, ACCOUNT, connection_id, plans, None, now=system_clock())
        return time.perf_counter() - started
    finally:
        gc.unfreeze()


def renumbered(pages: list[list]) -> list[list]:
    """The same plans with fresh appointment ids and iCalUIDs (so no sync mistakes them for
    the same meetings), for another run into the same tables."""
    import dataclasses

    result = []
    for plans in pages:
        fresh = []
        for plan in plans:
            new_id = str(uuid.uuid4())
            link = dataclasses.replace(
                plan.link, appointment_id=new_id, ical_uid=f"{new_id}@bench.example"
            )
            fresh.append(dataclasses.replace(plan, appointment_id=new_id, link=link))
        result.append(fresh)
    return result


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_sync_throughput_against_storage_ceiling(
    request: pytest.FixtureRequest, tmp_path: Path, broker_url: str, backend: str
) -> None:
    engine: sa.Engine = request.getfixturevalue(
        "postgres_engine" if backend == "postgresql" else "sqlite_engine"
    )
    try:
        with world(tmp_path, database_url_of(engine), broker_url) as bench:
            warm, measured, seed, before, after = bench.connect(5)
            bench.create_events(warm, WARM_UP_EVENTS)
            worker = bench.start_workers(1)
            # Warm-up: the worker's first sync (imports, Google session, caches), then the
            # measured calendar's first sync while still empty, which stores its cursor.
            bench.post_hint(warm)
            bench.wait_settled(
                worker, handled=1, expected_links={warm.id: WARM_UP_EVENTS}, timeout=60
            )
            bench.post_hint(measured)
            bench.wait_settled(worker, handled=2, expected_links={measured.id: 0}, timeout=60)
            bench.create_events(measured, EVENTS)

            # The same pages, planned here as new appointments, for the ceiling; written once
            # now under other ids, so that every run below meets a store that already holds
            # EVENTS appointments, with planner statistics (PostgreSQL) as in production.
            pages = prebuilt_plans(bench, measured)
            assert sum(len(plans) for plans in pages) == EVENTS
            assert {plan.kind.value for plans in pages for plan in plans} == {"create"}
            seeded = write_pages(bench.engine, seed.id, renumbered(pages))
            bench.analyze(everything=True)
            # The ceiling, once before and once after the end-to-end run: the tables grow by
            # EVENTS rows each time, and the two bracket the size the sync writes at.
            scans_before = bench.table_scans()
            ceiling_before = write_pages(bench.engine, before.id, renumbered(pages))
            ceiling_scans = bench.table_scans_since(scans_before)

            scans_before = bench.table_scans()
            cpu_before = worker.cpu_seconds()
            started = time.perf_counter()
            bench.post_hint(measured)
            settled = bench.wait_settled(
                worker, handled=3, expected_links={measured.id: EVENTS}, timeout=150, poll=0.02
            )
            end_to_end = EVENTS / (settled - started)
            cpu = worker.cpu_seconds() - cpu_before
            scans = bench.table_scans_since(scans_before)
            rss = worker.peak_rss_mib()
            status = worker.stop()
            assert status["failed"] == 0, status
            shown = bench.appointments(measured, limit="1000")
            assert len(shown) == 1000
            assert {p["kind"] for p in shown[0]["participants"]} == {"user", "contact", "external"}

            ceiling_after = write_pages(bench.engine, after.id, renumbered(pages))
            seconds = (ceiling_before + ceiling_after) / 2
            ceiling_rate = EVENTS / seconds
            assert bench.sync_state([after.id])[after.id]["links"] == EVENTS
    finally:
        empty_store(engine)

    stages = status["stage_seconds"]
    calls = status["stage_calls"]
    print(
        f"\nthroughput ({backend}): {EVENTS} events in {settled - started:.2f} s, worker CPU "
        f"{cpu:.2f} s; ceiling {ceiling_before:.2f} s before, {ceiling_after:.2f} s after "
        f"(seeding the same rows into the fresh store: {seeded:.2f} s); "
        f"worker stage seconds over all 3 hints "
        + ", ".join(f"{k} {v:.2f} ({calls[k]})" for k, v in stages.items())
        + f"; objects tracked by the worker's garbage collector at exit "
        f"{status.get('gc_tracked_objects', '?'):,}; load average {load_average()}"
        + (f"\nPostgreSQL scans during the sync: {scans}" if scans else "")
        + (f"\nPostgreSQL scans during the ceiling before: {ceiling_scans}" if scans else "")
    )
    report(
        f"sync throughput end to end ({backend}, one worker)",
        end_to_end,
        "events/s",
        baseline=ceiling_rate,
        baseline_name="apply_plans of pre-built plans",
        target=TARGET_SHARE * ceiling_rate,
    )
    report_at_most(
        f"sync worker peak RSS ({backend}, VmHWM of the worker process)",
        rss,
        "MiB",
        baseline=TARGET_RSS_MIB,
        baseline_name="the 200 MiB budget",
        target=TARGET_RSS_MIB,
    )
