"""What the console's browser test finds: the operations world, a CRM save refused because
its organizer was not a user yet (fixed by loading her), a sync letter to purge, letters
parked over the last day, a day of lag samples and an explained event (R36).

Every time is ``now`` minus something.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa

from adapters.broker.envelope import Envelope
from adapters.directory_file import parse_directory
from adapters.sql import dead_letters
from adapters.sql.directory import SqlDirectory
from adapters.sql.tables import calendar_connections, event_explanations, sync_lag_samples
from tests.factories import crm_event
from tests.support.dates import days_ahead, rfc3339
from tests.support.operations_world import USERS, directory, seed_operations

#: The organizer the refused save names; the account gains her when the cause is fixed.
NEW_USER = "fay"
EXPLAINED_EVENT = "evt-lunch-alone"


def refused_save(now: datetime) -> Envelope:
    start = days_ahead(3, hour=10)
    data = {
        "id": "crm-42",
        "organizer_user_id": NEW_USER,
        "subject": "Renewal talk",
        "description": "",
        "agenda": "",
        "location": "",
        "start": rfc3339(start),
        "end": rfc3339(start + timedelta(hours=1)),
        "time_zone": "UTC",
        "user_ids": [],
        "contact_ids": [],
        "emails": ["buyer@customer.example"],
        "company_id": None,
        "room_emails": [],
        "video": None,
        "invite": False,
        "appointment_type_id": "type-meeting",
        "outcome": None,
    }
    return crm_event("a", "crm-evt-42", "appointment.saved", data, rfc3339(now))


def seed_console_world(engine: sa.Engine, now: datetime) -> tuple[int, int]:
    """The world; returns the ids of the refused CRM save's letter and of the sync letter."""
    seed_operations(engine, now)
    envelope = refused_save(now)
    with engine.begin() as conn:
        crm_letter = dead_letters.park(conn, _crm_letter(envelope, now - timedelta(minutes=12)))
        for hours_ago in (23, 20, 20, 9, 5, 5, 5, 2):
            at = now - timedelta(hours=hours_ago, minutes=10)
            dead_letters.park(conn, _letter("writeback", at, "retries_exhausted"))
        sync_letter = dead_letters.park(
            conn, _letter("sync", now - timedelta(minutes=3), "permanent")
        )
    _seed_lag(engine, now)
    _seed_explanation(engine, now)
    return crm_letter, sync_letter


def fix_the_cause() -> dict[str, object]:
    """The directory file that makes ``NEW_USER`` a user of account a."""
    return directory("a", [*USERS["a"], NEW_USER])


def load_directory(engine: sa.Engine, document: dict[str, object]) -> None:
    SqlDirectory(engine).load(parse_directory(document))


def _crm_letter(envelope: Envelope, at: datetime) -> dead_letters.DeadLetter:
    return dead_letters.DeadLetter(
        queue="crm",
        reason="permanent",
        headers={"calsync-attempt": 1, "x-trace": envelope.trace_id},
        body=envelope.to_json(),
        attempts=1,
        first_failed_at=at,
        last_failed_at=at,
        parked_at=at,
        message_id=envelope.id,
        routing_key="crm",
        error_class="workers.errors.Permanent",
        error_message=f"organizer {NEW_USER!r} is not an active user of the account",
        account_id="a",
        trace_id=envelope.trace_id,
    )


def _letter(queue: str, at: datetime, reason: str) -> dead_letters.DeadLetter:
    return dead_letters.DeadLetter(
        queue=queue,
        reason=reason,
        headers={},
        body=b'{"note": "not an envelope"}',
        attempts=6,
        first_failed_at=at,
        last_failed_at=at,
        parked_at=at,
        routing_key=queue,
        error_class="adapters.calendar.errors.ProviderUnavailable",
        error_message="Graph answered 503",
        account_id="b",
    )


def _seed_lag(engine: sa.Engine, now: datetime) -> None:
    """A day of samples every 5 minutes: a bump in the afternoon, a small one this morning."""
    rows = []
    for step in range(288):
        at = now - timedelta(minutes=5 * step)
        hump = max(0.0, math.sin(step / 40)) * 900 + (120 if 60 < step < 80 else 0)
        rows.append(
            {
                "at": at,
                "connections": 6,
                "lagging": 2 if hump > 60 else 1,
                "max_lag_seconds": int(60 + hump),
                "avg_lag_seconds": int(15 + hump / 4),
            }
        )
    with engine.begin() as conn:
        conn.execute(sync_lag_samples.insert(), rows)


def _seed_explanation(engine: sa.Engine, now: datetime) -> None:
    c = calendar_connections.c
    with engine.begin() as conn:
        ann = conn.execute(
            sa.select(c.id).where(c.account_id == "a", c.user_id == "ann")
        ).scalar_one()
        conn.execute(
            event_explanations.insert().values(
                connection_id=ann,
                event_id=EXPLAINED_EVENT,
                rule="R7",
                reason="no participant besides the owner",
                seen_at=now - timedelta(minutes=30),
            )
        )
