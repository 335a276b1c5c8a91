"""Calendar connections: credentials (encrypted), cursors, and one syncer at a time.

Coalescing: every hint bumps ``sync_requested``. Whoever takes the connection's lease syncs,
then records the generation it started from in ``sync_done``, and lets the lease go only
if no hint arrived meanwhile (else it syncs again). So a burst of hints gives one running
sync plus at most one more, and two workers, in any processes, never sync one connection
at once. A crashed holder's lease expires; ``stalled`` finds its unfinished work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from adapters.crypto import TokenCipher
from adapters.sql.tables import calendar_connections, users
from adapters.sql.types import UtcDateTime
from domain.clock import Clock, system_clock

_c = calendar_connections.c

#: ``status`` of a connection the user disconnected (``DELETE /api/v1/users/{id}/connection``).
DISCONNECTED = "disconnected"
#: Longest ``last_error`` kept: a provider's error text can be a whole HTML page.
MAX_ERROR_LENGTH = 500


class ConnectionNotFound(LookupError):
    """No calendar connection has that id."""


@dataclass(frozen=True)
class ConnectionRecord:
    id: str
    account_id: str
    user_id: str
    provider: str
    appointment_type_id: str | None
    connected_at: datetime
    status: str
    cursor: str | None
    page_cursor: str | None
    sync_requested: int
    sync_done: int
    user_email: str
    user_time_zone: str
    #: The start of the last sync run that read to the end (see ``record_sync_progress``).
    sync_covered_until: datetime | None = None


class SqlConnections:
    """Calendar connections in SQL."""

    def __init__(self, engine: sa.Engine, cipher: TokenCipher, clock: Clock = system_clock) -> None:
        self._engine = engine
        self._cipher = cipher
        self._clock = clock

    def connect(
        self,
        account_id: str,
        user_id: str,
        provider: str,
        credentials: str,
        *,
        appointment_type_id: str | None = None,
        now: datetime | None = None,
    ) -> ConnectionRecord:
        """Create the user's connection, or refresh it on a reconnect.

        A reconnect keeps the connection's id, cursor and links, so it never duplicates
        appointments (PEERS.md: reconnecting must not reset identity).
        """
        now = now or self._clock()
        values = {
            "credentials": self._cipher.encrypt(credentials),
            "status": "active",
            "last_error": None,
            "updated_at": now,
            "provider": provider,
            "appointment_type_id": appointment_type_id,
        }
        with self._engine.begin() as conn:
            existing = conn.execute(
                sa.select(_c.id, _c.provider).where(
                    _c.account_id == account_id, _c.user_id == user_id
                )
            ).first()
            if existing is None:
                conn.execute(
                    calendar_connections.insert().values(
                        id=str(uuid.uuid4()),
                        account_id=account_id,
                        user_id=user_id,
                        connected_at=now,
                        created_at=now,
                        **values,
                    )
                )
            else:
                if existing.provider != provider:  # another provider: a fresh calendar
                    values.update(cursor=None, page_cursor=None, connected_at=now)
                conn.execute(
                    calendar_connections.update().where(_c.id == existing.id).values(**values)
                )
        found = self.for_user(account_id, user_id)
        assert found is not None
        return found

    def get(self, connection_id: str) -> ConnectionRecord | None:
        return self._one(_c.id == connection_id)

    def for_user(self, account_id: str, user_id: str) -> ConnectionRecord | None:
        return self._one(sa.and_(_c.account_id == account_id, _c.user_id == user_id))

    def credentials(self, connection_id: str) -> str:
        with self._engine.connect() as conn:
            stored = conn.execute(sa.select(_c.credentials).where(_c.id == connection_id)).scalar()
        if stored is None:
            raise ConnectionNotFound(connection_id)
        return self._cipher.decrypt(stored)

    def store_credentials(self, connection_id: str, credentials: str) -> None:
        with self._engine.begin() as conn:
            self.save_credentials(conn, connection_id, credentials)

    def save_credentials(self, conn: sa.Connection, connection_id: str, credentials: str) -> None:
        """Store refreshed tokens inside the caller's transaction (never into a disconnected
        connection: a sync that refreshed while the user disconnected must not bring the
        forgotten grant back)."""
        conn.execute(
            calendar_connections.update()
            .where(_c.id == connection_id, _c.status != DISCONNECTED)
            .values(credentials=self._cipher.encrypt(credentials), updated_at=self._clock())
        )

    def mark_needs_reconnect(self, connection_id: str, reason: str) -> None:
        """The provider refused our tokens for good: stop syncing until the user reconnects."""
        with self._engine.begin() as conn:
            conn.execute(
                calendar_connections.update()
                .where(_c.id == connection_id, _c.status != DISCONNECTED)
                .values(status="needs_reconnect", last_error=reason, updated_at=self._clock())
            )

    def disconnect(self, connection_id: str, now: datetime | None = None) -> bool:
        """The user disconnected: stop syncing and forget the grant; appointments, links and
        the cursor stay (a later connect of the same provider resumes from them).

        Returns False when the connection was disconnected already (idempotent).
        """
        with self._engine.begin() as conn:
            changed = conn.execute(
                calendar_connections.update()
                .where(_c.id == connection_id, _c.status != DISCONNECTED)
                .values(
                    status=DISCONNECTED,
                    credentials=None,
                    last_error=None,
                    updated_at=now or self._clock(),
                )
            ).rowcount
        return changed == 1

    # -- coalescing and the lease -------------------------------------------------------

    def request_sync(self, connection_id: str, received_at: datetime | None = None) -> None:
        """Ask for a sync; ``received_at`` (when the hint came in, else now) may make it the
        oldest request not yet done, which is how far behind the connection is (R36)."""
        at = received_at or self._clock()
        with self._engine.begin() as conn:
            conn.execute(
                calendar_connections.update()
                .where(_c.id == connection_id)
                .values(
                    sync_requested=_c.sync_requested + 1,
                    sync_pending_since=_earliest(_c.sync_pending_since, at),
                )
            )

    def record_sync_failure(self, connection_id: str, reason: str) -> None:
        """Show that a sync of an active connection failed (it stays active and is retried;
        the next sync that reads to the end clears the error)."""
        with self._engine.begin() as conn:
            conn.execute(
                calendar_connections.update()
                .where(_c.id == connection_id, _c.status == "active")
                .values(last_error=reason[:MAX_ERROR_LENGTH], updated_at=self._clock())
            )

    def acquire_lease(self, connection_id: str, owner: str, ttl: timedelta) -> int | None:
        """Take the connection's lease; returns the generation to sync, or None if taken."""
        now = self._clock()
        with self._engine.begin() as conn:
            taken = conn.execute(
                calendar_connections.update()
                .where(
                    _c.id == connection_id,
                    _c.status == "active",
                    sa.or_(
                        _c.lease_owner.is_(None), _c.lease_expires_at < now, _c.lease_owner == owner
                    ),
                )
                .values(lease_owner=owner, lease_expires_at=now + ttl)
            ).rowcount
            if taken != 1:
                return None
            return int(
                conn.execute(
                    sa.select(_c.sync_requested).where(_c.id == connection_id)
                ).scalar_one()
            )

    def renew_lease(
        self, conn: sa.Connection, connection_id: str, owner: str, ttl: timedelta
    ) -> bool:
        """Extend the lease inside the caller's transaction; False if it was lost."""
        return (
            conn.execute(
                calendar_connections.update()
                .where(_c.id == connection_id, _c.lease_owner == owner)
                .values(lease_expires_at=self._clock() + ttl)
            ).rowcount
            == 1
        )

    def release_lease(self, connection_id: str, owner: str, generation: int) -> int | None:
        """Let the lease go unless a hint arrived since ``generation``.

        Returns None when released, else the newer generation to sync while still holding it.
        """
        with self._engine.begin() as conn:
            released = conn.execute(
                calendar_connections.update()
                .where(
                    _c.id == connection_id, _c.lease_owner == owner, _c.sync_requested == generation
                )
                .values(lease_owner=None, lease_expires_at=None)
            ).rowcount
            if released == 1:
                return None
            return int(
                conn.execute(
                    sa.select(_c.sync_requested).where(_c.id == connection_id)
                ).scalar_one()
            )

    def abandon_lease(self, connection_id: str, owner: str) -> None:
        """Give the lease up after a failure, so a retry or another worker can take it."""
        with self._engine.begin() as conn:
            conn.execute(
                calendar_connections.update()
                .where(_c.id == connection_id, _c.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )

    def stalled(self, now: datetime | None = None) -> list[str]:
        """Connections with a requested sync that nobody holds (a holder crashed)."""
        now = now or self._clock()
        with self._engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(_c.id).where(
                        _c.status == "active",
                        _c.sync_requested > _c.sync_done,
                        sa.or_(_c.lease_owner.is_(None), _c.lease_expires_at < now),
                    )
                ).scalars()
            )

    def _one(self, condition: sa.ColumnElement[bool]) -> ConnectionRecord | None:
        query = (
            sa.select(
                _c.id,
                _c.account_id,
                _c.user_id,
                _c.provider,
                _c.appointment_type_id,
                _c.connected_at,
                _c.status,
                _c.cursor,
                _c.page_cursor,
                _c.sync_requested,
                _c.sync_done,
                _c.sync_covered_until,
                users.c.email.label("user_email"),
                users.c.time_zone.label("user_time_zone"),
            )
            .join(users, sa.and_(users.c.account_id == _c.account_id, users.c.id == _c.user_id))
            .where(condition)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return ConnectionRecord(**row) if row else None


def record_sync_progress(
    conn: sa.Connection,
    connection_id: str,
    *,
    cursor: str | None,
    page_cursor: str | None,
    finished_generation: int | None,
    now: datetime,
    covered_until: datetime | None = None,
) -> None:
    """Store where the sync stands, in the same transaction as the page it applied.

    ``covered_until``: on a run's last page, when that run started reading from its cursor;
    hints received before then are covered by it.
    """
    values: dict[str, object] = {"page_cursor": page_cursor, "updated_at": now}
    if cursor is not None:
        values["cursor"] = cursor
    if finished_generation is not None:
        values.update(sync_done=finished_generation, last_synced_at=now, last_error=None)
        values["sync_pending_since"] = _still_pending_since(finished_generation, covered_until)
    if covered_until is not None:
        values["sync_covered_until"] = covered_until
    conn.execute(calendar_connections.update().where(_c.id == connection_id).values(**values))


def reset_cursor(conn: sa.Connection, connection_id: str) -> None:
    """Forget the cursor after the provider expired it: the next run is a full resync."""
    conn.execute(
        calendar_connections.update()
        .where(_c.id == connection_id)
        .values(cursor=None, page_cursor=None)
    )


def _earliest(
    pending_since: sa.ColumnElement[datetime], at: datetime
) -> sa.ColumnElement[datetime]:
    return sa.case(
        (sa.or_(pending_since.is_(None), pending_since > at), sa.literal(at, UtcDateTime)),
        else_=pending_since,
    )


def _still_pending_since(
    generation: int, started: datetime | None
) -> sa.ColumnElement[datetime | None]:
    """After a run that synced ``generation``: None when no request came meanwhile, else
    when the rest are pending. A request received before the run started reading was read
    by it, so the rest count from then at the earliest; a resumed run (no start known)
    keeps the time it had."""
    pending: sa.ColumnElement[datetime | None] = _c.sync_pending_since
    if started is not None:
        pending = sa.case(
            (sa.or_(pending.is_(None), pending < started), sa.literal(started, UtcDateTime)),
            else_=pending,
        )
    return sa.case((_c.sync_requested > generation, pending), else_=sa.null())
