"""The last day at a glance, for the on-call console's two plots: dead letters parked per
hour (from ``dead_letters.parked_at``) and sync lag (from ``sync_lag_samples``).

Nothing else records lag over time: a connection keeps only its oldest pending request
(``sync_pending_since``). So the scheduler's ``sample_lag`` job writes one small row every
few minutes, and drops rows older than ``KEPT``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from adapters.sql.tables import calendar_connections, dead_letters, sync_lag_samples
from domain.clock import Clock, system_clock
from domain.connection_lag import lag_seconds
from domain.connection_state import DISCONNECTED

#: How long samples are kept: the plot shows one day; a second one is there for a look back.
KEPT = timedelta(days=2)
#: How often the scheduler samples.
SAMPLE_EVERY = timedelta(minutes=5)

_c, _s, _d = calendar_connections.c, sync_lag_samples.c, dead_letters.c


@dataclass(frozen=True)
class LagSample:
    at: datetime
    connections: int
    lagging: int
    max_lag_seconds: int
    avg_lag_seconds: int


class SqlLagSamples:
    """Writes and reads the lag samples."""

    def __init__(self, engine: sa.Engine, clock: Clock = system_clock) -> None:
        self._engine = engine
        self._clock = clock

    def record(self, now: datetime) -> int:
        """The ``sample_lag`` job: one sample as of ``now``; old samples go. Returns 1."""
        with self._engine.begin() as conn:
            sample = _measure(conn, now)
            conn.execute(sync_lag_samples.delete().where(_s.at <= now - KEPT))
            conn.execute(sync_lag_samples.delete().where(_s.at == now))  # a rerun at one instant
            conn.execute(sync_lag_samples.insert().values(**asdict(sample)))
        return 1

    def since(self, start: datetime) -> list[LagSample]:
        """Samples taken at or after ``start``, oldest first."""
        query = sa.select(sync_lag_samples).where(_s.at >= start).order_by(_s.at)
        with self._engine.connect() as conn:
            return [LagSample(**row) for row in conn.execute(query).mappings()]


def _measure(conn: sa.Connection, now: datetime) -> LagSample:
    # Only connections with a pending request are read row by row: usually a handful.
    can_lag = _c.status != DISCONNECTED
    total = int(conn.execute(sa.select(sa.func.count()).where(can_lag)).scalar_one())
    pending = conn.execute(
        sa.select(_c.status, _c.sync_pending_since).where(
            can_lag, _c.sync_pending_since.is_not(None)
        )
    ).all()
    lags = [lag_seconds(status, since, now) or 0 for status, since in pending]
    return LagSample(
        at=now,
        connections=total,
        lagging=sum(1 for lag in lags if lag > 0),
        max_lag_seconds=max(lags, default=0),
        avg_lag_seconds=round(sum(lags) / total) if total else 0,
    )


def parked_per_hour(engine: sa.Engine, end: datetime, hours: int = 24) -> list[int]:
    """Dead letters parked in each of the ``hours`` hours before ``end``, oldest hour first."""
    start = end - timedelta(hours=hours)
    query = sa.select(_d.parked_at).where(_d.parked_at >= start, _d.parked_at < end)
    counts = [0] * hours
    with engine.connect() as conn:
        for (parked_at,) in conn.execute(query):
            counts[int((parked_at - start).total_seconds() // 3600)] += 1
    return counts
