"""Latency from a push notification to the appointment in the read API, under steady load.

Ten Google connections, already synced once (so each has a cursor), on PostgreSQL and
RabbitMQ with one sync worker process. For ``SECONDS`` seconds, ten times a second (the
connections in turn), a fresh event is created in a sandbox calendar and Google's push
notification for it is posted to the real ingest endpoint. A poller thread asks the read API
for the events not seen yet (``GET /api/v1/appointments?from=&to=``, one request spanning
their slots) every 20 ms. Latency = POST of the hint -> first answer that holds the event.

Figures: p50 and p99 (target p99 <= 2 s), against the read API's own round trip measured by
the same poller in the same run; the bare webhook round trip (confirmed publish) is printed
too. Correctness: every event shows up exactly once, and no hint failed.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.bench.conftest import report
from tests.bench.sync_harness import (
    World,
    database_url_of,
    event_body,
    first_slot,
    load_average,
    percentile,
    report_at_most,
    rfc3339,
    slot_start,
    world,
)
from tests.conftest import empty_store, queue_depth

SECONDS = float(os.environ.get("BENCH_LATENCY_SECONDS", "40"))
RATE, CONNECTIONS = 10.0, 10
TARGET_P99_MS = 2000
POLL_PAUSE = 0.02


@dataclass
class Probe:
    n: int
    start: datetime
    posted: float = 0.0
    visible: float | None = None


class Poller(threading.Thread):
    """Asks the read API for the posted events until each shows; times every request.

    One request per round covers every pending event: their half-hour slots are distinct
    and consecutive, so ``from``/``to`` spanning them selects them (plus a few seen ones).
    """

    def __init__(self, bench: World) -> None:
        super().__init__(name="read-api-poller", daemon=True)
        self.http = bench.container.http_app().test_client()
        self.headers = {"Authorization": f"Bearer {bench.api_key}"}
        self.pending: dict[str, Probe] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.round_trips: list[float] = []

    def add(self, probe: Probe) -> None:
        with self.lock:
            self.pending[f"Meeting {probe.n}"] = probe

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                pending = list(self.pending.values())
            if pending:
                self.poll(pending)
            time.sleep(POLL_PAUSE)

    def poll(self, pending: list[Probe]) -> None:
        low = min(p.start for p in pending)
        high = max(p.start for p in pending) + timedelta(minutes=30)
        started = time.perf_counter()
        response = self.http.get(
            "/api/v1/appointments",
            query_string={"from": rfc3339(low), "to": rfc3339(high), "limit": "1000"},
            headers=self.headers,
        )
        now = time.perf_counter()
        assert response.status_code == 200, response.get_data(as_text=True)
        self.round_trips.append(now - started)
        with self.lock:
            for appointment in response.get_json():
                probe = self.pending.pop(appointment["subject"], None)
                if probe is not None:
                    probe.visible = now


def test_hint_to_read_api_latency(
    tmp_path: Path, postgres_engine: sa.Engine, broker_url: str
) -> None:
    try:
        with world(tmp_path, database_url_of(postgres_engine), broker_url) as bench:
            connections = bench.connect(CONNECTIONS)
            worker = bench.start_workers()
            for connection in connections:  # first syncs: empty calendars, cursors stored
                bench.post_hint(connection)
            bench.wait_settled(
                worker,
                handled=CONNECTIONS,
                expected_links={c.id: 0 for c in connections},
                timeout=60,
            )

            poller = Poller(bench)
            poller.start()
            base = first_slot()
            probes: list[Probe] = []
            publish: list[float] = []
            count = int(SECONDS * RATE)
            cpu_before, stages_before = worker.cpu_seconds(), worker.status()["stage_seconds"]
            started = time.perf_counter()
            for n in range(count):
                time.sleep(max(0.0, started + n / RATE - time.perf_counter()))
                connection = connections[n % CONNECTIONS]
                body = event_body(connection.email, n, contacts=bench.contacts, base=base)
                bench.sandbox.admin.create_event(connection.email, body, sendUpdates="none")
                probe = Probe(n, slot_start(n, base))
                probe.posted = time.perf_counter()
                bench.post_hint(connection, number=n + 2)
                publish.append(time.perf_counter() - probe.posted)
                probes.append(probe)
                poller.add(probe)
            sent_for = time.perf_counter() - started
            deadline = time.monotonic() + 60
            while any(p.visible is None for p in probes) and time.monotonic() < deadline:
                time.sleep(0.05)
            poller.stop.set()
            poller.join(timeout=10)
            missing = [p.n for p in probes if p.visible is None]
            wall = time.perf_counter() - started
            cpu = worker.cpu_seconds() - cpu_before
            rss = worker.peak_rss_mib()
            bench.wait_settled(
                worker,
                handled=CONNECTIONS + count,
                expected_links={c.id: count // CONNECTIONS for c in connections},
                timeout=60,
            )
            status = worker.stop()
            assert not missing, f"never visible: {missing[:20]}"
            for connection in connections:  # each event once, in its owner's calendar
                shown = bench.appointments(connection, limit="1000")
                assert len(shown) == len({a["subject"] for a in shown}) == count // CONNECTIONS
            assert status["failed"] == 0, status
            assert queue_depth(broker_url, "calsync.dead") == 0
    finally:
        empty_store(postgres_engine)

    latencies = [(p.visible - p.posted) * 1000 for p in probes if p.visible is not None]
    read_ms = statistics.median(poller.round_trips) * 1000
    stages = {
        name: (seconds - stages_before.get(name, 0.0)) * 1000 / count
        for name, seconds in status["stage_seconds"].items()
    }
    publish_ms = statistics.median(publish) * 1000
    print(
        f"\nlatency: {count} hints in {sent_for:.1f} s ({count / sent_for:.1f}/s) over "
        f"{CONNECTIONS} connections; p50 {percentile(latencies, 0.5):.0f} ms, "
        f"p90 {percentile(latencies, 0.9):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms, "
        f"max {max(latencies):.0f} ms; webhook POST median {publish_ms:.1f} ms, "
        f"p99 {percentile(publish, 0.99) * 1000:.1f} ms; read API median {read_ms:.1f} ms "
        f"({len(poller.round_trips)} requests); outcomes {status['outcomes']}; "
        f"worker peak RSS {rss:.0f} MiB; load average {load_average()}\n"
        f"worker: CPU {cpu:.1f} s in {wall:.1f} s wall ({cpu * 1000 / count:.0f} ms per hint); "
        "mean ms per hint: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
    )
    report(
        "hint to read API latency, p50",
        percentile(latencies, 0.5),
        "ms",
        baseline=read_ms,
        baseline_name="read API round trip",
    )
    report_at_most(
        "hint to read API latency, p99",
        percentile(latencies, 0.99),
        "ms",
        baseline=read_ms,
        baseline_name="read API round trip",
        target=TARGET_P99_MS,
    )
