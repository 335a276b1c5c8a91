"""What the store says for ``calsync status``: the oldest change not yet synced, per kind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from adapters.sql.tables import appointments, calendar_connections, outbox
from domain.connection_state import ACTIVE

_c, _o, _a = calendar_connections.c, outbox.c, appointments.c


@dataclass(frozen=True)
class Oldest:
    """The oldest item of a kind still waiting, and since when."""

    since: datetime
    #: Which one, for the next command: ``account/user``, an outbox id, an appointment id.
    what: str


@dataclass(frozen=True)
class OldestUnsynced:
    """The oldest change on its way, where each kind of change waits; None: none waits."""

    #: An active connection's oldest sync request not yet done (calendar to CRM).
    sync_request: Oldest | None
    #: A write request (outbox row) not yet published to the broker (CRM to calendar).
    outbox_row: Oldest | None
    #: An appointment whose calendar write is on its way (``sync_state`` pending), by the
    #: time it last changed.
    pending_write: Oldest | None


def oldest_unsynced(conn: sa.Connection) -> OldestUnsynced:
    request = conn.execute(
        sa.select(_c.sync_pending_since, _c.account_id, _c.user_id)
        .where(_c.status == ACTIVE, _c.sync_pending_since.is_not(None))
        .order_by(_c.sync_pending_since)
        .limit(1)
    ).first()
    row = conn.execute(
        sa.select(_o.created_at, _o.id).where(_o.published_at.is_(None)).order_by(_o.id).limit(1)
    ).first()
    write = conn.execute(
        sa.select(_a.updated_at, _a.account_id, _a.id)
        .where(_a.sync_state == "pending")
        .order_by(_a.updated_at)
        .limit(1)
    ).first()
    return OldestUnsynced(
        sync_request=Oldest(request[0], f"{request[1]}/{request[2]}") if request else None,
        outbox_row=Oldest(row[0], f"outbox {row[1]}") if row else None,
        pending_write=Oldest(write[0], f"{write[1]}/{write[2]}") if write else None,
    )
