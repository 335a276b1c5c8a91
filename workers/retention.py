"""The ``purge_old_messages`` scheduler job: keeps the outbox and the inbox from growing forever."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog

from adapters.sql import retention

log = structlog.get_logger("calsync.retention")

#: How long published outbox rows are kept (for on-call to read what was sent).
OUTBOX_KEPT = timedelta(days=7)
#: How long inbox records are kept: far longer than any redelivery takes.
INBOX_KEPT = timedelta(days=30)
#: Batches per run at most, so one run stays short; the next run goes on.
MAX_BATCHES = 50


class MessageRetention:
    """Deletes published outbox rows and inbox records past their keeping time."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def run(self, now: datetime) -> int:
        """Delete what is due, in batches; how many rows went."""
        deleted = 0
        for purge, kept in (
            (retention.purge_published_outbox, OUTBOX_KEPT),
            (retention.purge_inbox, INBOX_KEPT),
        ):
            for _ in range(MAX_BATCHES):
                with self._engine.begin() as conn:
                    count = purge(conn, now - kept)
                deleted += count
                if count < retention.BATCH:
                    break
        if deleted:
            log.info("old messages forgotten", rows=deleted)
        return deleted
