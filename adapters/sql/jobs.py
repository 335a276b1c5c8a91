"""Periodic jobs in SQL: one owner per due run, however many schedulers are running.

A job row says when the job is next due. A scheduler claims a due row with one conditional
UPDATE (due, and not held by a live owner), runs the job, then writes the next due time and
lets the claim go. A scheduler that dies mid-job holds the claim until its lease expires, so
the job is late by at most the lease, never run twice at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from adapters.sql.tables import scheduler_jobs
from adapters.sql.upsert import upsert

_j = scheduler_jobs.c
#: Longest error text kept on a job row.
MAX_ERROR = 2000


@dataclass(frozen=True)
class JobState:
    name: str
    next_run_at: datetime
    owner: str | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_error: str | None


class SqlJobs:
    """Claims and schedules of periodic jobs."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def ensure(self, first_runs: dict[str, datetime]) -> None:
        """Create the rows of jobs never seen before, due at the given times; keep the rest."""
        rows = [{"name": name, "next_run_at": when} for name, when in first_runs.items()]
        with self._engine.begin() as conn:
            upsert(conn, scheduler_jobs, rows, keys=("name",), update=())

    def claim(self, name: str, owner: str, now: datetime, lease: timedelta) -> bool:
        """Take the job if it is due and nobody live holds it; True if this owner has it."""
        with self._engine.begin() as conn:
            taken = conn.execute(
                scheduler_jobs.update()
                .where(
                    _j.name == name,
                    _j.next_run_at <= now,
                    sa.or_(_j.owner.is_(None), _j.lease_expires_at < now),
                )
                .values(owner=owner, lease_expires_at=now + lease, last_started_at=now)
            ).rowcount
        return taken == 1

    def finish(
        self, name: str, owner: str, *, now: datetime, next_run_at: datetime, error: str | None
    ) -> None:
        """Record the run's end and the next due time; a claim lost meanwhile changes nothing."""
        with self._engine.begin() as conn:
            conn.execute(
                scheduler_jobs.update()
                .where(_j.name == name, _j.owner == owner)
                .values(
                    owner=None,
                    lease_expires_at=None,
                    last_finished_at=now,
                    next_run_at=next_run_at,
                    last_error=error[:MAX_ERROR] if error else None,
                )
            )

    def states(self) -> list[JobState]:
        """Every job's row, by name (for operators and tests)."""
        query = sa.select(
            _j.name,
            _j.next_run_at,
            _j.owner,
            _j.last_started_at,
            _j.last_finished_at,
            _j.last_error,
        ).order_by(_j.name)
        with self._engine.connect() as conn:
            return [JobState(**row) for row in conn.execute(query).mappings()]
