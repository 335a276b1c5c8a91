"""Keeping push channels alive: open, renew, recreate, and resync when notifications were lost.

Google channels cannot be renewed: a new channel (new id, new secret) is opened first and
the old one stopped after, so for a while both notify and one change may arrive twice; the
sync coalesces that. Graph subscriptions are renewed in place from the expiry Graph grants;
one Graph no longer knows (404, or a ``subscriptionRemoved`` lifecycle event) is recreated,
and the connection synced, since changes made meanwhile were never notified.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
import structlog

from adapters.broker import topology
from adapters.broker.envelope import Envelope, MessageType
from adapters.broker.publisher import Publisher
from adapters.calendar.errors import AuthorizationRevoked, CalendarSourceError, ProviderRejected
from adapters.calendar.push import OpenedChannel, PushChannels
from adapters.calendar.source import Credentials
from adapters.calendar.stored import StoredTokens
from adapters.sql.channels import SqlChannels
from adapters.sql.connections import ConnectionRecord, SqlConnections
from adapters.sql.upkeep import SqlUpkeep
from domain.clock import Clock, system_clock
from domain.model import Provider

log = structlog.get_logger(__name__)

#: The life asked for: Graph's limit for events (PROVIDERS.md §B1) less an hour; Google
#: grants what it will, and the renewal works from what was granted.
CHANNEL_LIFETIME = timedelta(minutes=10080 - 60)
#: Seconds to wait for the broker's confirm of a sync hint.
PUBLISH_TIMEOUT = 10.0


@dataclass(frozen=True)
class ChannelEndpoints:
    """Where providers reach us: the public base URL of the webhooks."""

    public_url: str

    def notifications(self, provider: str) -> str:
        return f"{self.public_url.rstrip('/')}/webhooks/{provider}"

    def lifecycle(self, provider: str) -> str | None:
        if provider == Provider.GOOGLE.value:
            return None
        return f"{self.public_url.rstrip('/')}/webhooks/microsoft/lifecycle"


class ChannelKeeper:
    """Opens, renews and replaces the push channels of connections."""

    def __init__(
        self,
        *,
        channels: SqlChannels,
        connections: SqlConnections,
        upkeep: SqlUpkeep,
        push_channels_for: Callable[[str], PushChannels],
        credentials_for: Callable[[ConnectionRecord, StoredTokens], Credentials],
        publisher: Publisher,
        endpoints: ChannelEndpoints,
        clock: Clock = system_clock,
    ) -> None:
        self._channels = channels
        self._connections = connections
        self._upkeep = upkeep
        self._push_channels_for = push_channels_for
        self._credentials_for = credentials_for
        self._publisher = publisher
        self._endpoints = endpoints
        self._clock = clock

    def open(self, record: ConnectionRecord, credentials: Credentials) -> OpenedChannel:
        """Open a new channel for ``record`` and register it (before the provider answers,
        for Google, whose first notification can beat the ``watch`` response).

        Raises:
            CalendarSourceError / ValueError: the provider refused or could not be reached.
        """
        push = self._push_channels_for(record.provider)
        secret = secrets.token_urlsafe(32)
        channel_id = uuid.uuid4().hex
        google = record.provider == Provider.GOOGLE.value
        if google:
            self._channels.register(channel_id, record.id, record.provider, secret)
        try:
            opened = push.open(
                credentials,
                channel_id=channel_id,
                secret=secret,
                address=self._endpoints.notifications(record.provider),
                lifecycle_address=self._endpoints.lifecycle(record.provider),
                expires_at=self._clock() + CHANNEL_LIFETIME,
            )
        except BaseException:
            if google:
                self._channels.stop(channel_id)
            raise
        if google:
            self._channels.update_opened(
                channel_id, resource_id=opened.resource_id, expires_at=opened.expires_at
            )
            return opened
        try:
            self._channels.register(
                opened.id,
                record.id,
                record.provider,
                secret,
                resource_id=opened.resource_id,
                expires_at=opened.expires_at,
            )
        except (sa.exc.SQLAlchemyError, ValueError):
            close_quietly(push, credentials, opened.id, opened.resource_id)
            raise
        return opened

    def renew(self, channel_id: str) -> None:
        """Keep notifications flowing past ``channel_id``'s expiry, without a gap.

        A revoked grant marks the connection for reconnection; any other failure is logged
        and left for the next run (the channel is still live until it expires).
        """
        found = self._channels.find(channel_id)
        if found is None or found.stopped_at is not None:
            return
        record = self._connections.get(found.connection_id)
        if record is None or record.status != "active":
            return
        try:
            credentials = self._credentials(record)
            if record.provider == Provider.GOOGLE.value:
                self._replace_google(record, credentials, channel_id)
            else:
                self._renew_graph(record, credentials, channel_id)
        except AuthorizationRevoked as error:
            self._connections.mark_needs_reconnect(record.id, str(error))
            log.warning("connection needs reconnecting", connection_id=record.id, error=str(error))
        except (CalendarSourceError, ValueError, sa.exc.SQLAlchemyError) as error:
            log.warning(
                "channel not renewed",
                channel_id=channel_id,
                connection_id=record.id,
                error=str(error),
            )

    def recreate(self, connection_id: str, reason: str) -> str | None:
        """Replace every channel of the connection by a new one, then sync what was missed.

        Returns the new channel's id, or None if it could not be opened (the next upkeep run
        tries again: see ``connections_without_channel``).
        """
        record = self._connections.get(connection_id)
        if record is None or record.status != "active":
            return None
        try:
            credentials = self._credentials(record)
            push = self._push_channels_for(record.provider)
            for old in self._channels.active_for(connection_id):
                close_quietly(push, credentials, old.id, old.resource_id)
                self._channels.stop(old.id)
            opened = self.open(record, credentials)
        except AuthorizationRevoked as error:
            self._connections.mark_needs_reconnect(record.id, str(error))
            log.warning("connection needs reconnecting", connection_id=record.id, error=str(error))
            return None
        except (CalendarSourceError, ValueError, sa.exc.SQLAlchemyError) as error:
            log.warning("channel not recreated", connection_id=connection_id, error=str(error))
            return None
        log.info(
            "channel recreated", connection_id=connection_id, channel_id=opened.id, reason=reason
        )
        self.request_sync(record, reason=reason, full=False)
        return opened.id

    def request_sync(self, record: ConnectionRecord, *, reason: str, full: bool) -> None:
        """Queue a sync of the connection; ``full`` makes it start from no cursor (R9 window, or
        notifications lost in a way an incremental sync cannot make up for)."""
        if full:
            self._upkeep.request_full_sync(record.id)
        envelope = Envelope(
            type=MessageType.SYNC_REQUESTED,
            account_id=record.account_id,
            connection_id=record.id,
            payload={"connection_id": record.id, "reason": reason},
        )
        self._publisher.publish(envelope, topology.SYNC.name, timeout=PUBLISH_TIMEOUT)

    def _replace_google(self, record: ConnectionRecord, credentials: Credentials, old: str) -> None:
        opened = self.open(record, credentials)
        push = self._push_channels_for(record.provider)
        for channel in self._channels.active_for(record.id):
            if channel.id == old:
                close_quietly(push, credentials, channel.id, channel.resource_id)
                self._channels.stop(channel.id)
        log.info("channel renewed", connection_id=record.id, old=old, new=opened.id)

    def _renew_graph(
        self, record: ConnectionRecord, credentials: Credentials, channel_id: str
    ) -> None:
        push = self._push_channels_for(record.provider)
        try:
            granted = push.renew(credentials, channel_id, self._clock() + CHANNEL_LIFETIME)
        except ProviderRejected as error:
            log.info("subscription gone, recreating", channel_id=channel_id, error=str(error))
            self.recreate(record.id, reason="subscription gone")
            return
        self._upkeep.extend_channel(channel_id, granted)
        log.info(
            "channel renewed", connection_id=record.id, channel_id=channel_id, expires_at=granted
        )

    def _credentials(self, record: ConnectionRecord) -> Credentials:
        stored = StoredTokens.load(self._connections.credentials(record.id))
        return self._credentials_for(record, stored)


def close_quietly(
    push: PushChannels, credentials: Credentials, channel_id: str, resource_id: str | None
) -> None:
    """Stop one channel at the provider; a failure is logged, not raised (it expires by
    itself, and its notifications meet a stopped channel meanwhile)."""
    try:
        push.close(credentials, channel_id, resource_id)
    except (CalendarSourceError, ValueError) as error:
        log.warning(
            "old channel not stopped at the provider", channel_id=channel_id, error=str(error)
        )
