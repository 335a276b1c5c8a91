"""Text no store takes (a NUL, a lone surrogate) in a CRM event that bypassed ingest, on
PostgreSQL and RabbitMQ: one attempt, one dead letter that ``calsync dlq`` lists, nothing
that loops, and no bound parameters (headers, bodies) in the log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from click.testing import CliRunner
from structlog.typing import Processor

from adapters.broker import topology
from adapters.broker.envelope import Envelope
from adapters.sql import dead_letters
from infra.dlq import dlq
from tests.conftest import empty_store, queue_depth
from tests.factories import crm_event
from tests.integration.test_worker_base import parked, publish, running, wait_until
from workers.base import Worker
from workers.crm import CrmHandler
from workers.parker import DeadLetterParker

#: Marks the event's body; it may be stored (as the dead letter's body), never logged.
SUBJECT = "subject-never-logged-5e1d"


@pytest.fixture
def postgres_store(postgres_engine: sa.Engine) -> Iterator[sa.Engine]:
    yield postgres_engine
    empty_store(postgres_engine)


def poisoned_event(bad: str) -> Envelope:
    """A signed CRM save as ingest would queue it, had it not refused ``bad`` in it."""
    account = f"acme{bad}evil"
    data = {"id": "crm-1", "organizer_user_id": "karl", "subject": f"{SUBJECT}{bad}"}
    # The id is made of a clean account: no UTF-8 (so no message id) holds a lone surrogate.
    clean = crm_event("acme", "evt-1", "appointment.saved", data, "2026-11-25T12:00:00+00:00")
    return replace(clean, account_id=account, payload={**clean.payload, "account_id": account})


def rendered(logs: Sequence[Mapping[str, Any]]) -> str:
    """Every captured line as text, tracebacks included (format_exc_info ran on them)."""
    return "\n".join(repr(line) for line in logs)


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["nul", "lone-surrogate"])
def test_unstorable_text_is_dead_lettered_once_parked_and_listed_without_logging_parameters(
    broker_url: str, postgres_store: sa.Engine, bad: str
) -> None:
    # Given the CRM worker and the parker on PostgreSQL, and an event with `bad` in its
    # account id and its body, published straight to the crm queue
    envelope = poisoned_event(bad)
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.format_exc_info,
    ]
    worker = Worker(broker_url, topology.CRM, CrmHandler(postgres_store))
    parker = DeadLetterParker(broker_url, postgres_store)

    # When both run until the letter is parked, and a while after
    with structlog.testing.capture_logs(processors=processors) as logs, running(worker, parker):
        publish(broker_url, topology.CRM.name, envelope)
        wait_until(lambda: parked(postgres_store), "the dead letter", timeout=15)
        time.sleep(2)  # room for a retry, a requeue or a second letter, had there been one
    depths = [queue_depth(broker_url, q) for q in (topology.CRM.name, topology.DEAD_LETTER_QUEUE)]

    # Then one attempt, one letter, nothing left anywhere
    (row,) = parked(postgres_store)
    assert depths == [0, 0]
    assert (row["queue"], row["reason"], row["attempts"]) == ("crm", "permanent", 1)
    assert row["message_id"] == envelope.id
    # The body is kept as it came; the text the store refused is escaped and says so
    assert Envelope.from_json(row["body"]) == envelope
    assert row["account_id"] == dead_letters.printable(envelope.account_id or "")
    refusal = row["headers"][dead_letters.REDUCED]
    assert refusal.startswith(("sqlalchemy.exc.DataError: ", "UnicodeEncodeError: "))
    assert "calsync-attempt" not in row["headers"]  # never retried
    # And the worker tried once, with no traceback, and no bound parameter was logged
    assert [line["event"] for line in logs].count("permanent failure") == 1
    text = rendered(logs)
    assert "handler failed" not in text
    assert "[parameters" not in text
    assert SUBJECT not in text

    # And `calsync dlq list` shows it
    shown = CliRunner().invoke(dlq, ["list", "--json"], obj=SimpleNamespace(engine=postgres_store))
    assert shown.exit_code == 0, shown.output
    (listed,) = json.loads(shown.output)
    assert (listed["id"], listed["queue"], listed["attempts"]) == (row["id"], "crm", 1)
