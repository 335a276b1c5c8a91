"""No loop (R25): 100 CRM saves with both directions running write each save once.

The CRM saves 50 appointments and then edits each of them once; after every ten saves the
provider notifies us of the changes (our own writes), and the sync worker reads them back.
Counted from the sandbox's request log: one provider write per save, nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.model import Provider
from infra.sandbox.server import SandboxServer
from tests.support.dates import days_ahead
from tests.support.pipeline import Pipeline

APPOINTMENTS = 50
#: Days ahead, so R14 never finds the appointments past.
START = days_ahead(3, hour=8)
QUEUES = ["sync", "crm", "writeback", "outbox-relay"]
WRITES = {"POST", "PATCH", "PUT", "DELETE"}


@pytest.fixture
def pipeline(
    provider: Provider, tmp_path: Path, broker_url: str, sandbox: SandboxServer
) -> Iterator[Pipeline]:
    made = Pipeline(tmp_path, broker_url, sandbox, provider, queues=QUEUES)
    made.admin.clear_requests()
    yield made
    made.close()


def appointment(number: int, **changes: Any) -> dict[str, Any]:
    start = START + timedelta(hours=2 * number)
    return {
        "id": f"loop-{number}",
        "organizer_user_id": "karl",
        "subject": f"Customer meeting {number}",
        "description": "",
        "agenda": "Next steps",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "contact_ids": ["eva"],
        "emails": [f"guest{number}@elsewhere.example"],
        "invite": number % 2 == 0,
        **changes,
    }


def provider_writes(pipeline: Pipeline) -> list[dict[str, Any]]:
    return [
        r
        for r in pipeline.admin.requests()
        if r["method"] in WRITES and "/events" in r["path"] and "/admin/" not in r["path"]
    ]


def all_written(pipeline: Pipeline, saves: int) -> bool:
    """Every save's write is done: the appointments are synced and the writes counted."""
    states = {a["sync"]["state"] for a in pipeline.appointments(limit="500")}
    return states == {"synced"} and len(provider_writes(pipeline)) >= saves


def test_r25_a_hundred_saves_with_both_directions_make_one_write_each(
    pipeline: Pipeline,
) -> None:
    saves = [appointment(n) for n in range(APPOINTMENTS)]
    saves += [
        appointment(n, subject=f"Customer meeting {n} (moved)", invite=True)
        for n in range(APPOINTMENTS)
    ]
    for done, data in enumerate(saves, start=1):
        if done == APPOINTMENTS + 1:  # edits only once every first save is written
            pipeline.poll(lambda: all_written(pipeline, APPOINTMENTS), bool, timeout=60)
        pipeline.crm("appointment.saved", data)
        if done % 10 == 0:
            pipeline.notify()
    assert pipeline.poll(lambda: all_written(pipeline, len(saves)), bool, timeout=60)

    # When the provider notifies us of the last writes and the sync has read everything
    pipeline.notify()
    pipeline.synced("karl", timeout=60)

    # Then each save made exactly one provider write, and the echoes none
    methods = [r["method"] for r in provider_writes(pipeline)]
    assert methods.count("POST") == APPOINTMENTS
    assert methods.count("PATCH") == APPOINTMENTS
    assert len(methods) == len(saves)
    # And the calendar and the CRM each hold every appointment once, linked once
    stored = pipeline.appointments(limit="500")
    assert len(stored) == APPOINTMENTS
    assert all(len(pipeline.appointment(a["id"])["links"]) == 1 for a in stored)
    events = [
        e
        for e in pipeline.admin.events(pipeline.karl["email"])
        if e.get("status") != "cancelled" and not e.get("isCancelled")
    ]
    assert len(events) == APPOINTMENTS
    assert all("(moved)" in (e.get("summary") or e.get("subject")) for e in events)
