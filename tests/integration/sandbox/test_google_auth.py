"""Google token endpoint and access-token checks, through google-auth."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account

from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.integration.sandbox.google_client import calendar_service, credentials


def test_credentials_refresh_against_the_sandbox(
    sandbox: SandboxServer, ann: dict[str, Any]
) -> None:
    creds = credentials(sandbox, ann["refresh_token"])

    calendar_service(sandbox, creds).events().list(calendarId="primary").execute()

    assert creds.token
    assert creds.token.startswith("sandbox-google.at.")
    assert creds.expiry is not None


def test_calls_without_a_token_get_401(sandbox: SandboxServer, ann: dict[str, Any]) -> None:
    response = httpx.get(f"{sandbox.google_api_url}calendars/primary/events")

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["errors"][0]["reason"] == "required"
    assert error["status"] == "UNAUTHENTICATED"
    assert "WWW-Authenticate" in response.headers


def test_an_expired_access_token_is_refreshed_transparently(
    sandbox: SandboxServer, ann: dict[str, Any], google_admin: SandboxAdminClient
) -> None:
    calendar = calendar_service(sandbox, credentials(sandbox, ann["refresh_token"]))
    calendar.events().list(calendarId="primary").execute()
    google_admin.expire_access_tokens("ann@example.com")
    google_admin.clear_requests()

    calendar.events().list(calendarId="primary").execute()

    assert [(r["path"], r["status"]) for r in google_admin.requests()] == [
        ("/calendar/v3/calendars/primary/events", 401),
        ("/token", 200),
        ("/calendar/v3/calendars/primary/events", 200),
    ]


def test_a_revoked_refresh_token_gets_invalid_grant(
    sandbox: SandboxServer, ann: dict[str, Any], google_admin: SandboxAdminClient
) -> None:
    google_admin.revoke_refresh_tokens(refresh_token=ann["refresh_token"])
    calendar = calendar_service(sandbox, credentials(sandbox, ann["refresh_token"]))

    with pytest.raises(RefreshError, match="invalid_grant"):
        calendar.events().list(calendarId="primary").execute()


def test_short_lived_tokens_expire(
    sandbox: SandboxServer, ann: dict[str, Any], google_admin: SandboxAdminClient
) -> None:
    google_admin.set_token_lifetime(1)
    token = httpx.post(
        sandbox.google_token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": ann["refresh_token"],
            "client_id": "c",
            "client_secret": "s",
        },
    ).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    url = f"{sandbox.google_api_url}calendars/primary/events"

    assert token["expires_in"] == 1
    assert httpx.get(url, headers=headers).status_code == 200
    time.sleep(1.05)
    expired = httpx.get(url, headers=headers)
    assert expired.status_code == 401
    assert expired.json()["error"]["errors"][0]["reason"] == "authError"


def test_users_cannot_read_each_others_calendars(
    sandbox: SandboxServer, ann: dict[str, Any], google_admin: SandboxAdminClient
) -> None:
    google_admin.create_user("bob@example.com")
    calendar = calendar_service(sandbox, credentials(sandbox, ann["refresh_token"]))

    assert calendar.events().list(calendarId="ann@example.com").execute()["items"] == []
    with pytest.raises(Exception, match="404"):
        calendar.events().list(calendarId="bob@example.com").execute()


def test_service_account_with_domain_wide_delegation(
    sandbox: SandboxServer, ann: dict[str, Any]
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "client_email": "calsync@project.iam.gserviceaccount.com",
        "private_key": pem,
        "private_key_id": "k1",
        "token_uri": sandbox.google_token_url,
    }
    creds = service_account.Credentials.from_service_account_info(info).with_subject(ann["email"])

    items = calendar_service(sandbox, creds).events().list(calendarId="primary").execute()["items"]

    assert items == []
