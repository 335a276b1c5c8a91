"""Push channels: Google notification channels and Graph subscriptions, keyed by their id.

A channel's secret (Google's channel token, Graph's ``clientState``) is stored only as a
SHA-256 hash; webhook receivers hash what they are sent and compare the hashes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from adapters.sql.tables import calendar_connections, push_channels
from domain.clock import Clock, system_clock

#: What a channel id may look like: printable ASCII, no spaces, and short enough for the
#: column. Anything else cannot be ours, so it is not worth a query (and a NUL byte or a
#: lone surrogate would make PostgreSQL's driver raise instead of finding nothing).
_PLAUSIBLE_ID = re.compile(r"[\x21-\x7e]{1,255}")
#: Ids per query in :meth:`SqlChannels.find_many`.
LOOKUP_CHUNK = 500


def hash_channel_secret(secret: str) -> str:
    """SHA-256 hex digest of a channel secret.

    Secrets are random values we generate, so a fast hash is enough. ``surrogatepass``
    lets any string a JSON body can carry be hashed; such a value simply never matches.
    """
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class ChannelRecord:
    """A push channel together with the calendar connection it notifies about."""

    id: str
    connection_id: str
    account_id: str
    user_id: str
    provider: str
    secret_hash: str
    stopped_at: datetime | None
    connection_status: str


@dataclass(frozen=True)
class OpenChannel:
    """A channel not stopped yet, with what stopping it at the provider takes."""

    id: str
    provider: str
    resource_id: str | None
    expires_at: datetime | None


_CHANNELS = sa.select(
    push_channels.c.id,
    push_channels.c.connection_id,
    calendar_connections.c.account_id,
    calendar_connections.c.user_id,
    push_channels.c.provider,
    push_channels.c.secret_hash,
    push_channels.c.stopped_at,
    calendar_connections.c.status.label("connection_status"),
).join(calendar_connections, calendar_connections.c.id == push_channels.c.connection_id)


class SqlChannels:
    """Find push channels by id (webhook receivers); register, update and stop them (connect)."""

    def __init__(self, engine: sa.Engine, clock: Clock = system_clock) -> None:
        self._engine = engine
        self._clock = clock

    def find(self, channel_id: str) -> ChannelRecord | None:
        """Return the channel with this id and its connection, or None if there is none."""
        return self.find_many([channel_id]).get(channel_id)

    def find_many(self, channel_ids: Iterable[str]) -> dict[str, ChannelRecord]:
        """Return the channels among ``channel_ids`` that exist, by id.

        One query per :data:`LOOKUP_CHUNK` ids, on one connection: a Graph batch may name
        thousands of subscriptions, and a round trip per id would take seconds.
        """
        wanted = sorted({i for i in channel_ids if _PLAUSIBLE_ID.fullmatch(i)})
        found: dict[str, ChannelRecord] = {}
        if not wanted:
            return found
        with self._engine.connect() as conn:
            for start in range(0, len(wanted), LOOKUP_CHUNK):
                chunk = wanted[start : start + LOOKUP_CHUNK]
                for row in conn.execute(_CHANNELS.where(push_channels.c.id.in_(chunk))):
                    found[row.id] = ChannelRecord(**row._asdict())
        return found

    def register(
        self,
        channel_id: str,
        connection_id: str,
        provider: str,
        secret: str,
        *,
        resource_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        """Store a new channel for ``connection_id``; only the secret's hash is kept.

        Register the channel *before* asking the provider to create it: Google's first
        (``sync``) notification can arrive before its ``watch`` call returns.

        Raises:
            ValueError: the id could never be matched by :meth:`find`.
            sqlalchemy.exc.IntegrityError: the id is taken or the connection does not exist.
        """
        if not _PLAUSIBLE_ID.fullmatch(channel_id):
            raise ValueError(f"channel id {channel_id!r} must be 1-255 printable ASCII characters")
        with self._engine.begin() as conn:
            conn.execute(
                push_channels.insert().values(
                    id=channel_id,
                    connection_id=connection_id,
                    provider=provider,
                    resource_id=resource_id,
                    secret_hash=hash_channel_secret(secret),
                    expires_at=expires_at,
                    created_at=self._clock(),
                )
            )

    def update_opened(
        self, channel_id: str, *, resource_id: str | None, expires_at: datetime | None
    ) -> None:
        """Record what the provider answered when it created the channel."""
        with self._engine.begin() as conn:
            conn.execute(
                push_channels.update()
                .where(push_channels.c.id == channel_id)
                .values(resource_id=resource_id, expires_at=expires_at)
            )

    def stop(self, channel_id: str, now: datetime | None = None) -> None:
        """Mark the channel stopped (webhooks then refuse it); a stopped one stays as it was."""
        with self._engine.begin() as conn:
            conn.execute(
                push_channels.update()
                .where(push_channels.c.id == channel_id, push_channels.c.stopped_at.is_(None))
                .values(stopped_at=now or self._clock())
            )

    def active_for(self, connection_id: str) -> list[OpenChannel]:
        """The connection's channels not stopped yet (expired ones included), oldest first."""
        query = (
            sa.select(
                push_channels.c.id,
                push_channels.c.provider,
                push_channels.c.resource_id,
                push_channels.c.expires_at,
            )
            .where(
                push_channels.c.connection_id == connection_id,
                push_channels.c.stopped_at.is_(None),
            )
            .order_by(push_channels.c.created_at, push_channels.c.id)
        )
        with self._engine.connect() as conn:
            return [OpenChannel(**row._asdict()) for row in conn.execute(query)]
