"""One screen for on-call (``calsync status``): queues, dead letters, connections, the
scheduler and the oldest change still on its way, gathered into one plain dataclass.

The command line renders it; a web console can render the same report from the same call.
Each source is read on its own: a broker that does not answer leaves the store's part whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from kombu.exceptions import KombuError

from adapters.broker.queue_depths import QueueDepth, queue_depths
from adapters.sql import dead_letters
from adapters.sql.connection_list import SqlConnectionList
from adapters.sql.jobs import JobState, SqlJobs
from adapters.sql.status_report import OldestUnsynced, oldest_unsynced
from domain.clock import Clock


@dataclass(frozen=True)
class StatusReport:
    #: When the report was gathered (the one clock).
    at: datetime
    #: Every queue of the topology; empty when the broker did not answer.
    queues: list[QueueDepth]
    #: Why the broker's part is missing, else None.
    broker_error: str | None
    #: Parked dead letters per original queue (as ``calsync dlq stats``).
    dead_letters: list[dead_letters.QueueStats]
    #: Connections of every account by shown status.
    connections: dict[str, int]
    #: The scheduler's jobs: last start and finish, last error, next run.
    jobs: list[JobState]
    oldest_unsynced: OldestUnsynced


def gather(engine: sa.Engine, broker_url: str, clock: Clock) -> StatusReport:
    """The report as of now; raises only when the store does not answer."""
    queues, broker_error = _broker_part(broker_url)
    with engine.connect() as conn:
        letters = dead_letters.queue_stats(conn, dead_letters.Filters())
        oldest = oldest_unsynced(conn)
    return StatusReport(
        at=clock(),
        queues=queues,
        broker_error=broker_error,
        dead_letters=letters,
        connections=SqlConnectionList(engine, clock).count_by_status(),
        jobs=SqlJobs(engine).states(),
        oldest_unsynced=oldest,
    )


def _broker_part(broker_url: str) -> tuple[list[QueueDepth], str | None]:
    try:
        return queue_depths(broker_url), None
    except (OSError, KombuError) as exc:
        # The store's part still helps whoever is on call; say why the queues are missing.
        return [], f"{type(exc).__name__}: {exc}"
