"""A store with something for on-call to see (R36, ``calsync status``): connections in every
status, a dead letter, scheduler runs, an outbox row and a calendar write still on their way.

Every time is ``now`` minus something, so the same world serves a passed-in clock and the
real one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from adapters.crypto import TokenCipher
from adapters.directory_file import parse_directory
from adapters.sql import dead_letters
from adapters.sql.appointments import AppointmentRecord, SqlAppointments
from adapters.sql.connections import SqlConnections, record_sync_progress
from adapters.sql.directory import SqlDirectory
from adapters.sql.jobs import SqlJobs
from adapters.sql.tables import appointments, outbox

USERS = {"a": ["ann", "bea", "cai", "dan"], "b": ["ann", "eve"]}


def directory(account_id: str, user_ids: list[str]) -> dict[str, Any]:
    users = [
        {"id": u, "name": u.title(), "email": f"{u}@{account_id}.example", "time_zone": "UTC"}
        for u in user_ids
    ]
    return {
        "accounts": [
            {"id": account_id, "name": account_id, "users": users, "companies": [], "contacts": []}
        ]
    }


def seed_connections(engine: sa.Engine, now: datetime) -> None:
    """a: ann active and synced, bea failing 10 min behind, cai needing reconnection 2 h
    behind, dan disconnected; b: ann active 90 s behind, eve failing."""
    for account_id, user_ids in USERS.items():
        SqlDirectory(engine).load(parse_directory(directory(account_id, user_ids)))
    store = SqlConnections(engine, TokenCipher("test-key"), clock=lambda: now)

    def connect(account: str, user: str, provider: str) -> str:
        return store.connect(account, user, provider, "{}", now=now - timedelta(days=30)).id

    ann = connect("a", "ann", "google")
    with engine.begin() as conn:
        generation = store.acquire_lease(ann, "w", timedelta(minutes=1)) or 0
        record_sync_progress(
            conn, ann, cursor="c", page_cursor=None, finished_generation=generation, now=now
        )
    bea = connect("a", "bea", "microsoft")
    store.request_sync(bea, received_at=now - timedelta(minutes=10))
    store.record_sync_failure(bea, "ProviderUnavailable: Graph answered 503")
    cai = connect("a", "cai", "google")
    store.request_sync(cai, received_at=now - timedelta(hours=2))
    store.mark_needs_reconnect(cai, "invalid_grant")
    store.disconnect(connect("a", "dan", "microsoft"), now=now)
    store.request_sync(connect("b", "ann", "microsoft"), received_at=now - timedelta(seconds=90))
    store.record_sync_failure(connect("b", "eve", "google"), "boom")


def seed_operations(engine: sa.Engine, now: datetime) -> None:
    """The connections above, one dead letter of ``sync``, two scheduler jobs (one failed),
    an outbox row 3 minutes unpublished and a calendar write pending for 4 minutes."""
    seed_connections(engine, now)
    jobs = SqlJobs(engine)
    jobs.ensure({name: now - timedelta(minutes=5) for name in ("renew_channels", "poll_quiet")})
    for name, error in (("renew_channels", "ProviderUnavailable: 503"), ("poll_quiet", None)):
        jobs.claim(name, "s1", now - timedelta(minutes=1), timedelta(minutes=15))
        jobs.finish(name, "s1", now=now, next_run_at=now + timedelta(minutes=10), error=error)
    with engine.begin() as conn:
        dead_letters.park(conn, _letter(now - timedelta(minutes=20)))
        conn.execute(
            outbox.insert().values(
                message_id="m-1",
                account_id="a",
                exchange="",
                routing_key="writeback",
                headers={},
                body="{}",
                created_at=now - timedelta(minutes=3),
            )
        )
    _pending_write(engine, now - timedelta(minutes=4))


def _letter(at: datetime) -> dead_letters.DeadLetter:
    return dead_letters.DeadLetter(
        queue="sync",
        reason="retries_exhausted",
        headers={},
        body=b"{}",
        attempts=6,
        first_failed_at=at,
        last_failed_at=at,
        parked_at=at,
        error_class="sqlalchemy.exc.OperationalError",
        account_id="a",
    )


def _pending_write(engine: sa.Engine, at: datetime) -> None:
    SqlAppointments(engine, clock=lambda: at).save(
        AppointmentRecord(
            id="apt-1",
            account_id="a",
            origin="crm",
            subject="Demo",
            start_at=at + timedelta(days=2),
            end_at=at + timedelta(days=2, hours=1),
        )
    )
    with engine.begin() as conn:
        conn.execute(
            appointments.update()
            .where(appointments.c.id == "apt-1")
            .values(sync_state="pending", updated_at=at)
        )
