"""The sandboxes' authorization-code grant: a consent page that consents at once, and a token
endpoint that checks the client, the code (single use, short-lived), the redirect URI and
the PKCE verifier, driven by google-auth-oauthlib, MSAL and raw HTTP."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import msal
import pytest
import requests
from google_auth_oauthlib.flow import Flow

from infra.sandbox.client import SandboxAdminClient, SandboxAdminError
from infra.sandbox.oauth_codes import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from infra.sandbox.server import SandboxServer

CLIENT_ID, CLIENT_SECRET = "calsync-client", "calsync-secret"
REDIRECT = "http://127.0.0.1:9/oauth/callback"
CALENDAR = "https://www.googleapis.com/auth/calendar.events"

pytestmark = pytest.mark.filterwarnings(
    "ignore:response_mode='form_post' is recommended:UserWarning"
)


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _authorize(root: str, path: str, **params: str) -> httpx.Response:
    query = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": CALENDAR,
        "state": "st-1",
        **params,
    }
    return httpx.get(f"{root}{path}?{urlencode(query)}", follow_redirects=False)


def _code(root: str, path: str, verifier: str, **params: str) -> str:
    answer = _authorize(
        root, path, code_challenge=_challenge(verifier), code_challenge_method="S256", **params
    )
    assert answer.status_code == 302, answer.text
    back = answer.headers["Location"]
    assert back.startswith(REDIRECT + "?")
    assert _query(back)["state"] == "st-1"
    return _query(back)["code"]


def _redeem(token_url: str, code: str, verifier: str, **changes: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code_verifier": verifier,
        **changes,
    }
    return httpx.post(token_url, data=form)


@pytest.fixture
def google(sandbox: SandboxServer, google_admin: SandboxAdminClient) -> str:
    google_admin.register_oauth_client(CLIENT_ID, CLIENT_SECRET)
    google_admin.create_user("ann@example.com")
    return sandbox.google_url


def test_google_auth_oauthlib_runs_the_whole_flow_with_pkce(
    sandbox: SandboxServer, google: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the sandbox serves plain http
    config = {
        "web": {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "auth_uri": f"{google}/o/oauth2/auth",
            "token_uri": sandbox.google_token_url,
        }
    }
    flow = Flow.from_client_config(
        config, scopes=["openid", CALENDAR], redirect_uri=REDIRECT, state="st-1"
    )
    url, _ = flow.authorization_url(access_type="offline", login_hint="ann@example.com")
    back = httpx.get(url, follow_redirects=False).headers["Location"]

    token = flow.fetch_token(code=_query(back)["code"])

    assert token["refresh_token"].startswith("sandbox-google.rt.")
    assert token["scope"] == ["openid", CALENDAR]
    events = httpx.get(
        f"{sandbox.google_api_url}calendars/primary/events",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert events.status_code == 200
    payload = token["id_token"].split(".")[1]
    assert b"ann@example.com" in base64.urlsafe_b64decode(payload + "==")


def test_google_codes_are_single_use_and_pkce_bound(sandbox: SandboxServer, google: str) -> None:
    verifier = secrets.token_urlsafe(48)

    wrong = _redeem(
        sandbox.google_token_url, code := _code(google, "/o/oauth2/auth", verifier), "x" * 50
    )
    burnt = _redeem(sandbox.google_token_url, code, verifier)
    fresh = _code(google, "/o/oauth2/auth", verifier)
    right = _redeem(sandbox.google_token_url, fresh, verifier)
    reused = _redeem(sandbox.google_token_url, fresh, verifier)

    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert "code_verifier" in wrong.json()["error_description"]
    assert (burnt.status_code, burnt.json()["error"]) == (400, "invalid_grant")
    assert right.status_code == 200
    assert set(right.json()) >= {"access_token", "refresh_token", "expires_in", "scope"}
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")


def test_google_checks_the_client_and_the_redirect_uri(sandbox: SandboxServer, google: str) -> None:
    verifier = secrets.token_urlsafe(48)
    token_url = sandbox.google_token_url

    bad_secret = _redeem(
        token_url, _code(google, "/o/oauth2/auth", verifier), verifier, client_secret="guess"
    )
    other_redirect = _redeem(
        token_url,
        _code(google, "/o/oauth2/auth", verifier),
        verifier,
        redirect_uri="http://127.0.0.1:9/elsewhere",
    )
    basic = httpx.post(
        token_url,
        data={
            "grant_type": "authorization_code",
            "code": _code(google, "/o/oauth2/v2/auth", verifier),
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    unknown_client = _authorize(google, "/o/oauth2/auth", client_id="nobody")

    assert (bad_secret.status_code, bad_secret.json()["error"]) == (401, "invalid_client")
    assert (other_redirect.status_code, other_redirect.json()["error"]) == (400, "invalid_grant")
    assert basic.status_code == 200  # client_secret_basic, as requests-oauthlib sends it
    assert unknown_client.status_code == 400  # an error page, not a redirect
    assert "invalid_client" in unknown_client.text


def test_registered_redirect_uris_are_enforced(
    google_admin: SandboxAdminClient, sandbox: SandboxServer
) -> None:
    google_admin.register_oauth_client(CLIENT_ID, CLIENT_SECRET, ["http://127.0.0.1:9/ok"])
    google_admin.create_user("ann@example.com")

    refused = _authorize(sandbox.google_url, "/o/oauth2/auth")

    assert refused.status_code == 400
    assert "redirect_uri_mismatch" in refused.text


def test_the_consent_can_be_refused_delayed_or_given_by_someone_else(
    sandbox: SandboxServer, google: str, google_admin: SandboxAdminClient
) -> None:
    verifier = secrets.token_urlsafe(48)
    google_admin.configure_oauth(consent="deny")
    denied = _query(_authorize(google, "/o/oauth2/auth").headers["Location"])
    google_admin.configure_oauth(consent="allow", code_lifetime_seconds=0)
    expired = _redeem(sandbox.google_token_url, _code(google, "/o/oauth2/auth", verifier), verifier)
    google_admin.create_user("bea@example.com")
    nobody = _query(_authorize(google, "/o/oauth2/auth").headers["Location"])
    unknown = _query(
        _authorize(google, "/o/oauth2/auth", login_hint="zed@example.com").headers["Location"]
    )

    assert (denied["error"], denied["state"]) == ("access_denied", "st-1")
    assert (expired.status_code, expired.json()["error"]) == (400, "invalid_grant")
    assert nobody["error"] == "login_required"  # two users and no hint: who would it be?
    assert unknown["error"] == "login_required"
    assert google_admin.configure_oauth() == {
        "consent": "allow",
        "user": None,
        "code_lifetime_seconds": 0,
    }


def test_reset_forgets_clients_and_settings(
    google_admin: SandboxAdminClient, sandbox: SandboxServer
) -> None:
    google_admin.register_oauth_client(CLIENT_ID, CLIENT_SECRET)
    google_admin.configure_oauth(consent="deny")

    google_admin.reset()
    google_admin.create_user("ann@example.com")

    assert _authorize(sandbox.google_url, "/o/oauth2/auth").status_code == 400  # unknown again
    default = _authorize(sandbox.google_url, "/o/oauth2/auth", client_id=DEFAULT_CLIENT_ID)
    code = _query(default.headers["Location"])["code"]
    redeemed = _redeem(
        sandbox.google_token_url,
        code,
        "",  # no challenge was sent, so no verifier is needed
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
    )
    assert redeemed.status_code == 200
    with pytest.raises(SandboxAdminError):
        google_admin.configure_oauth(consent="maybe")


def test_graph_codes_are_pkce_bound(
    sandbox: SandboxServer, graph_admin: SandboxAdminClient
) -> None:
    graph_admin.register_oauth_client(CLIENT_ID, CLIENT_SECRET)
    graph_admin.create_user("bea@contoso.com")
    root = sandbox.graph_url
    verifier = secrets.token_urlsafe(48)

    wrong = _redeem(
        sandbox.graph_token_url(),
        _code(root, "/common/oauth2/v2.0/authorize", verifier, login_hint="bea@contoso.com"),
        "y" * 50,
    )
    right = _redeem(
        sandbox.graph_token_url(),
        _code(
            root,
            "/common/oauth2/v2.0/authorize",
            verifier,
            scope="openid offline_access https://graph.microsoft.com/Calendars.ReadWrite",
            nonce="n-1",
        ),
        verifier,
    )

    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert wrong.json()["error_codes"] == [501481]
    assert right.status_code == 200
    answer = right.json()
    assert answer["scope"] == "https://graph.microsoft.com/Calendars.ReadWrite"
    claims = answer["id_token"].split(".")[1]
    assert b'"nonce":"n-1"' in base64.urlsafe_b64decode(claims + "==")


@pytest.fixture(scope="module")
def tls_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(tls=True) as server:
        yield server


def test_msal_runs_the_whole_auth_code_flow(tls_sandbox: SandboxServer) -> None:
    assert tls_sandbox.ca_file is not None
    with SandboxAdminClient(tls_sandbox.graph_url, verify=tls_sandbox.ca_file) as admin:
        admin.reset()
        admin.register_oauth_client(CLIENT_ID, CLIENT_SECRET)
        admin.create_user("bea@contoso.com")
        session = requests.Session()
        session.trust_env = False
        session.verify = tls_sandbox.ca_file
        app = msal.ConfidentialClientApplication(
            CLIENT_ID,
            client_credential=CLIENT_SECRET,
            authority=tls_sandbox.graph_authority(),
            validate_authority=False,
            instance_discovery=False,
            http_client=session,
        )
        flow: dict[str, Any] = app.initiate_auth_code_flow(
            ["https://graph.microsoft.com/Calendars.ReadWrite"],
            redirect_uri=REDIRECT,
            login_hint="bea@contoso.com",
        )
        back = session.get(flow["auth_uri"], allow_redirects=False).headers["Location"]

        result = app.acquire_token_by_auth_code_flow(flow, _query(back))

    assert "error" not in result, result
    assert result["refresh_token"].startswith("sandbox-graph.rt.")
    assert result["id_token_claims"]["preferred_username"] == "bea@contoso.com"
    assert "Calendars.ReadWrite" in result["scope"]
