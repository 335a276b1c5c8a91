"""Writes that waited for their organizer to connect a calendar, requested again.

A CRM save whose organizer has no active connection leaves the appointment
``not_connected`` (``workers.writeback``). Once the organizer connects (or reconnects), this
scheduler job puts the appointment's latest write request back in the outbox under a new
message id; the write-back then writes it, without attendees when the appointment was made
before the connection (R27). Only appointments still to come are written.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import structlog

from adapters.broker.envelope import Envelope, EnvelopeError, message_id_for
from adapters.sql import crm_store
from adapters.sql import writeback_store as store
from adapters.sql.crm_store import OutboxMessage
from workers.crm import PENDING

log = structlog.get_logger("calsync.writeback")


class WaitingWrites:
    """The ``write_waiting`` scheduler job."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def run(self, now: datetime) -> int:
        """Request the waiting writes of organizers who now have a calendar; how many."""
        requested = 0
        with self._engine.begin() as conn:
            for account_id, appointment_id, fingerprint in store.waiting_for_connection(conn, now):
                message = _again(conn, appointment_id, fingerprint)
                if message is None:
                    continue
                crm_store.enqueue(conn, message, now)
                store.set_state(conn, appointment_id, PENDING, None, now)
                log.info(
                    "calendar write requested again after connecting",
                    account_id=account_id,
                    appointment_id=appointment_id,
                )
                requested += 1
        return requested


def _again(
    conn: sa.Connection, appointment_id: str, fingerprint: str | None
) -> OutboxMessage | None:
    latest = store.latest_request(conn, appointment_id)
    if latest is None:
        return None
    try:
        request = Envelope.from_json(latest.body)
    except EnvelopeError:
        log.exception("stored write request unreadable", appointment_id=appointment_id)
        return None
    if request.payload.get("fingerprint") != fingerprint:
        return None  # a newer save's request is still on its way
    again = Envelope(
        # Each request again follows the latest one, so its id is new every time.
        id=message_id_for(request.id, "again"),
        type=request.type,
        account_id=request.account_id,
        trace_id=request.trace_id,
        payload=request.payload,
    )
    return OutboxMessage(
        message_id=again.id,
        account_id=again.account_id,
        routing_key=latest.routing_key,
        ordering_key=latest.ordering_key,
        headers={"trace_id": again.trace_id, "type": again.type},
        body=again.to_json().decode(),
    )
