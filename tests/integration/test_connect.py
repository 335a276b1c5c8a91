"""``connect_calendar`` end to end: sandbox providers, a SQLite store, RabbitMQ, and our own
ingest app serving ``CALSYNC_PUBLIC_URL`` (so Graph's handshake and the providers'
notifications reach the real webhook views)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from adapters.broker.envelope import Envelope, MessageType
from adapters.calendar.stored import StoredTokens
from adapters.directory_file import parse_directory
from adapters.sql.channels import hash_channel_secret
from domain.model import Provider
from infra.connect import ConnectError, connect_calendar
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.support.broker import drain
from tests.support.live_world import (
    ACCOUNT,
    CLIENT,
    Json,
    World,
    live_world,
    two_user_directory,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def world(
    tmp_path: Path,
    sandbox: SandboxServer,
    admins: dict[Provider, SandboxAdminClient],
    broker_url: str,
) -> Iterator[World]:
    yield from live_world(tmp_path, sandbox, admins, broker_url)


@pytest.fixture
def world_with(
    tmp_path: Path,
    sandbox: SandboxServer,
    admins: dict[Provider, SandboxAdminClient],
    broker_url: str,
) -> Iterator[Callable[..., World]]:
    """Makes the world with extra or blanked ``CALSYNC_*`` variables (one per test)."""
    made: list[Generator[World, None, None]] = []

    def make(**extra: str) -> World:
        made.append(live_world(tmp_path, sandbox, admins, broker_url, **extra))
        return next(made[-1])

    yield make
    for generator in made:
        generator.close()


def _event(provider: Provider, subject: str) -> Json:
    if provider is Provider.GOOGLE:
        return {
            "summary": subject,
            "start": {"dateTime": "2026-05-04T09:00:00Z"},
            "end": {"dateTime": "2026-05-04T10:00:00Z"},
        }
    return {
        "subject": subject,
        "start": {"dateTime": "2026-05-04T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-05-04T10:00:00", "timeZone": "UTC"},
    }


def _initial_hint(connection_id: str) -> Callable[[Envelope], bool]:
    return lambda e: e.type == MessageType.SYNC_REQUESTED and e.connection_id == connection_id


def _change_hint(provider: Provider, connection_id: str) -> Callable[[Envelope], bool]:
    if provider is Provider.GOOGLE:
        return lambda e: (
            e.type == MessageType.GOOGLE_NOTIFICATION
            and e.connection_id == connection_id
            and e.payload["resource_state"] == "exists"
        )
    return lambda e: e.type == MessageType.GRAPH_NOTIFICATION and e.connection_id == connection_id


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"])
def test_connect_stores_the_grant_opens_a_channel_and_queues_syncs(
    world: World, provider: Provider
) -> None:
    # Given a user of the provider with a refresh token
    admin = world.admins[provider]
    user = admin.create_user("ann@example.com")

    # When the calendar is connected
    result = world.connect(provider, "ann", user["refresh_token"])

    # Then the connection is stored, its tokens encrypted (the raw token is nowhere)
    record = world.container.connections.for_user(ACCOUNT, "ann")
    assert record is not None
    assert (record.id, record.provider, record.status) == (
        result.connection_id,
        provider.value,
        "active",
    )
    stored = StoredTokens.load(world.container.connections.credentials(record.id))
    assert stored.access_token
    raw = world.store_bytes()
    assert user["refresh_token"].encode() not in raw
    assert stored.refresh_token.encode() not in raw
    assert not result.reconnected
    assert result.channel_error is None

    # And the channel is registered with its secret hashed, and live at the provider
    (row,) = world.channel_rows()
    (live,) = admin.subscriptions()
    secret = live["token"] if provider is Provider.GOOGLE else live["clientState"]
    assert row.id == result.channel_id == live["id"]
    assert row.connection_id == record.id
    assert row.secret_hash == hash_channel_secret(secret)
    assert secret.encode() not in raw
    assert row.resource_id
    assert row.expires_at is not None
    assert row.stopped_at is None
    if provider is Provider.MICROSOFT:
        assert (
            live["notificationUrl"] == f"{world.container.settings.public_url}/webhooks/microsoft"
        )
        assert live["lifecycleNotificationUrl"].endswith("/webhooks/microsoft/lifecycle")

    # And the initial sync hint is on the sync queue
    world.wait_for(_initial_hint(record.id))

    # When the calendar changes, the provider's notification passes our ingest: a new hint
    admin.create_event(user["email"], _event(provider, "Standup"))
    world.wait_for(_change_hint(provider, record.id))


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"])
def test_a_reconnect_keeps_the_connection_and_replaces_the_channel(
    world: World, provider: Provider
) -> None:
    admin = world.admins[provider]
    user = admin.create_user("ann@example.com")
    first = world.connect(provider, "ann", user["refresh_token"])
    token = admin.issue_refresh_token(user["email"], CLIENT["id"])

    second = world.connect(provider, "ann", token)

    assert second.connection_id == first.connection_id
    assert second.reconnected
    assert second.stopped_channels == (first.channel_id,)
    assert second.channel_error is None
    rows = {row.id: row for row in world.channel_rows()}
    assert rows[first.channel_id].stopped_at is not None
    assert rows[second.channel_id].stopped_at is None
    assert [s["id"] for s in admin.subscriptions()] == [second.channel_id]


def test_a_channel_the_provider_refuses_leaves_the_connection_syncing_by_hints(
    world_with: Callable[..., World],
) -> None:
    # Given a public URL Google refuses (plain http, not local)
    world = world_with(CALSYNC_PUBLIC_URL="http://calsync.example.com")
    user = world.admins[Provider.GOOGLE].create_user("ann@example.com")

    result = world.connect(Provider.GOOGLE, "ann", user["refresh_token"])

    assert result.channel_id is None
    assert result.channel_error is not None
    assert "events.watch" in result.channel_error
    (row,) = world.channel_rows()
    assert row.stopped_at is not None
    world.wait_for(_initial_hint(result.connection_id))


def test_a_graph_handshake_nobody_answers_is_reported_not_raised(
    world_with: Callable[..., World],
) -> None:
    # Given a public URL where nothing answers Graph's handshake
    world = world_with(CALSYNC_PUBLIC_URL="http://127.0.0.1:9")
    user = world.admins[Provider.MICROSOFT].create_user("ann@example.com")

    result = world.connect(Provider.MICROSOFT, "ann", user["refresh_token"])

    assert result.channel_error is not None
    assert "did not answer the validation handshake" in result.channel_error
    assert world.channel_rows() == []
    world.wait_for(_initial_hint(result.connection_id))


@pytest.mark.parametrize(
    ("provider", "variable"),
    [
        (Provider.GOOGLE, "CALSYNC_GOOGLE_CLIENT_SECRET"),
        (Provider.MICROSOFT, "CALSYNC_MICROSOFT_CLIENT_ID"),
    ],
)
def test_missing_oauth_settings_are_named(
    world_with: Callable[..., World], provider: Provider, variable: str
) -> None:
    world = world_with(**{variable: ""})
    with pytest.raises(ConnectError, match=variable):
        world.connect(provider, "ann", "whatever")
    assert world.container.connections.for_user(ACCOUNT, "ann") is None


def test_an_unknown_account_or_user_is_named(world: World) -> None:
    with pytest.raises(ConnectError, match="user 'zed' does not exist in account 'acme'"):
        world.connect(Provider.GOOGLE, "zed", "whatever")
    with pytest.raises(ConnectError, match="account 'nope' does not exist"):
        connect_calendar(
            world.container,
            provider="google",
            account_id="nope",
            user_id="ann",
            refresh_token="whatever",
        )
    with pytest.raises(ConnectError, match="unknown provider"):
        world.connect("yahoo", "ann", "whatever")  # type: ignore[arg-type]


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"])
def test_a_revoked_refresh_token_is_refused_and_nothing_is_stored(
    world: World, provider: Provider
) -> None:
    admin = world.admins[provider]
    user = admin.create_user("ann@example.com")
    admin.revoke_refresh_tokens(user=user["email"])

    with pytest.raises(ConnectError, match="the refresh token was refused"):
        world.connect(provider, "ann", user["refresh_token"])

    assert world.container.connections.for_user(ACCOUNT, "ann") is None
    assert world.channel_rows() == []
    assert admin.subscriptions() == []


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"])
def test_another_persons_refresh_token_is_refused_and_nothing_is_attached(
    world: World, provider: Provider
) -> None:
    # Given bea's refresh token, and ann as the user named (R37)
    admin = world.admins[provider]
    admin.create_user("ann@example.com")
    bea = admin.create_user("bea@example.com")

    with pytest.raises(ConnectError) as refused:
        world.connect(provider, "ann", bea["refresh_token"])

    # Then the refusal names whose calendar it is and whose it should have been
    assert refused.value.code == "wrong_account"
    assert "bea@example.com" in str(refused.value)
    assert "ann@example.com" in str(refused.value)
    # And nothing is attached: no connection, no channel here or at the provider, no sync
    assert world.container.connections.for_user(ACCOUNT, "ann") is None
    assert world.channel_rows() == []
    assert admin.subscriptions() == []
    assert drain(world.broker_url, "sync", wait=0.5) == []


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"])
def test_a_calendar_under_one_of_the_users_aliases_is_attached(
    world: World, provider: Provider
) -> None:
    # Given ann also goes by ann.k@example.se, and her calendar lives under that address
    directory = two_user_directory()
    directory["accounts"][0]["users"][0]["aliases"] = ["Ann.K@Example.se"]
    world.container.directory.load(parse_directory(directory))
    calendar = world.admins[provider].create_user("ann.k@example.se")

    result = world.connect(provider, "ann", calendar["refresh_token"])

    record = world.container.connections.for_user(ACCOUNT, "ann")
    assert record is not None
    assert record.id == result.connection_id


def test_a_graph_mailbox_whose_proxy_address_is_the_user_is_attached(world: World) -> None:
    # Given Ann's mailbox is known by another primary address, with hers among its
    # proxyAddresses (R37: any address the provider says the calendar goes by)
    world.container.directory.load(parse_directory(two_user_directory()))
    admin = world.admins[Provider.MICROSOFT]
    calendar = admin.create_user("a.k@example.org", aliases=("ann@example.com",))

    result = world.connect(Provider.MICROSOFT, "ann", calendar["refresh_token"])

    record = world.container.connections.for_user(ACCOUNT, "ann")
    assert record is not None
    assert record.id == result.connection_id
