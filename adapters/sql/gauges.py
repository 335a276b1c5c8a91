"""Gauges read from the store when Prometheus scrapes: connections by status, dead letters.

Counted in SQL at scrape time rather than kept in memory, so every process that serves
``/metrics`` reports the same truth, and a restart loses nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adapters.sql.tables import calendar_connections, dead_letters
from domain.clock import Clock, system_clock

log = structlog.get_logger(__name__)

_c = calendar_connections.c
_d = dead_letters.c


class StoreGauges(Collector):
    """A Prometheus collector over the store; yields nothing until an engine is bound."""

    def __init__(self) -> None:
        self._engine: sa.Engine | None = None
        self._clock: Clock = system_clock
        self.registered = False

    def bind(self, engine: sa.Engine, clock: Clock = system_clock) -> None:
        """Read from ``engine`` from now on, ages by ``clock`` (the last binding wins)."""
        self._engine, self._clock = engine, clock

    def describe(self) -> Iterator[Metric]:
        return iter(())  # names are not known before a scrape reads them

    def collect(self) -> Iterator[Metric]:
        if self._engine is None:
            return
        connections = GaugeMetricFamily(
            "calsync_connections", "Calendar connections by status.", labels=["status"]
        )
        letters = GaugeMetricFamily(
            "calsync_dead_letters",
            "Dead letters waiting in the store (never replayed), by queue.",
            labels=["queue"],
        )
        oldest = GaugeMetricFamily(
            "calsync_dead_letter_oldest_age_seconds",
            "Age of the oldest dead letter, by queue.",
            labels=["queue"],
        )
        try:
            with self._engine.connect() as conn:
                by_status = conn.execute(
                    sa.select(_c.status, sa.func.count()).group_by(_c.status)
                ).all()
                # A replayed letter stays for the record but waits for nobody.
                by_queue = conn.execute(
                    sa.select(_d.queue, sa.func.count(), sa.func.min(_d.first_failed_at))
                    .where(_d.last_replayed_at.is_(None))
                    .group_by(_d.queue)
                ).all()
        except sa.exc.SQLAlchemyError as error:  # a scrape must not fail with the database
            log.warning("store gauges unavailable", error=str(error))
            return
        now = self._clock()
        for status, count in by_status:
            connections.add_metric([status], count)
        for queue, count, first in by_queue:
            letters.add_metric([queue], count)
            oldest.add_metric([queue], (now - _aware(first)).total_seconds())
        yield connections
        yield letters
        yield oldest


def _aware(value: datetime | str) -> datetime:
    # min() over a column loses its type on SQLite, which then gives the stored string.
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


#: The one collector of this process, registered with the default registry on first use.
STORE_GAUGES = StoreGauges()


_registration = threading.Lock()


def expose_store_gauges(engine: sa.Engine, clock: Clock = system_clock) -> None:
    """Serve the store's gauges on this process's default registry (idempotent)."""
    with _registration:
        STORE_GAUGES.bind(engine, clock)
        if not STORE_GAUGES.registered:
            REGISTRY.register(STORE_GAUGES)
            STORE_GAUGES.registered = True
