"""Connecting a user's calendar without a browser (``calsync connect``, ops and tests).

The steps, each failing with a ``ConnectError`` that says what to fix:

1. the provider's OAuth client is configured (``CALSYNC_*_CLIENT_ID`` / ``_SECRET``);
2. the account and the user exist;
3. the refresh token works: it is refreshed once (Microsoft rotates it; the new one is kept);
   and the calendar it opens is the user's: the provider's owner of it is the user's
   username or one of their aliases (R37; ``wrong_account`` otherwise, nothing attached);
4. the connection is stored, its tokens encrypted (a reconnect keeps the connection);
5. the connection's old push channels are stopped (best effort), and a new one is opened:
   Google: registered in SQL first, because Google's ``sync`` message may arrive before
   ``events.watch`` returns; Graph: created first (Graph names the subscription and
   validates our URLs before it answers), then registered under Graph's id;
6. an initial sync hint goes to the ``sync`` queue.

A push channel that cannot be opened does not fail the connect: the connection stays and
syncs on hints and polling; ``ConnectResult.channel_error`` says why there is no channel.

The browser connect (``infra/browser_connect.py``) ends in ``connect_calendar`` too, with the
refresh token its code exchange bought. ``disconnect_calendar`` undoes a connect: channels
stopped, grant forgotten, appointments kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
import structlog

from adapters.broker import topology
from adapters.broker.envelope import Envelope, MessageType
from adapters.broker.publisher import Publisher, PublishFailed
from adapters.calendar.errors import (
    AuthorizationRevoked,
    CalendarSourceError,
    ProviderRejected,
    ProviderUnavailable,
)
from adapters.calendar.factory import push_channels_for
from adapters.calendar.push import PushChannels
from adapters.calendar.source import Credentials
from adapters.calendar.stored import StoredTokens, StoredTokensError
from adapters.crypto import TokenCipher
from adapters.oauth_owner import calendar_owner_addresses
from adapters.sql.channels import SqlChannels
from adapters.sql.connection_status import CalendarUser, SqlConnectionStatus
from adapters.sql.connections import ConnectionRecord, SqlConnections
from adapters.sql.tables import accounts
from domain.clock import Clock
from domain.emails import normalise_email
from domain.model import Provider
from infra.credentials import credentials_for
from infra.settings import Settings
from workers.channel_upkeep import ChannelKeeper, close_quietly


class ConnectContainer(Protocol):
    """What connecting a calendar needs of the process's composition root.

    ``infra.bootstrap.Container`` is one; naming only what is used here keeps this module
    from importing the container, which imports it back (through ``infra.browser_connect``).
    """

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> sa.Engine: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def cipher(self) -> TokenCipher: ...

    @property
    def connections(self) -> SqlConnections: ...

    @property
    def channels(self) -> SqlChannels: ...

    @property
    def publisher(self) -> Publisher: ...

    @property
    def push_channels(self) -> Callable[[str], PushChannels]: ...

    def channel_keeper(
        self, push_channels_for: Callable[[str], PushChannels] | None = None
    ) -> ChannelKeeper: ...


log = structlog.get_logger("calsync.connect")

#: Channel lifetime asked for: just under Graph's 10080-minute maximum (Google grants up
#: to 7 days too). Renewal is the connections worker's job.
#: Seconds to wait for the broker to confirm the initial sync hint.
PUBLISH_TIMEOUT = 10.0


class ConnectError(Exception):
    """Connecting failed; the message says what is wrong and what to do.

    ``code`` names the failure for callers that answer over HTTP: ``unknown_provider``,
    ``not_configured``, ``unknown_account``, ``unknown_user``, ``grant_refused``,
    ``provider_unavailable``, ``provider_rejected``, ``sync_not_queued`` (connected, but the
    initial sync is not queued) or ``not_connected`` (nothing to disconnect).
    """

    def __init__(self, message: str, code: str = "connect_failed") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ConnectResult:
    """What ``connect_calendar`` did.

    Attributes:
        connection_id: the user's calendar connection (the same one on a reconnect).
        provider: ``google`` or ``microsoft``.
        reconnected: the user had a connection already.
        channel_id: the push channel opened (Graph: the subscription id), or None.
        channel_expires_at: when the provider stops notifying on it.
        channel_error: why no push channel was opened (sync then relies on polling).
        stopped_channels: ids of the old channels stopped.
    """

    connection_id: str
    provider: str
    reconnected: bool
    channel_id: str | None
    channel_expires_at: datetime | None
    channel_error: str | None
    stopped_channels: tuple[str, ...] = ()


def missing_oauth_settings(settings: Settings, provider: Provider) -> list[str]:
    """The ``CALSYNC_*`` variables the provider's OAuth client needs that are not set."""
    if provider is Provider.GOOGLE:
        pairs = [
            ("CALSYNC_GOOGLE_CLIENT_ID", settings.google_client_id),
            ("CALSYNC_GOOGLE_CLIENT_SECRET", settings.google_client_secret),
        ]
    else:
        pairs = [
            ("CALSYNC_MICROSOFT_CLIENT_ID", settings.microsoft_client_id),
            ("CALSYNC_MICROSOFT_CLIENT_SECRET", settings.microsoft_client_secret),
        ]
    return [name for name, value in pairs if not value]


def connect_calendar(
    container: ConnectContainer,
    *,
    provider: Provider | str,
    account_id: str,
    user_id: str,
    refresh_token: str,
    appointment_type_id: str | None = None,
    push_channels: PushChannels | None = None,
) -> ConnectResult:
    """Connect a user's calendar with a refresh token, open its push channel, queue a sync.

    Args:
        container: the process's composition root.
        provider: ``google`` or ``microsoft``.
        account_id: the CRM account.
        user_id: the user's id in that account (their e-mail names the calendar).
        refresh_token: an OAuth refresh token issued to this deployment's client.
        appointment_type_id: the appointment type of synced appointments, if any.
        push_channels: the provider's push-channel adapter (default: a new one, shut down
            afterwards).

    Raises:
        ConnectError: an unknown provider, missing OAuth settings, an unknown account or
            user, a refused or unusable refresh token, or an unqueued initial sync.
    """
    kind = _provider(provider)
    settings = container.settings
    missing = missing_oauth_settings(settings, kind)
    if missing:
        raise ConnectError(
            f"cannot connect {kind.value}: {' and '.join(missing)} not set", "not_configured"
        )
    user = _calendar_user(container.engine, account_id, user_id)
    channels = push_channels or push_channels_for(kind)
    try:
        return _connect(
            container,
            channels,
            provider=kind,
            user=user,
            refresh_token=refresh_token,
            appointment_type_id=appointment_type_id,
        )
    finally:
        if push_channels is None:
            channels.shutdown()


def _connect(
    container: ConnectContainer,
    channels: PushChannels,
    *,
    provider: Provider,
    user: CalendarUser,
    refresh_token: str,
    appointment_type_id: str | None,
) -> ConnectResult:
    settings = container.settings
    account_id, user_id, email = user.account_id, user.user_id, user.email
    credentials = credentials_for(settings, provider, email, StoredTokens(refresh_token))
    tokens = _verify(channels, credentials, provider)
    credentials = credentials_for(settings, provider, email, tokens)
    _refuse_another_persons_calendar(credentials, user)
    previous = container.connections.for_user(account_id, user_id)
    old_credentials = _stored_credentials(container, previous, email) if previous else None
    record = container.connections.connect(
        account_id,
        user_id,
        provider.value,
        tokens.dump(),
        appointment_type_id=appointment_type_id,
    )
    stopped = _stop_old_channels(container, channels, provider, record.id, old_credentials)
    channel_id, expires_at, channel_error = _open_channel(container, channels, record, credentials)
    _queue_initial_sync(container, record)
    log.info(
        "calendar connected",
        account_id=account_id,
        user_id=user_id,
        provider=provider.value,
        connection_id=record.id,
        reconnected=previous is not None,
        channel_id=channel_id,
        channel_error=channel_error,
    )
    return ConnectResult(
        connection_id=record.id,
        provider=provider.value,
        reconnected=previous is not None,
        channel_id=channel_id,
        channel_expires_at=expires_at,
        channel_error=channel_error,
        stopped_channels=tuple(stopped),
    )


def _provider(value: Provider | str) -> Provider:
    try:
        return Provider(value)
    except ValueError:
        raise ConnectError(
            f"unknown provider {value!r}: use google or microsoft", "unknown_provider"
        ) from None


def _calendar_user(engine: sa.Engine, account_id: str, user_id: str) -> CalendarUser:
    with engine.connect() as conn:
        account = conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id))
        if account.first() is None:
            raise ConnectError(f"account {account_id!r} does not exist", "unknown_account")
    user = SqlConnectionStatus(engine).user(account_id, user_id)
    if user is None:
        raise ConnectError(
            f"user {user_id!r} does not exist in account {account_id!r} "
            "(load the directory first: calsync directory load)",
            "unknown_user",
        )
    return user


def _refuse_another_persons_calendar(credentials: Credentials, user: CalendarUser) -> None:
    """R37: the provider must say the calendar is the user's, by username or alias.

    A refresh token names nobody, so without this anybody's token would attach their
    calendar (and its meetings) to whichever user the command line or link named.
    """
    name = credentials.provider.value
    with _provider_failures(name, "calendar API", "the calendar owner lookup"):
        owners = calendar_owner_addresses(credentials)
    if not owners:
        raise ConnectError(
            f"{name} did not say whose calendar this grant opens; nothing was connected",
            "wrong_account",
        )
    if not is_one_of(owners, user.addresses):
        raise ConnectError(
            f"the {name} calendar of this grant belongs to {min(owners)}, not to user "
            f"{user.user_id!r} ({user.email} or one of its aliases); connect with "
            f"{user.email}'s own {name} account",
            "wrong_account",
        )


def is_one_of(owners: frozenset[str], addresses: frozenset[str]) -> bool:
    """Whether any of the owner's addresses is one of the user's (R1 on both sides)."""
    ours = {normalise_email(a) or a.lower() for a in addresses}
    return any((normalise_email(owner) or owner.lower()) in ours for owner in owners)


def _verify(channels: PushChannels, credentials: Credentials, provider: Provider) -> StoredTokens:
    """Refresh once; every failure becomes a ``ConnectError`` saying what to do."""
    with _provider_failures(provider.value, "token endpoint", "the token refresh"):
        return StoredTokens.refreshed(channels.verify(credentials))


@contextmanager
def _provider_failures(name: str, endpoint: str, step: str) -> Iterator[None]:
    """A provider's refusal or absence as a ``ConnectError`` saying what to do."""
    try:
        yield
    except AuthorizationRevoked as error:
        raise ConnectError(
            f"the refresh token was refused by {name} ({error}); get a new one", "grant_refused"
        ) from None
    except ProviderUnavailable as error:
        raise ConnectError(
            f"{name} {endpoint} unavailable ({error}); try again", "provider_unavailable"
        ) from None
    except ProviderRejected as error:
        raise ConnectError(
            f"{name} refused {step} ({error}); check the OAuth client settings",
            "provider_rejected",
        ) from None


def _stored_credentials(
    container: ConnectContainer, previous: ConnectionRecord, email: str
) -> Credentials | None:
    """The credentials the connection had before this connect, to stop its old channels."""
    try:
        stored = StoredTokens.load(container.connections.credentials(previous.id))
    except (LookupError, StoredTokensError, ValueError):
        return None
    provider = Provider(previous.provider)
    if missing_oauth_settings(container.settings, provider):
        return None
    return credentials_for(container.settings, provider, email, stored)


def _stop_old_channels(
    container: ConnectContainer,
    channels: PushChannels,
    provider: Provider,
    connection_id: str,
    old_credentials: Credentials | None,
) -> list[str]:
    """Stop the connection's channels at the provider (best effort) and in SQL (always).

    Before the new channel opens: Graph refuses (409) a second subscription of the same
    app to the same mailbox.
    """
    stopped = []
    for channel in container.channels.active_for(connection_id):
        if old_credentials is not None and old_credentials.provider.value == channel.provider:
            if old_credentials.provider is provider:
                _close_at_provider(channels, old_credentials, channel.id, channel.resource_id)
            else:  # a reconnect to the other provider: the old one's adapter stops it
                other = push_channels_for(old_credentials.provider)
                try:
                    _close_at_provider(other, old_credentials, channel.id, channel.resource_id)
                finally:
                    other.shutdown()
        container.channels.stop(channel.id)
        stopped.append(channel.id)
    return stopped


def _close_at_provider(
    channels: PushChannels, credentials: Credentials, channel_id: str, resource_id: str | None
) -> None:
    """Stop one channel at the provider; a failure is logged, not raised.

    ``channels`` must be the adapter of ``credentials.provider``.
    """
    close_quietly(channels, credentials, channel_id, resource_id)


def _open_channel(
    container: ConnectContainer,
    channels: PushChannels,
    record: ConnectionRecord,
    credentials: Credentials,
) -> tuple[str | None, datetime | None, str | None]:
    """Open the connection's push channel; returns (id, expiry, error)."""
    keeper = container.channel_keeper(push_channels_for=lambda _provider: channels)
    try:
        opened = keeper.open(record, credentials)
    except (CalendarSourceError, ValueError, sa.exc.SQLAlchemyError) as error:
        log.warning("push channel not opened", connection_id=record.id, error=str(error))
        return None, None, f"push channel not opened: {error}"
    return opened.id, opened.expires_at, None


def _queue_initial_sync(container: ConnectContainer, record: ConnectionRecord) -> None:
    envelope = Envelope(
        type=MessageType.SYNC_REQUESTED,
        account_id=record.account_id,
        connection_id=record.id,
        payload={"connection_id": record.id, "reason": "connected"},
    )
    try:
        container.publisher.publish(envelope, topology.SYNC.name, timeout=PUBLISH_TIMEOUT)
    except PublishFailed as error:
        raise ConnectError(
            f"connected (connection {record.id}), but the initial sync could not be queued "
            f"({error}); run the connect again or wait for the next notification",
            "sync_not_queued",
        ) from None


@dataclass(frozen=True)
class DisconnectResult:
    """What ``disconnect_calendar`` did.

    Attributes:
        connection_id: the user's calendar connection (kept, now ``disconnected``).
        provider: ``google`` or ``microsoft``.
        already_disconnected: nothing was left to do but stopping stray channels.
        stopped_channels: ids of the channels stopped (at the provider when it could be
            reached with the grant, in SQL always).
    """

    connection_id: str
    provider: str
    already_disconnected: bool
    stopped_channels: tuple[str, ...]


def disconnect_calendar(
    container: ConnectContainer,
    *,
    account_id: str,
    user_id: str,
    channels_for: Callable[[Provider], PushChannels] | None = None,
) -> DisconnectResult:
    """Disconnect a user's calendar: stop its push channels, forget its grant, keep the rest.

    The channels are stopped at the provider with the stored grant (best effort: a channel
    the provider cannot stop expires by itself, and its notifications meet a stopped channel
    here) and in SQL; then the connection is marked ``disconnected`` and its tokens are
    dropped. Appointments, links and the cursor stay. Safe to repeat.

    ``channels_for`` gives the long-lived push-channel adapter of a provider (default: a new
    one, shut down afterwards).

    Raises:
        ConnectError: ``not_connected`` when the user has no calendar connection.
    """
    record = container.connections.for_user(account_id, user_id)
    if record is None:
        raise ConnectError(
            f"user {user_id!r} of account {account_id!r} has no calendar connection",
            "not_connected",
        )
    provider = Provider(record.provider)
    credentials = _stored_credentials(container, record, record.user_email)
    channels = (channels_for or push_channels_for)(provider)
    try:
        stopped = _stop_old_channels(container, channels, provider, record.id, credentials)
    finally:
        if channels_for is None:
            channels.shutdown()
    changed = container.connections.disconnect(record.id)
    log.info(
        "calendar disconnected",
        account_id=account_id,
        user_id=user_id,
        provider=provider.value,
        connection_id=record.id,
        already_disconnected=not changed,
        stopped_channels=len(stopped),
    )
    return DisconnectResult(
        connection_id=record.id,
        provider=provider.value,
        already_disconnected=not changed,
        stopped_channels=tuple(stopped),
    )
