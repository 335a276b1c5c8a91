"""Push channels against the sandbox providers: open, deliver to a local receiver, close."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.calendar import AuthorizationRevoked, ProviderRejected
from adapters.calendar.factory import push_channels_for
from adapters.calendar.push import PushChannels
from domain.model import Provider
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.integration.sandbox.webhook import WebhookReceiver
from tests.support.calendar_sandbox import QUICK_RETRY, Harness, harness_for

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

Json = dict[str, Any]
SECRET = "s3cret-" + "x" * 40


def _harness(provider: Provider, sandbox: SandboxServer, admins: Any) -> Harness:
    admin = admins[provider]
    admin.reset()
    return harness_for(provider, sandbox, admin)


@pytest.fixture
def google(sandbox: SandboxServer, admins: dict[Provider, SandboxAdminClient]) -> Harness:
    return _harness(Provider.GOOGLE, sandbox, admins)


@pytest.fixture
def graph(sandbox: SandboxServer, admins: dict[Provider, SandboxAdminClient]) -> Harness:
    return _harness(Provider.MICROSOFT, sandbox, admins)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    made = WebhookReceiver()
    yield made
    made.stop()


@pytest.fixture
def google_channels() -> Iterator[PushChannels]:
    made = push_channels_for(Provider.GOOGLE, retry=QUICK_RETRY)
    yield made
    made.shutdown()


@pytest.fixture
def graph_channels() -> Iterator[PushChannels]:
    made = push_channels_for(Provider.MICROSOFT, retry=QUICK_RETRY)
    yield made
    made.shutdown()


def _in(hours: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


def test_a_google_channel_delivers_sync_then_changes_until_it_is_closed(
    google: Harness, google_channels: PushChannels, receiver: WebhookReceiver
) -> None:
    # Given a channel on Ann's calendar
    ann = google.create_user("ann@example.com")
    creds = google.credentials(ann)
    channel_id = uuid.uuid4().hex
    opened = google_channels.open(
        creds,
        channel_id=channel_id,
        secret=SECRET,
        address=f"{receiver.url}/webhooks/google",
        lifecycle_address=None,
        expires_at=_in(2),
    )
    assert opened.id == channel_id
    assert opened.resource_id
    assert abs((opened.expires_at - _in(2)).total_seconds()) < 60
    # Then the sync message arrives with our id and token
    (first,) = receiver.wait_for(1)
    assert first.path == "/webhooks/google"
    assert first.headers["X-Goog-Channel-Id"] == channel_id
    assert first.headers["X-Goog-Channel-Token"] == SECRET
    assert first.headers["X-Goog-Resource-State"] == "sync"
    assert first.headers["X-Goog-Resource-Id"] == opened.resource_id

    # When an event changes, an "exists" notification follows
    google.admin.create_event(ann["email"], google.timed(4, 9, "Standup"))
    second = receiver.wait_for(2)[1]
    assert second.headers["X-Goog-Resource-State"] == "exists"
    assert second.headers["X-Goog-Channel-Token"] == SECRET

    # When the channel is closed, changes are no longer delivered
    google_channels.close(creds, channel_id, opened.resource_id)
    google.admin.create_event(ann["email"], google.timed(5, 9, "Retro"))
    time.sleep(0.3)
    assert len(receiver.settle(0.2)) == 2
    # And closing it again is harmless
    google_channels.close(creds, channel_id, opened.resource_id)


def test_a_google_channel_with_an_id_too_long_is_refused_before_any_call(
    google: Harness, google_channels: PushChannels
) -> None:
    ann = google.create_user("ann@example.com")
    with pytest.raises(ValueError, match="64"):
        google_channels.open(
            google.credentials(ann),
            channel_id="c" * 65,
            secret=SECRET,
            address="http://127.0.0.1:9/webhooks/google",
            lifecycle_address=None,
            expires_at=_in(1),
        )


def test_google_refuses_a_plain_http_address_elsewhere_as_provider_rejected(
    google: Harness, google_channels: PushChannels
) -> None:
    ann = google.create_user("ann@example.com")
    with pytest.raises(ProviderRejected, match=r"events\.watch") as caught:
        google_channels.open(
            google.credentials(ann),
            channel_id=uuid.uuid4().hex,
            secret=SECRET,
            address="http://calsync.example.com/webhooks/google",
            lifecycle_address=None,
            expires_at=_in(1),
        )
    assert caught.value.status == 400


def test_a_graph_subscription_is_validated_delivers_changes_renews_and_closes(
    graph: Harness, graph_channels: PushChannels, receiver: WebhookReceiver
) -> None:
    # Given a subscription to Bea's events
    bea = graph.create_user("bea@example.com")
    creds = graph.credentials(bea)
    opened = graph_channels.open(
        creds,
        channel_id="ignored",
        secret=SECRET,
        address=f"{receiver.url}/webhooks/microsoft",
        lifecycle_address=f"{receiver.url}/webhooks/microsoft/lifecycle",
        expires_at=_in(24),
    )
    # Then both URLs were validated before Graph answered
    assert {r.path for r in receiver.validations()} == {
        "/webhooks/microsoft",
        "/webhooks/microsoft/lifecycle",
    }
    assert opened.id != "ignored"
    assert opened.resource_id == opened.id
    assert abs((opened.expires_at - _in(24)).total_seconds()) < 60
    (subscription,) = graph.admin.subscriptions()
    assert subscription["resource"] == f"users/{bea['id']}/events"
    assert set(subscription["changeType"].split(",")) == {"created", "updated", "deleted"}

    # When an event is created, a notification carries the subscription id and clientState
    graph.admin.create_event(bea["email"], graph.timed(4, 9, "Standup"))
    items = receiver.wait_for_items(1, "/webhooks/microsoft")
    assert items[0]["subscriptionId"] == opened.id
    assert items[0]["clientState"] == SECRET
    assert items[0]["changeType"] == "created"

    # When it is renewed, Graph grants the new expiry
    granted = graph_channels.renew(creds, opened.id, _in(48))
    assert abs((granted - _in(48)).total_seconds()) < 60

    # When it is closed, changes are no longer delivered, and closing again is harmless
    graph_channels.close(creds, opened.id, opened.resource_id)
    assert graph.admin.subscriptions() == []
    graph.admin.create_event(bea["email"], graph.timed(5, 9, "Retro"))
    time.sleep(0.3)
    assert len(receiver.settle(0.2)) == 1
    graph_channels.close(creds, opened.id, opened.resource_id)


def test_a_failed_graph_handshake_is_provider_rejected_saying_so(
    graph: Harness, graph_channels: PushChannels, receiver: WebhookReceiver
) -> None:
    bea = graph.create_user("bea@example.com")
    receiver.validation_reply = "not the token"
    with pytest.raises(ProviderRejected, match="did not answer the validation handshake") as caught:
        graph_channels.open(
            graph.credentials(bea),
            channel_id="ignored",
            secret=SECRET,
            address=f"{receiver.url}/webhooks/microsoft",
            lifecycle_address=None,
            expires_at=_in(24),
        )
    assert caught.value.status == 400
    assert graph.admin.subscriptions() == []


def test_renewing_a_gone_subscription_is_provider_rejected(
    graph: Harness, graph_channels: PushChannels
) -> None:
    bea = graph.create_user("bea@example.com")
    with pytest.raises(ProviderRejected) as caught:
        graph_channels.renew(graph.credentials(bea), str(uuid.uuid4()), _in(24))
    assert caught.value.status == 404


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"])
def test_verify_refreshes_once_and_a_revoked_grant_is_authorization_revoked(
    provider: Provider, sandbox: SandboxServer, admins: dict[Provider, SandboxAdminClient]
) -> None:
    harness = _harness(provider, sandbox, admins)
    channels = push_channels_for(provider, retry=QUICK_RETRY)
    try:
        ann = harness.create_user("ann@example.com")
        tokens = channels.verify(harness.credentials(ann))
        assert tokens.access_token
        assert tokens.refresh_token
        harness.admin.revoke_refresh_tokens(user=ann["email"])
        with pytest.raises(AuthorizationRevoked):
            channels.verify(harness.credentials(ann, refresh_token=tokens.refresh_token))
    finally:
        channels.shutdown()
