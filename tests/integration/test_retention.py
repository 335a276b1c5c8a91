"""The ``purge_old_messages`` job on SQLite and PostgreSQL: old published outbox rows and old
inbox records go; unpublished rows, each appointment's latest request and recent records stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from adapters.sql import retention
from adapters.sql.tables import inbox, outbox
from tests.conftest import empty_store
from workers.retention import INBOX_KEPT, OUTBOX_KEPT, MessageRetention

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
OLD = NOW - OUTBOX_KEPT - timedelta(hours=1)
RECENT = NOW - timedelta(hours=1)


def add_outbox(conn: sa.Connection, name: str, key: str | None, published: datetime | None) -> None:
    conn.execute(
        outbox.insert().values(
            message_id=name,
            exchange="",
            routing_key="writeback",
            ordering_key=key,
            headers={},
            body="{}",
            created_at=OLD,
            published_at=published,
        )
    )


def names(conn: sa.Connection) -> set[str]:
    return set(conn.execute(sa.select(outbox.c.message_id)).scalars())


def test_old_published_rows_go_but_each_appointments_latest_request_stays(
    store: sa.Engine,
) -> None:
    empty_store(store)
    with store.begin() as conn:
        add_outbox(conn, "a-1", "appointment:a", OLD)
        add_outbox(conn, "a-2", "appointment:a", OLD)  # a's latest: kept for write_waiting
        add_outbox(conn, "b-1", "appointment:b", OLD)
        add_outbox(conn, "b-2", "appointment:b", None)  # unpublished: never purged
        add_outbox(conn, "c-1", "appointment:c", RECENT)
        add_outbox(conn, "c-2", "appointment:c", RECENT)  # recent: kept
        add_outbox(conn, "lone", None, OLD)

    assert MessageRetention(store).run(NOW) == 3

    with store.connect() as conn:
        assert names(conn) == {"a-2", "b-2", "c-1", "c-2"}


def test_inbox_records_older_than_their_keeping_time_go(store: sa.Engine) -> None:
    empty_store(store)
    old = NOW - INBOX_KEPT - timedelta(minutes=1)
    with store.begin() as conn:
        for n in range(5):
            conn.execute(
                inbox.insert().values(consumer="crm", message_id=f"old-{n}", processed_at=old)
            )
        conn.execute(inbox.insert().values(consumer="sync", message_id="new", processed_at=RECENT))

    with store.begin() as conn:
        assert retention.purge_inbox(conn, NOW - INBOX_KEPT, limit=2) == 2
    assert MessageRetention(store).run(NOW) == 3

    with store.connect() as conn:
        left = conn.execute(sa.select(inbox.c.message_id)).scalars().all()
    assert left == ["new"]
