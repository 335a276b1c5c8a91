"""A storm of push notifications: 1,000 hints for 10 connections must coalesce.

Ten Google calendars in the sandbox hold ``EVENTS`` events each; none has been synced yet.
1,000 push notifications (100 per connection, interleaved, from 8 threads at once) go
through the real ingest endpoint (``POST /webhooks/google``, a confirmed publish to
RabbitMQ); one sync worker process (``BENCH_SYNC_WORKERS`` to change) consumes them, and the
store is PostgreSQL.

Figures: the provider list calls the storm caused, counted in the sandbox's request log
(target <= 30: a burst is one running sync plus at most one more per connection), against
the least possible (one per connection); and the time from the last hint to a settled store
(every event applied, no sync requested and unfinished, no lease held, every hint handled),
against one connection's first sync after a single hint, on the warm worker, in the same run.
Correctness is asserted; timings never are.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

from tests.bench.conftest import report
from tests.bench.sync_harness import database_url_of, load_average, report_at_most, world
from tests.conftest import empty_store, queue_depth

HINTS, CONNECTIONS, EVENTS = 1000, 10, 100
POSTERS = 8
TARGET_LIST_CALLS = 30


def test_hint_storm_coalesces(tmp_path: Path, postgres_engine: sa.Engine, broker_url: str) -> None:
    try:
        with world(tmp_path, database_url_of(postgres_engine), broker_url) as bench:
            warm, probe, *storm = bench.connect(2 + CONNECTIONS)
            for connection in (warm, probe, *storm):
                bench.create_events(connection, EVENTS)
            worker = bench.start_workers()
            bench.post_hint(warm)  # the worker's first sync: imports, caches
            bench.wait_settled(worker, handled=1, expected_links={warm.id: EVENTS}, timeout=60)

            # Baseline: one hint, one connection's first sync, nothing else going on.
            started = time.perf_counter()
            bench.post_hint(probe)
            alone = (
                bench.wait_settled(worker, handled=2, expected_links={probe.id: EVENTS}, timeout=60)
                - started
            )
            bench.sandbox.admin.clear_requests()

            # The storm: round-robin over the connections, from POSTERS threads at once, as
            # fast as ingest takes them.
            clients = threading.local()

            def post(n: int) -> None:
                if not hasattr(clients, "http"):
                    clients.http = bench.container.http_app().test_client()
                bench.post_hint(storm[n % CONNECTIONS], number=n + 2, http=clients.http)

            cpu_before = worker.cpu_seconds()
            started = time.perf_counter()
            with ThreadPoolExecutor(POSTERS) as pool:
                list(pool.map(post, range(HINTS)))
            last_hint = time.perf_counter()
            settled = bench.wait_settled(
                worker,
                handled=2 + HINTS,
                expected_links={c.id: EVENTS for c in storm},
                timeout=150,
            )
            cpu = worker.cpu_seconds() - cpu_before
            calls = bench.sandbox.list_calls({c.email for c in storm})
            rss = worker.peak_rss_mib()
            status = worker.stop()

            # Correctness: every event is in the read API once; nothing failed or is left.
            for connection in storm:
                shown = bench.appointments(connection, limit="1000")
                assert len(shown) == EVENTS
                assert len({a["id"] for a in shown}) == EVENTS
            assert status["failed"] == 0, status
            assert queue_depth(broker_url, "sync") == 0
            assert queue_depth(broker_url, "calsync.dead") == 0
    finally:
        empty_store(postgres_engine)

    per_user = Counter(call["user"] for call in calls)
    print(
        f"\nstorm: {HINTS} hints posted in {last_hint - started:.2f} s "
        f"({HINTS / (last_hint - started):,.0f}/s); outcomes {status['outcomes']}; "
        f"list calls per connection {sorted(per_user.values())}; worker CPU {cpu:.1f} s in "
        f"{settled - started:.1f} s; worker peak RSS {rss:.0f} MiB; load average {load_average()}"
    )
    report_at_most(
        "hint storm, provider list calls",
        len(calls),
        "calls",
        baseline=CONNECTIONS,
        baseline_name="one per connection",
        target=TARGET_LIST_CALLS,
    )
    report(
        "hint storm, last hint to settled store",
        (settled - last_hint) * 1000,
        "ms",
        baseline=alone * 1000,
        baseline_name="one connection's first sync alone",
    )
