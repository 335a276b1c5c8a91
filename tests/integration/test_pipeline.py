"""The whole path: notification -> ingest -> RabbitMQ -> sync worker -> store -> read API."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.model import Provider
from infra.sandbox.server import SandboxServer
from tests.support.pipeline import Pipeline


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with SandboxServer() as server:
            yield server


@pytest.fixture(params=[Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "microsoft"])
def pipeline(
    request: pytest.FixtureRequest, tmp_path: Path, broker_url: str, sandbox: SandboxServer
) -> Iterator[Pipeline]:
    made = Pipeline(tmp_path, broker_url, sandbox, request.param)
    yield made
    made.close()


def test_scenario_1_from_notification_to_the_read_api(pipeline: Pipeline) -> None:
    # Given an invitation from outside to Karl and his colleague Johanna
    pipeline.book(
        "Offer review",
        ("karl@exempel.se", "johanna.svennson@exempel.se", "boss@kund.se"),
        organizer="boss@kund.se",
    )

    # When the provider notifies us
    assert pipeline.notify() in {200, 202}

    # Then Karl's CRM calendar shows it, without Johanna (R4), with the inviter (R5)
    (appointment,) = pipeline.calendar()
    assert appointment["subject"] == "Offer review"
    assert {p["email"]: p["kind"] for p in appointment["participants"]} == {
        "karl@exempel.se": "user",
        "boss@kund.se": "external",
    }
    assert appointment["links"][0]["provider"] == pipeline.provider.value
    assert appointment["start"] == datetime(2026, 12, 2, 9, tzinfo=UTC).isoformat()


def test_duplicate_notifications_make_one_appointment(pipeline: Pipeline) -> None:
    pipeline.book("Demo", ("karl@exempel.se", "eva@kund.se"))

    for _ in range(5):
        assert pipeline.notify() in {200, 202}

    appointments = pipeline.calendar()
    time.sleep(1)  # let any late duplicate sync finish
    assert len(pipeline.calendar()) == len(appointments) == 1
    assert appointments[0]["company_id"] == "kund"
