"""What the connections API shows of a user's calendar connection, and whose it may be."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from adapters.sql.tables import calendar_connections, push_channels, user_emails, users
from domain.connection_state import shown_status

_c = calendar_connections.c
_p = push_channels.c
_u = users.c


@dataclass(frozen=True)
class ConnectionStatus:
    """A user's calendar connection as ``GET /api/v1/users/{id}/connection`` shows it.

    ``status`` is ``active``, ``failing`` (active, but the last sync failed: ``last_error``
    says why, ``last_synced_at`` when one last succeeded), ``needs_reconnect`` (the provider
    refused the grant: the user must connect again) or ``disconnected``.
    ``channel_expires_at`` is the latest expiry of the live push channels, None when there is
    none.
    """

    user_id: str
    provider: str
    status: str
    connected_at: datetime
    last_synced_at: datetime | None
    last_error: str | None
    appointment_type_id: str | None
    channel_expires_at: datetime | None


@dataclass(frozen=True)
class CalendarUser:
    """A user of an account with every address they go by (R1-normalised in the store)."""

    account_id: str
    user_id: str
    email: str
    addresses: frozenset[str]


class SqlConnectionStatus:
    """Read-only queries of the connections API."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def user(self, account_id: str, user_id: str) -> CalendarUser | None:
        """The account's user ``user_id`` with their addresses, or None."""
        with self._engine.connect() as conn:
            email = conn.execute(
                sa.select(_u.email).where(_u.account_id == account_id, _u.id == user_id)
            ).scalar()
            if email is None:
                return None
            aliases = conn.execute(
                sa.select(user_emails.c.email).where(
                    user_emails.c.account_id == account_id, user_emails.c.user_id == user_id
                )
            ).scalars()
            addresses = frozenset(a.lower() for a in [email, *aliases])
        return CalendarUser(account_id, user_id, str(email), addresses)

    def for_user(self, account_id: str, user_id: str) -> ConnectionStatus | None:
        """The user's connection, or None when they never connected a calendar."""
        live_expiry = (
            sa.select(sa.func.max(_p.expires_at))
            .where(_p.connection_id == _c.id, _p.stopped_at.is_(None))
            .scalar_subquery()
        )
        query = sa.select(
            _c.user_id,
            _c.provider,
            _c.status,
            _c.connected_at,
            _c.last_synced_at,
            _c.last_error,
            _c.appointment_type_id,
            live_expiry.label("channel_expires_at"),
        ).where(_c.account_id == account_id, _c.user_id == user_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return ConnectionStatus(**{**row, "status": shown_status(row["status"], row["last_error"])})
