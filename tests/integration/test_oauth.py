"""The browser connect, end to end: the CRM asks for a link, the user's browser opens it,
consents at the sandbox provider and comes back; the calendar is then connected exactly as
``calsync connect`` connects it (tokens encrypted, push channel open, initial sync queued).

Every refusal is checked too: tickets and states used twice, expired or tampered with, a
callback in another browser, a PKCE verifier the provider refuses, a declined consent, the
wrong account signing in, missing OAuth settings; and a grant revoked afterwards shows as
``needs_reconnect`` in ``GET /api/v1/users/{id}/connection`` after the next sync.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

import pytest
import requests
from werkzeug.test import TestResponse

from adapters.broker.envelope import Envelope, MessageType
from adapters.calendar.stored import StoredTokens
from domain.model import Provider
from infra.log import configure_logging
from tests.integration.browser_world import (
    GOOGLE_AUTH_PATH,
    BrowserWorld,
    error_code,
    query_of,
    with_query,
)
from tests.integration.test_ingest_support import assert_documented
from tests.support.live_world import ACCOUNT, CLIENT
from workers.calendar_sync import SyncOutcome

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended:UserWarning"),
]

PROVIDERS = pytest.mark.parametrize(
    "provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"]
)


def _initial_hint(connection_id: str) -> Callable[[Envelope], bool]:
    return lambda e: e.type == MessageType.SYNC_REQUESTED and e.connection_id == connection_id


def _documented(bw: BrowserWorld, *answers: TestResponse) -> None:
    for answer in answers:
        assert_documented(bw.app, answer)


# --- the whole flow ------------------------------------------------------------------------


@PROVIDERS
def test_a_browser_connects_the_calendar_like_calsync_connect(
    make_world: Callable[..., BrowserWorld], provider: Provider
) -> None:
    # Given a user of the provider, and the CRM asking for a connect link
    bw = make_world(provider)
    user = bw.sandbox_user()
    asked = bw.request_link("ann", appointment_type_id="meeting")
    assert asked.status_code == 201
    link = asked.get_json()["authorization_url"]
    assert link.startswith(f"{bw.public_url}/oauth/{provider.value}/start?")
    assert query_of(link)["user"] == "ann"

    # When the user's browser opens it over real HTTP, following every redirect
    session = requests.Session()
    session.verify = bw.ca_file or True
    final = session.get(link, headers={"Accept": "application/json"}, timeout=30)

    # Then it went to the provider's consent page with state and an S256 PKCE challenge
    to_provider, to_callback = (hop.headers["Location"] for hop in final.history)
    sent = query_of(to_provider)
    if provider is Provider.GOOGLE:
        assert to_provider.startswith(bw.admin_root + GOOGLE_AUTH_PATH)
        assert "https://www.googleapis.com/auth/calendar.events" in sent["scope"].split()
        assert (sent["access_type"], sent["prompt"]) == ("offline", "consent")
    else:
        assert "/oauth2/v2.0/authorize" in to_provider
        assert "https://graph.microsoft.com/Calendars.ReadWrite" in sent["scope"].split()
        assert "offline_access" in sent["scope"].split()
    assert sent["code_challenge_method"] == "S256"
    assert len(sent["code_challenge"]) == 43
    assert sent["login_hint"] == "ann@example.com"
    assert sent["client_id"] == CLIENT["id"]
    assert sent["redirect_uri"] == f"{bw.public_url}/oauth/{provider.value}/callback"
    assert query_of(to_callback)["state"] == sent["state"]

    # And came back to a "connected" answer
    assert final.status_code == 200, final.text
    assert final.json() == {
        "status": "connected",
        "provider": provider.value,
        "user_id": "ann",
        "reconnected": False,
        "channel_error": None,
    }

    # And the connection is stored with the chosen appointment type, its tokens encrypted
    container = bw.world.container
    record = container.connections.for_user(ACCOUNT, "ann")
    assert record is not None
    assert (record.provider, record.status, record.appointment_type_id) == (
        provider.value,
        "active",
        "meeting",
    )
    stored = StoredTokens.load(container.connections.credentials(record.id))
    raw = bw.world.store_bytes()
    assert stored.refresh_token
    assert stored.refresh_token.encode() not in raw
    assert stored.access_token
    assert stored.access_token.encode() not in raw
    assert sent["state"].encode() not in raw  # only its hash was kept
    (attempt,) = bw.attempts()
    assert attempt.finished_at is not None
    assert attempt.flow is None

    # And the push channel is open at the provider and registered here
    (row,) = bw.world.channel_rows()
    (live,) = bw.admin.subscriptions()
    assert row.id == live["id"]
    assert row.connection_id == record.id
    assert row.stopped_at is None

    # And the initial sync is queued
    bw.world.wait_for(_initial_hint(record.id))

    # And the read API shows the connection
    status = bw.status("ann")
    assert status.status_code == 200
    shown = status.get_json()
    assert (shown["provider"], shown["status"], shown["appointment_type_id"]) == (
        provider.value,
        "active",
        "meeting",
    )
    assert shown["connected_at"]
    assert shown["channel_expires_at"]
    assert shown["last_error"] is None
    _documented(bw, asked, status)
    assert user["email"] == "ann@example.com"


# --- tickets and states: single use, short-lived, not forgeable -------------------------------


@PROVIDERS
def test_a_callback_replayed_or_tampered_with_is_refused(
    make_world: Callable[..., BrowserWorld], provider: Provider
) -> None:
    bw = make_world(provider)
    bw.sandbox_user()
    browser = bw.browser()
    callback = browser.to_callback(bw.link())
    state = query_of(callback)["state"]

    # A forged or altered state, or none, is refused before anything is spent
    forged = browser.step(with_query(callback, state=state[:-2] + "xy"))
    missing = browser.step(with_query(callback, state=None))
    assert (forged.status_code, error_code(forged)) == (400, "invalid_state")
    assert (missing.status_code, error_code(missing)) == (400, "missing_state")

    # The genuine answer connects; the same answer again is refused
    first = browser.step(callback)
    again = browser.step(callback)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert (again.status_code, error_code(again)) == (410, "state_used")
    _documented(bw, forged, missing, first, again)  # type: ignore[arg-type]


@PROVIDERS
def test_a_connect_link_works_once_and_for_ten_minutes(
    make_world: Callable[..., BrowserWorld], provider: Provider
) -> None:
    bw = make_world(provider)
    bw.sandbox_user()
    link = bw.link()
    browser = bw.browser()
    browser.to_provider(link)

    reused = browser.step(link)
    forged = browser.step(with_query(link, ticket="not-a-ticket"))
    other_user = browser.step(with_query(bw.link(), user="bea"))
    other_provider = browser.step(
        link.replace(
            f"/oauth/{provider.value}/",
            "/oauth/" + ("microsoft" if provider is Provider.GOOGLE else "google") + "/",
        )
    )
    late = bw.link()
    bw.expire_attempts()
    expired = browser.step(late)

    assert (reused.status_code, error_code(reused)) == (410, "ticket_used")
    assert (forged.status_code, error_code(forged)) == (400, "invalid_ticket")
    assert (other_user.status_code, error_code(other_user)) == (400, "invalid_ticket")
    assert (other_provider.status_code, error_code(other_provider)) == (400, "invalid_ticket")
    assert (expired.status_code, error_code(expired)) == (410, "ticket_expired")
    _documented(bw, reused, forged, other_user, other_provider, expired)  # type: ignore[arg-type]


@PROVIDERS
def test_a_sign_in_that_took_too_long_is_refused(
    make_world: Callable[..., BrowserWorld], provider: Provider
) -> None:
    bw = make_world(provider)
    bw.sandbox_user()
    browser = bw.browser()
    callback = browser.to_callback(bw.link())
    bw.expire_attempts()

    late = browser.step(callback)

    assert (late.status_code, error_code(late)) == (410, "state_expired")
    assert bw.world.container.connections.for_user(ACCOUNT, "ann") is None


@PROVIDERS
def test_a_callback_in_another_browser_is_refused_without_spending_the_state(
    make_world: Callable[..., BrowserWorld], provider: Provider
) -> None:
    bw = make_world(provider)
    bw.sandbox_user()
    browser = bw.browser()
    started = browser.step(bw.link())
    callback_path = f"/oauth/{provider.value}/callback"
    cookie = started.headers["Set-Cookie"]
    assert cookie.startswith("calsync_oauth=")
    assert f"Path={callback_path}" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the public URL here is plain http
    back = browser.step(str(started.headers["Location"]))
    callback = str(back.headers["Location"])

    stranger = bw.browser().step(callback)
    owner = browser.step(callback)

    assert (stranger.status_code, error_code(stranger)) == (400, "browser_mismatch")
    assert owner.status_code == 200
    assert browser.client.get_cookie("calsync_oauth", path=callback_path) is None


@PROVIDERS
def test_a_pkce_verifier_the_provider_does_not_recognise_is_refused(
    make_world: Callable[..., BrowserWorld], provider: Provider
) -> None:
    # Given a flow whose stored verifier is not the one the challenge was made from
    bw = make_world(provider)
    bw.sandbox_user()
    browser = bw.browser()
    callback = browser.to_callback(bw.link())

    def other_verifier(flow: str) -> str:
        loaded = json.loads(flow)
        loaded["code_verifier"] = "x" * 64
        return json.dumps(loaded)

    bw.replace_flow(other_verifier)

    # When the browser comes back, the sandbox refuses the exchange, and so do we
    refused = browser.step(callback)

    assert (refused.status_code, error_code(refused)) == (400, "code_rejected")
    assert "invalid_grant" in refused.get_json()["error"]["message"]
    assert bw.world.container.connections.for_user(ACCOUNT, "ann") is None
    assert bw.admin.subscriptions() == []


# --- what the user or the provider may say -------------------------------------------------


@PROVIDERS
def test_a_declined_consent_is_a_clear_403_and_connects_nothing(
    make_world: Callable[..., BrowserWorld], provider: Provider
) -> None:
    bw = make_world(provider)
    bw.sandbox_user()
    bw.admin.configure_oauth(consent="deny")
    browser = bw.browser()

    answer = browser.open(bw.link())

    assert answer.status_code == 403
    assert error_code(answer) == "access_denied"
    assert "declined" in answer.get_json()["error"]["message"]
    assert query_of(browser.history[-1].url)["error"] == "access_denied"
    assert bw.world.container.connections.for_user(ACCOUNT, "ann") is None
    again = browser.step(browser.history[-1].url)  # the state was spent all the same
    assert (again.status_code, error_code(again)) == (410, "state_used")
    _documented(bw, answer)  # type: ignore[arg-type]


@PROVIDERS
def test_another_account_signing_in_is_refused(
    make_world: Callable[..., BrowserWorld], provider: Provider
) -> None:
    # Given the sandbox signs in bea whatever the login hint (ann) says
    bw = make_world(provider)
    bw.sandbox_user()
    bw.sandbox_user("bea@example.com")
    bw.admin.configure_oauth(user="bea@example.com")

    answer = bw.browser().open(bw.link("ann"))

    assert (answer.status_code, error_code(answer)) == (409, "wrong_account")
    assert "ann@example.com" in answer.get_json()["error"]["message"]
    assert bw.world.container.connections.for_user(ACCOUNT, "ann") is None


@PROVIDERS
def test_a_browser_gets_pages_not_json(
    make_world: Callable[..., BrowserWorld], provider: Provider
) -> None:
    bw = make_world(provider)
    bw.sandbox_user()
    browser = bw.browser(accept="text/html,application/xhtml+xml,*/*;q=0.8")

    done = browser.open(bw.link())
    replayed = browser.step(browser.history[-1].url)

    assert done.status_code == 200
    assert done.mimetype == "text/html"
    assert "Calendar connected" in done.get_data(as_text=True)
    assert done.headers["Cache-Control"] == "no-store"
    assert done.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in done.headers["Content-Security-Policy"]
    assert replayed.status_code == 410
    assert replayed.mimetype == "text/html"
    assert "used already" in replayed.get_data(as_text=True)
    _documented(bw, done, replayed)  # type: ignore[arg-type]


# --- who may ask for a link ----------------------------------------------------------------


def test_only_the_account_may_ask_for_its_users_links(
    make_world: Callable[..., BrowserWorld],
) -> None:
    bw = make_world(Provider.GOOGLE)
    api = bw.api
    other_key = _other_account_key(bw)

    anonymous = api.post("/api/v1/users/ann/connect", json={"provider": "google"})
    stranger = api.post(
        "/api/v1/users/ann/connect",
        json={"provider": "google"},
        headers={"Authorization": f"Bearer {other_key}"},
    )
    nobody = bw.request_link("zed")
    bad_provider = api.post(
        "/api/v1/users/ann/connect", json={"provider": "yahoo"}, headers=bw.auth
    )
    extra_field = api.post(
        "/api/v1/users/ann/connect",
        json={"provider": "google", "scope": "everything"},
        headers=bw.auth,
    )
    not_json = api.post("/api/v1/users/ann/connect", data="provider=google", headers=bw.auth)

    assert anonymous.status_code == 401
    assert (stranger.status_code, stranger.get_json()["error"]["code"]) == (404, "not_found")
    assert (nobody.status_code, nobody.get_json()["error"]["code"]) == (404, "not_found")
    assert bad_provider.status_code == 400
    assert "provider" in bad_provider.get_json()["error"]["message"]
    assert extra_field.status_code == 400
    assert "scope" in extra_field.get_json()["error"]["message"]
    assert not_json.status_code == 415
    assert bw.attempts() == []
    _documented(bw, anonymous, stranger, nobody, bad_provider, extra_field, not_json)


@pytest.mark.parametrize(
    ("provider", "variable"),
    [
        (Provider.GOOGLE, "CALSYNC_GOOGLE_CLIENT_SECRET"),
        (Provider.MICROSOFT, "CALSYNC_MICROSOFT_CLIENT_ID"),
    ],
    ids=["google", "graph"],
)
def test_missing_oauth_settings_are_named(
    make_world: Callable[..., BrowserWorld], provider: Provider, variable: str
) -> None:
    bw = make_world(provider, **{variable: ""})

    refused = bw.request_link("ann")

    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "not_configured"
    assert variable in refused.get_json()["error"]["message"]
    _documented(bw, refused)


# --- afterwards: a revoked grant shows up ---------------------------------------------------


@PROVIDERS
def test_a_grant_revoked_afterwards_shows_as_needs_reconnect(
    make_world: Callable[..., BrowserWorld], provider: Provider
) -> None:
    # Given a calendar connected in the browser
    bw = make_world(provider)
    user = bw.sandbox_user()
    assert bw.browser().open(bw.link()).status_code == 200
    record = bw.world.container.connections.for_user(ACCOUNT, "ann")
    assert record is not None

    # When the user revokes the app's access at the provider, and a sync runs
    bw.admin.revoke_refresh_tokens(user=user["email"])
    bw.admin.expire_access_tokens(user["email"])
    outcome = bw.world.container.syncer().handle_hint(record.id, "hint-after-revoke")

    # Then the connection waits for the user to reconnect, and the API says so
    assert outcome is SyncOutcome.NEEDS_RECONNECT
    shown = bw.status("ann")
    assert shown.status_code == 200
    assert shown.get_json()["status"] == "needs_reconnect"
    last_error = shown.get_json()["last_error"]
    assert "refused" in last_error or "invalid_grant" in last_error
    _documented(bw, shown)

    # And connecting again in the browser makes it active again, on the same connection
    again = bw.browser().open(bw.link())
    assert again.status_code == 200
    assert again.get_json()["reconnected"] is True
    assert bw.status("ann").get_json()["status"] == "active"
    assert bw.world.container.connections.for_user(ACCOUNT, "ann").id == record.id  # type: ignore[union-attr]


# --- nothing secret in the log --------------------------------------------------------------


@PROVIDERS
def test_no_secret_of_the_flow_is_logged(
    make_world: Callable[..., BrowserWorld], provider: Provider
) -> None:
    stream = io.StringIO()
    configure_logging("json", "DEBUG", stream=stream)
    try:
        bw = make_world(provider)
        bw.sandbox_user()
        link = bw.link()
        browser = bw.browser()
        callback = browser.to_callback(link)
        (attempt,) = bw.attempts()
        flow = json.loads(bw.world.container.cipher.decrypt(attempt.flow))
        done = browser.step(callback)
        replay = browser.step(callback)
        record = bw.world.container.connections.for_user(ACCOUNT, "ann")
        assert record is not None
        stored = StoredTokens.load(bw.world.container.connections.credentials(record.id))
    finally:
        logging.getLogger().handlers.clear()

    assert done.status_code == 200
    assert replay.status_code == 410
    text = stream.getvalue()
    assert '"calendar connected"' in text
    assert '"connect refused"' in text
    cookie = browser.client.get_cookie("calsync_oauth", path=f"/oauth/{provider.value}/callback")
    secrets = {
        "ticket": query_of(link)["ticket"],
        "state": query_of(callback)["state"],
        "code": query_of(callback)["code"],
        "code verifier": flow["code_verifier"],
        "client secret": CLIENT["secret"],
        "refresh token": stored.refresh_token,
        "access token": stored.access_token,
        "token key": bw.world.container.settings.secret_key,
    }
    for name, secret in secrets.items():
        assert secret, name
        assert secret not in text, f"the {name} appears in the log"
    assert cookie is None  # the binding cookie was cleared by the callback


def _other_account_key(bw: BrowserWorld) -> str:
    accounts = bw.world.container.accounts
    accounts.create("other", "Other")
    return accounts.rotate_key("other")
