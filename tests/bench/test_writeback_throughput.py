"""Write-back throughput: CRM saves turned into provider writes per second, and calls per save.

``SAVES`` appointments are saved through ``POST /crm/events`` and stored by the CRM worker
(PostgreSQL, RabbitMQ); their write requests wait in the outbox. Then ONE write-back
worker and the outbox relay start, and the clock runs until every appointment is
``synced``: relay -> RabbitMQ -> worker -> store -> provider (the sandbox, zero latency,
through the real google-api-python-client and msgraph-sdk) -> store.

Baseline, in the same run: the same provider writer creating ``SAVES`` events directly,
one after another (no store, no broker): the provider's own ceiling for this client.

Calls per save come from the sandbox's request log and from what the worker counted
(``crm_appointments.write_calls``). Target: 1 for a create without video, <= 2 with video.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.calendar.stored import StoredTokens
from adapters.calendar.writes import EventDraft
from adapters.sql.tables import crm_appointments
from domain.model import Provider, Timed
from infra.sandbox.server import SandboxServer
from tests.bench.conftest import report
from tests.bench.sync_harness import database_url_of
from tests.conftest import empty_store
from tests.support.dates import days_ahead
from tests.support.pipeline import Pipeline
from workers.runner import run_workers

SAVES = int(os.environ.get("BENCH_WRITEBACK_SAVES", "300"))
VIDEO_SAVES = 20
#: Days ahead, so R14 never finds the appointments past.
START = days_ahead(3, hour=8)
TIMEOUT = 600.0


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with SandboxServer() as server:
            yield server


@pytest.fixture(params=[Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "microsoft"])
def pipeline(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    broker_url: str,
    sandbox: SandboxServer,
    postgres_engine: sa.Engine,
) -> Iterator[Pipeline]:
    empty_store(postgres_engine)
    made = Pipeline(
        tmp_path,
        broker_url,
        sandbox,
        request.param,
        database_url=database_url_of(postgres_engine),
        queues=["crm"],
    )
    yield made
    made.close()


def save(pipeline: Pipeline, number: int, video: str | None) -> None:
    start = START + timedelta(minutes=30 * number)
    pipeline.crm(
        "appointment.saved",
        {
            "id": f"bench-{video or 'plain'}-{number}",
            "organizer_user_id": "karl",
            "subject": f"Customer meeting {number}",
            "agenda": "Next steps",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
            "contact_ids": ["eva"],
            "emails": [f"guest{number}@elsewhere.example"],
            "video": video,
            "invite": True,
        },
    )


def states(pipeline: Pipeline) -> dict[str, int]:
    with pipeline.container.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT sync_state, count(*) FROM appointments GROUP BY sync_state")
        ).all()
    return dict(rows)  # type: ignore[arg-type]


def write_all(pipeline: Pipeline, count: int) -> float:
    """Run one write-back worker and the relay until ``count`` appointments are synced."""
    pipeline.poll(lambda: states(pipeline).get("pending", 0), lambda n: n >= count, TIMEOUT)
    stop = threading.Event()
    workers = pipeline.container.workers(["outbox-relay", "writeback"])
    thread = threading.Thread(target=run_workers, args=(workers,), kwargs={"stop": stop})
    started = time.perf_counter()
    thread.start()
    try:
        done = pipeline.poll(
            lambda: states(pipeline).get("synced", 0), lambda n: n >= count, TIMEOUT
        )
        elapsed = time.perf_counter() - started
        assert done >= count, f"only {done} of {count} written"
    finally:
        stop.set()
        thread.join(timeout=30)
    return elapsed


def calls_per_save(pipeline: Pipeline, count: int) -> float:
    with pipeline.container.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.sum(crm_appointments.c.write_calls))).scalar_one()
    return float(total) / count


def bare_writer_rate(pipeline: Pipeline) -> float:
    """The writer alone creating ``SAVES`` events, one after another."""
    container = pipeline.container
    record = container.connections.get(pipeline.connection_id)
    assert record is not None
    credentials = container.credentials_for(
        record, StoredTokens.load(container.connections.credentials(record.id))
    )
    writer = container.calendar_writers(pipeline.provider)
    template = EventDraft(
        appointment_id="",
        subject="Baseline",
        body="Next steps",
        location="",
        timing=Timed(START, START + timedelta(minutes=30), "Europe/Stockholm"),
        time_zone="Europe/Stockholm",
        attendees=("eva@kund.se", "guest@elsewhere.example"),
        rooms=(),
        video=False,
        invite=True,
    )
    started = time.perf_counter()
    for _ in range(SAVES):
        writer.create(credentials, replace(template, appointment_id=str(uuid.uuid4())))
    return SAVES / (time.perf_counter() - started)


def provider_calls(pipeline: Pipeline) -> list[dict[str, Any]]:
    return [r for r in pipeline.admin.requests() if "/admin/" not in r["path"]]


def test_writeback_throughput_and_calls_per_save(pipeline: Pipeline) -> None:
    baseline = bare_writer_rate(pipeline)

    for number in range(SAVES):
        save(pipeline, number, video=None)
    pipeline.admin.clear_requests()
    elapsed = write_all(pipeline, SAVES)
    plain_calls = calls_per_save(pipeline, SAVES)
    logged = len([r for r in provider_calls(pipeline) if "/token" not in r["path"]])

    report(
        f"write-back {pipeline.provider.value}: saves written per second, one worker",
        SAVES / elapsed,
        "saves/s",
        baseline=baseline,
        baseline_name="the bare writer's creates",
    )
    print(
        f"BENCH write-back {pipeline.provider.value}: provider calls per create without "
        f"video {plain_calls:.2f} (request log: {logged / SAVES:.2f}; target 1)"
    )
    assert plain_calls == 1.0

    empty_store_of_appointments(pipeline)
    for number in range(VIDEO_SAVES):
        save(pipeline, number, video="meet" if pipeline.provider is Provider.GOOGLE else "teams")
    write_all(pipeline, VIDEO_SAVES)
    video_calls = calls_per_save(pipeline, VIDEO_SAVES)
    print(
        f"BENCH write-back {pipeline.provider.value}: provider calls per create with video "
        f"{video_calls:.2f} (target <= 2)"
    )
    assert video_calls <= 2.0


def empty_store_of_appointments(pipeline: Pipeline) -> None:
    with pipeline.container.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM appointments"))
