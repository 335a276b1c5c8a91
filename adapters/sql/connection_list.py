"""An account's calendar connections as ``GET /api/v1/connections`` and
``calsync connections list`` show them (R36), and their count by shown status."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.sql.tables import calendar_connections
from domain.clock import Clock, system_clock
from domain.connection_lag import lag_seconds
from domain.connection_state import ACTIVE, FAILING, shown_status

_c = calendar_connections.c
#: What a listed connection is made of.
_LISTED = (
    _c.user_id,
    _c.provider,
    _c.status,
    _c.connected_at,
    _c.last_synced_at,
    _c.last_error,
    _c.sync_pending_since,
)


@dataclass(frozen=True)
class ConnectionFilter:
    """Which of an account's connections to list; None matches any."""

    status: str | None = None  # a shown status: active, failing, needs_reconnect, disconnected
    provider: str | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class ListedConnection:
    """One connection: ``status`` as shown (``failing`` is active with a failed last sync);
    ``lag_seconds`` see ``domain.connection_lag``."""

    user_id: str
    provider: str
    status: str
    connected_at: datetime
    last_synced_at: datetime | None
    last_error: str | None
    lag_seconds: int | None


@dataclass(frozen=True)
class OperatorConnection:
    """A connection as the on-call console lists it: whose it is, and its id to act on."""

    account_id: str
    connection_id: str
    listed: ListedConnection


class SqlConnectionList:
    """Read-only: connections of one account, or counted over every account."""

    def __init__(self, engine: sa.Engine, clock: Clock = system_clock) -> None:
        self._engine = engine
        self._clock = clock

    def list(self, account_id: str, where: ConnectionFilter) -> list[ListedConnection]:
        """The account's connections matching ``where``, by user id."""
        query = (
            sa.select(*_LISTED)
            .where(_c.account_id == account_id, *_matching(where))
            .order_by(_c.user_id)
            .limit(where.limit)
            .offset(where.offset)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        now = self._clock()
        return [_listed(row, now) for row in rows]

    def list_for_operator(
        self, where: ConnectionFilter, account_id: str | None = None
    ) -> builtins.list[OperatorConnection]:
        """Connections of every account (or one), by account and user, as listed above."""
        query = (
            sa.select(_c.account_id, _c.id, *_LISTED)
            .where(*_matching(where))
            .order_by(_c.account_id, _c.user_id, _c.provider)
            .limit(where.limit)
            .offset(where.offset)
        )
        if account_id is not None:
            query = query.where(_c.account_id == account_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        now = self._clock()
        return [OperatorConnection(row.account_id, row.id, _listed(row, now)) for row in rows]

    def count_by_status(self) -> dict[str, int]:
        """Connections of every account by shown status (statuses with none left out)."""
        failing = sa.and_(_c.status == ACTIVE, _c.last_error.is_not(None))
        shown = sa.case((failing, FAILING), else_=_c.status).label("shown")
        query = sa.select(shown, sa.func.count()).group_by(shown).order_by(shown)
        with self._engine.connect() as conn:
            return {str(status): int(n) for status, n in conn.execute(query)}


def _matching(where: ConnectionFilter) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    if where.provider is not None:
        clauses.append(_c.provider == where.provider)
    if where.status == ACTIVE:  # shown active: stored active and the last sync went well
        clauses += [_c.status == ACTIVE, _c.last_error.is_(None)]
    elif where.status == FAILING:
        clauses += [_c.status == ACTIVE, _c.last_error.is_not(None)]
    elif where.status is not None:
        clauses.append(_c.status == where.status)
    return clauses


def _listed(row: Any, now: datetime) -> ListedConnection:
    status = shown_status(row.status, row.last_error)
    return ListedConnection(
        user_id=row.user_id,
        provider=row.provider,
        status=status,
        connected_at=row.connected_at,
        last_synced_at=row.last_synced_at,
        last_error=row.last_error,
        lag_seconds=lag_seconds(status, row.sync_pending_since, now),
    )
