"""The periodic jobs that keep connections healthy without anyone looking.

Each job has a row in SQL (``adapters.sql.jobs``): whichever scheduler claims a due row runs
it, so running the scheduler on several machines at once runs each job once. Every next
due time carries jitter, so many schedulers (or many jobs) do not fire in lockstep.

The jobs:
- ``renew_channels``: Google channels replaced and Graph subscriptions renewed before they
  expire, from the expiry the provider granted; connections left without a channel get one.
- ``sweep_stalled``: syncs whose holder's lease ran out unfinished (a worker was killed)
  are queued again. RabbitMQ redelivers the holder's message anyway; this also covers the
  embedded broker, which does not promise redelivery.
- ``poll_quiet``: connections not synced for a while are synced anyway, because push
  notifications are not fully reliable.
- ``slide_window``: the sync window ends three months ahead and moves every day (R9); a
  connection whose window fell behind gets a full sync of the new one (merging by id, so
  nothing is duplicated).
"""

from __future__ import annotations

import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from prometheus_client import Counter

from adapters.sql.connections import SqlConnections
from adapters.sql.jobs import SqlJobs
from adapters.sql.upkeep import SqlUpkeep
from domain.clock import Clock, system_clock
from domain.eligibility import sync_window
from workers.channel_upkeep import ChannelKeeper

log = structlog.get_logger("calsync.scheduler")

SCHEDULER_JOB_RUNS = Counter(
    "calsync_scheduler_job_runs_total", "Periodic job runs, by job and outcome.", ["job", "outcome"]
)

#: How long a claimed job may run before another scheduler may take it over.
JOB_LEASE = timedelta(minutes=15)
#: A channel is renewed once less than this fraction of its granted life is left, and at
#: the latest this long before it expires (Google may grant an hour, Graph a week).
RENEW_FRACTION = 0.5
RENEW_MARGIN = timedelta(hours=12)
#: A connection with no finished sync for this long is synced anyway.
QUIET_AFTER = timedelta(hours=6)


@dataclass(frozen=True)
class Job:
    """A periodic job: its name (the SQL row), period, and what it does.

    ``work`` gets the current time and returns how many things it acted on, for the log.
    """

    name: str
    every: timedelta
    work: Callable[[datetime], int]
    #: Each next due time moves by up to this fraction of ``every``, either way.
    jitter: float = 0.1


class Scheduler:
    """Runs due jobs, one owner per run across every scheduler process."""

    queue_name = "scheduler"  # for workers.runner, which runs it beside the consumers

    def __init__(
        self,
        store: SqlJobs,
        jobs: Sequence[Job],
        *,
        clock: Clock = system_clock,
        poll_seconds: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._jobs = list(jobs)
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopping = threading.Event()
        self._ensured = False

    def tick(self) -> list[str]:
        """Run every job that is due now; returns the names of those this scheduler ran."""
        now = self._clock()
        if not self._ensured:
            self._store.ensure({job.name: now for job in self._jobs})
            self._ensured = True
        ran = []
        for job in self._jobs:
            if self._stopping.is_set():
                break
            if not self._store.claim(job.name, self._owner, now, JOB_LEASE):
                continue
            ran.append(job.name)
            self._run(job, now)
        return ran

    def run(self) -> None:
        """Tick until ``stop``; a failing tick (database down) is logged and retried."""
        log.info("scheduler started", jobs=[job.name for job in self._jobs], owner=self._owner)
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:  # the store is unreachable: keep trying, never die
                log.exception("scheduler tick failed")
            self._stopping.wait(self._poll_seconds)
        log.info("scheduler stopped")

    def stop(self) -> None:
        self._stopping.set()

    def abort(self) -> None:
        self._stopping.set()

    def _run(self, job: Job, started: datetime) -> None:
        error = None
        try:
            done = job.work(started)
            SCHEDULER_JOB_RUNS.labels(job.name, "ok").inc()
            log.info("job finished", job=job.name, acted_on=done)
        except Exception as exc:  # one job's failure must not stop the others
            SCHEDULER_JOB_RUNS.labels(job.name, "failed").inc()
            error = f"{type(exc).__name__}: {exc}"
            log.exception("job failed", job=job.name)
        spread = job.every.total_seconds() * job.jitter
        next_run = started + job.every + timedelta(seconds=self._rng.uniform(-spread, spread))
        self._store.finish(
            job.name, self._owner, now=self._clock(), next_run_at=next_run, error=error
        )


class UpkeepJobs:
    """The work of each standard job, over the store and the channel keeper."""

    def __init__(
        self, *, upkeep: SqlUpkeep, connections: SqlConnections, keeper: ChannelKeeper
    ) -> None:
        self._upkeep = upkeep
        self._connections = connections
        self._keeper = keeper

    def jobs(self) -> list[Job]:
        return [
            Job("renew_channels", timedelta(minutes=10), self.renew_channels),
            Job("sweep_stalled", timedelta(minutes=1), self.sweep_stalled),
            Job("poll_quiet", timedelta(minutes=15), self.poll_quiet),
            Job("slide_window", timedelta(hours=1), self.slide_window),
        ]

    def renew_channels(self, now: datetime) -> int:
        acted = 0
        for channel in self._upkeep.expiring_channels(before=now + RENEW_MARGIN):
            life = channel.expires_at - channel.created_at
            renew_from = channel.expires_at - min(RENEW_MARGIN, life * RENEW_FRACTION)
            if now >= renew_from:
                self._keeper.renew(channel.id)
                acted += 1
        for connection_id in self._upkeep.connections_without_channel():
            self._keeper.recreate(connection_id, reason="no live channel")
            acted += 1
        return acted

    def sweep_stalled(self, now: datetime) -> int:
        stalled = self._upkeep.crashed_syncs(now)
        for connection_id in stalled:
            self._hint(connection_id, reason="stalled", full=False)
        return len(stalled)

    def poll_quiet(self, now: datetime) -> int:
        quiet = self._upkeep.quiet_connections(synced_before=now - QUIET_AFTER)
        for connection_id in quiet:
            self._hint(connection_id, reason="poll", full=False)
        return len(quiet)

    def slide_window(self, now: datetime) -> int:
        acted = 0
        for connection in self._upkeep.windows():
            if connection.window_end is None:
                continue  # never fully synced yet: its first sync takes today's window
            zone = ZoneInfo(connection.user_time_zone)
            window = sync_window(
                connection.connected_at.astimezone(zone).date(),
                connection.user_time_zone,
                now.astimezone(zone).date(),
            )
            if connection.window_end < window.end:
                self._hint(connection.id, reason="window moved", full=True)
                acted += 1
        return acted

    def _hint(self, connection_id: str, *, reason: str, full: bool) -> None:
        record = self._connections.get(connection_id)
        if record is not None and record.status == "active":
            self._keeper.request_sync(record, reason=reason, full=full)
