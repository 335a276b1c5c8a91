"""``DELETE /api/v1/users/{id}/connection``: the push channel is stopped at the provider and
here, the grant forgotten, the connection marked ``disconnected``; every appointment stays.
Repeating it answers the same; another account's user is 404 like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from werkzeug.test import TestResponse

from adapters.sql.connections import ConnectionNotFound
from domain.model import Provider
from tests.integration.browser_world import BrowserWorld
from tests.integration.test_ingest_support import assert_documented
from tests.support.live_world import ACCOUNT
from workers.calendar_sync import SyncOutcome

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended:UserWarning"),
]

PROVIDERS = pytest.mark.parametrize(
    "provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"]
)


def _meeting(provider: Provider) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    end = start + timedelta(hours=1)
    if provider is Provider.GOOGLE:
        return {
            "summary": "Demo with Eva",
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": end.isoformat()},
            "attendees": [{"email": "ann@example.com"}, {"email": "eva@kund.se"}],
        }
    return {
        "subject": "Demo with Eva",
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "attendees": [{"emailAddress": {"address": "eva@kund.se"}, "type": "required"}],
    }


def _connected_with_a_meeting(bw: BrowserWorld) -> str:
    """Connect ann in the browser and sync one meeting; returns the connection id."""
    user = bw.sandbox_user()
    assert bw.browser().open(bw.link()).status_code == 200
    record = bw.world.container.connections.for_user(ACCOUNT, "ann")
    assert record is not None
    bw.admin.create_event(user["email"], _meeting(bw.provider))
    assert bw.world.container.syncer().handle_hint(record.id, "first") is SyncOutcome.SYNCED
    assert len(_appointments(bw)) == 1
    return record.id


def _appointments(bw: BrowserWorld) -> list[dict[str, Any]]:
    answer = bw.api.get("/api/v1/appointments", query_string={"user": "ann"}, headers=bw.auth)
    assert answer.status_code == 200
    return list(answer.get_json())


def _disconnect(bw: BrowserWorld, user_id: str = "ann", **headers: str) -> TestResponse:
    sent = headers or bw.auth
    return bw.api.delete(f"/api/v1/users/{user_id}/connection", headers=sent)


@PROVIDERS
def test_disconnect_stops_the_channel_forgets_the_grant_and_keeps_the_appointments(
    make_world: Callable[[Provider], BrowserWorld], provider: Provider
) -> None:
    # Given a connected calendar with a synced meeting and a live push channel
    bw = make_world(provider)
    connection_id = _connected_with_a_meeting(bw)
    meetings = _appointments(bw)
    assert len(bw.admin.subscriptions()) == 1

    # When the CRM disconnects the user's calendar
    answer = _disconnect(bw)

    # Then the answer shows the connection disconnected, without a channel
    assert answer.status_code == 200
    shown = answer.get_json()
    assert (shown["provider"], shown["status"], shown["channel_expires_at"]) == (
        provider.value,
        "disconnected",
        None,
    )
    # And the channel is gone at the provider and stopped here
    assert bw.admin.subscriptions() == []
    assert all(row.stopped_at is not None for row in bw.world.channel_rows())
    # And the grant is forgotten
    with pytest.raises(ConnectionNotFound):
        bw.world.container.connections.credentials(connection_id)
    # And every appointment stays
    assert _appointments(bw) == meetings
    # And the status read says the same; a hint now syncs nothing
    assert bw.status("ann").get_json() == shown
    outcome = bw.world.container.syncer().handle_hint(connection_id, "after")
    assert outcome is SyncOutcome.INACTIVE
    assert_documented(bw.app, answer)


@PROVIDERS
def test_disconnect_is_idempotent_and_a_later_connect_resumes(
    make_world: Callable[[Provider], BrowserWorld], provider: Provider
) -> None:
    bw = make_world(provider)
    connection_id = _connected_with_a_meeting(bw)

    first = _disconnect(bw)
    second = _disconnect(bw)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.get_json() == first.get_json()

    # Connecting again brings the same connection back, with a new channel
    again = bw.browser().open(bw.link())
    assert again.status_code == 200
    assert again.get_json()["reconnected"] is True
    record = bw.world.container.connections.for_user(ACCOUNT, "ann")
    assert record is not None
    assert (record.id, record.status) == (connection_id, "active")
    assert len(bw.admin.subscriptions()) == 1
    assert bw.status("ann").get_json()["status"] == "active"


@PROVIDERS
def test_disconnect_works_when_the_provider_no_longer_accepts_the_grant(
    make_world: Callable[[Provider], BrowserWorld], provider: Provider
) -> None:
    # Given a grant the user revoked at the provider
    bw = make_world(provider)
    connection_id = _connected_with_a_meeting(bw)
    user_email = "ann@example.com"
    bw.admin.revoke_refresh_tokens(user=user_email)
    bw.admin.expire_access_tokens(user_email)

    answer = _disconnect(bw)

    # Then the channel is stopped here (it expires at the provider) and the grant forgotten
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "disconnected"
    assert all(row.stopped_at is not None for row in bw.world.channel_rows())
    with pytest.raises(ConnectionNotFound):
        bw.world.container.connections.credentials(connection_id)
    assert len(_appointments(bw)) == 1


def test_only_the_account_sees_and_disconnects_its_users(
    make_world: Callable[[Provider], BrowserWorld],
) -> None:
    bw = make_world(Provider.GOOGLE)
    _connected_with_a_meeting(bw)
    bw.world.container.accounts.create("other", "Other")
    other = {"Authorization": f"Bearer {bw.world.container.accounts.rotate_key('other')}"}

    stranger_delete = _disconnect(bw, **other)
    stranger_read = bw.api.get("/api/v1/users/ann/connection", headers=other)
    anonymous = bw.api.delete("/api/v1/users/ann/connection")
    nobody = _disconnect(bw, "zed")
    never_connected = _disconnect(bw, "bea")
    never_connected_read = bw.status("bea")

    assert (stranger_delete.status_code, stranger_delete.get_json()["error"]["code"]) == (
        404,
        "not_found",
    )
    assert (stranger_read.status_code, stranger_read.get_json()["error"]["code"]) == (
        404,
        "not_found",
    )
    assert anonymous.status_code == 401
    assert nobody.status_code == 404
    assert (never_connected.status_code, never_connected.get_json()["error"]["code"]) == (
        404,
        "not_connected",
    )
    assert never_connected_read.status_code == 404
    # Nothing changed for the account's own user
    assert bw.status("ann").get_json()["status"] == "active"
    assert len(bw.admin.subscriptions()) == 1
    for answer in (
        stranger_delete,
        stranger_read,
        anonymous,
        nobody,
        never_connected,
        never_connected_read,
    ):
        assert_documented(bw.app, answer)
