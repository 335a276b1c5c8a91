"""Forgetting what is no longer needed: published outbox rows and old inbox records.

Both tables grow with every message. A published outbox row is only read again as the latest
write request of its appointment (``workers.writeback_waiting`` sends it again once the
organizer connects), so each ordering key keeps its newest row. An inbox record guards
against a redelivery, which comes within minutes; a dead letter replayed after the records
are gone is applied again, which the handlers' own checks make harmless (versions, save
times, fingerprints). Deletes go in batches so no transaction holds many locks.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from adapters.sql.tables import inbox, outbox

#: Rows deleted per statement.
BATCH = 1000


def purge_published_outbox(conn: sa.Connection, before: datetime, limit: int = BATCH) -> int:
    """Delete up to ``limit`` rows published before ``before``, except each key's newest."""
    o = outbox.c
    newer = outbox.alias("newer")
    has_newer = (
        sa.exists()
        .where(newer.c.ordering_key == o.ordering_key, newer.c.id > o.id)
        .correlate(outbox)
    )
    doomed = (
        sa.select(o.id)
        .where(o.published_at < before, sa.or_(o.ordering_key.is_(None), has_newer))
        .order_by(o.id)
        .limit(limit)
    )
    ids = list(conn.execute(doomed).scalars())
    if ids:
        conn.execute(outbox.delete().where(o.id.in_(ids)))
    return len(ids)


def purge_inbox(conn: sa.Connection, before: datetime, limit: int = BATCH) -> int:
    """Delete up to ``limit`` inbox records of messages processed before ``before``."""
    i = inbox.c
    doomed = (
        sa.select(i.consumer, i.message_id)
        .where(i.processed_at < before)
        .order_by(i.processed_at)
        .limit(limit)
    )
    keys = [tuple(row) for row in conn.execute(doomed)]
    if keys:
        conn.execute(inbox.delete().where(sa.tuple_(i.consumer, i.message_id).in_(keys)))
    return len(keys)
