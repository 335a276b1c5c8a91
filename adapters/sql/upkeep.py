"""What the scheduler looks for: channels near expiry, quiet connections, windows to slide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from adapters.sql.tables import calendar_connections, push_channels, users
from domain.clock import Clock, system_clock

_c = calendar_connections.c
_p = push_channels.c


@dataclass(frozen=True)
class ExpiringChannel:
    """A live channel of an active connection, with what renewing it takes."""

    id: str
    connection_id: str
    provider: str
    resource_id: str | None
    expires_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class ConnectionWindow:
    """Where an active connection's last full sync put its window (R9)."""

    id: str
    connected_at: datetime
    user_time_zone: str
    window_end: datetime | None


class SqlUpkeep:
    """Read-mostly queries for periodic upkeep, and the few writes that go with them."""

    def __init__(self, engine: sa.Engine, clock: Clock = system_clock) -> None:
        self._engine = engine
        self._clock = clock

    def expiring_channels(self, before: datetime) -> list[ExpiringChannel]:
        """Live channels of active connections that expire before ``before``, soonest first."""
        query = (
            sa.select(
                _p.id, _p.connection_id, _p.provider, _p.resource_id, _p.expires_at, _p.created_at
            )
            .join(calendar_connections, _c.id == _p.connection_id)
            .where(
                _c.status == "active",
                _p.stopped_at.is_(None),
                _p.expires_at.is_not(None),
                _p.expires_at < before,
            )
            .order_by(_p.expires_at, _p.id)
        )
        with self._engine.connect() as conn:
            return [ExpiringChannel(**row) for row in conn.execute(query).mappings()]

    def connections_without_channel(self) -> list[str]:
        """Active connections with no live channel (opening one failed, or it lapsed)."""
        live = sa.select(_p.connection_id).where(_p.stopped_at.is_(None), _p.connection_id == _c.id)
        query = sa.select(_c.id).where(_c.status == "active", ~live.exists()).order_by(_c.id)
        with self._engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def extend_channel(self, channel_id: str, expires_at: datetime) -> None:
        """Record a renewal's granted expiry."""
        with self._engine.begin() as conn:
            conn.execute(
                push_channels.update().where(_p.id == channel_id).values(expires_at=expires_at)
            )

    def quiet_connections(self, synced_before: datetime) -> list[str]:
        """Active connections with no finished sync since ``synced_before`` and nobody on them.

        Notifications are not fully reliable (PROVIDERS.md: Graph drops them under load,
        Google does not promise delivery), so these get a sync anyway.
        """
        last = sa.func.coalesce(_c.last_synced_at, _c.connected_at)
        query = (
            sa.select(_c.id)
            .where(
                _c.status == "active",
                last < synced_before,
                sa.or_(_c.lease_owner.is_(None), _c.lease_expires_at < synced_before),
            )
            .order_by(last, _c.id)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def crashed_syncs(self, now: datetime) -> list[str]:
        """Connections whose sync holder let its lease run out with the work unfinished.

        A holder that failed gave its lease up (and its message went to a retry queue);
        one whose lease merely expired stopped without a word, most likely killed.
        """
        query = (
            sa.select(_c.id)
            .where(
                _c.status == "active",
                _c.sync_requested > _c.sync_done,
                _c.lease_owner.is_not(None),
                _c.lease_expires_at < now,
            )
            .order_by(_c.id)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def windows(self) -> list[ConnectionWindow]:
        """The window of every active connection's cursor."""
        query = (
            sa.select(
                _c.id,
                _c.connected_at,
                users.c.time_zone.label("user_time_zone"),
                _c.window_end,
            )
            .join(users, sa.and_(users.c.account_id == _c.account_id, users.c.id == _c.user_id))
            .where(_c.status == "active")
            .order_by(_c.id)
        )
        with self._engine.connect() as conn:
            return [ConnectionWindow(**row) for row in conn.execute(query).mappings()]

    def request_full_sync(self, connection_id: str) -> None:
        """Make the next sync run a full one (of the current window), merging by id and
        iCalUID; a run already going finishes as it started."""
        with self._engine.begin() as conn:
            conn.execute(
                calendar_connections.update()
                .where(_c.id == connection_id)
                .values(full_sync_requested=True, updated_at=self._clock())
            )


def record_window(conn: sa.Connection, connection_id: str, start: datetime, end: datetime) -> None:
    """Remember the window a full sync ran over, in the caller's transaction."""
    conn.execute(
        calendar_connections.update()
        .where(_c.id == connection_id)
        .values(window_start=start, window_end=end)
    )


def take_full_sync_request(conn: sa.Connection, connection_id: str) -> bool:
    """If a full sync was requested, forget the cursor and the request; True if there was one.

    Called by the lease holder as a run starts, in the caller's transaction.
    """
    taken = conn.execute(
        calendar_connections.update()
        .where(_c.id == connection_id, _c.full_sync_requested.is_(True))
        .values(full_sync_requested=False, cursor=None, page_cursor=None)
    ).rowcount
    return taken == 1
