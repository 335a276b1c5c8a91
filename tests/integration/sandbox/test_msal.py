"""MSAL against the Graph sandbox served over https (MSAL accepts only https authorities)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import msal
import pytest
import requests

from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer

TENANT = "contoso.onmicrosoft.com"


@pytest.fixture(scope="module")
def tls_sandbox() -> Iterator[SandboxServer]:
    """A second sandbox pair, over https with a generated certificate."""
    with SandboxServer(tls=True) as server:
        yield server


def msal_app(sandbox: SandboxServer) -> msal.ConfidentialClientApplication:
    assert sandbox.ca_file is not None
    session = requests.Session()
    # requests lets REQUESTS_CA_BUNDLE override Session.verify (psf/requests#3829), so the
    # session must ignore the environment for the sandbox certificate to be trusted.
    session.trust_env = False
    session.verify = sandbox.ca_file
    return msal.ConfidentialClientApplication(
        "calsync-client",
        client_credential="secret",
        authority=sandbox.graph_authority(TENANT),
        validate_authority=False,
        instance_discovery=False,
        http_client=session,
    )


@pytest.fixture
def tls_admin(tls_sandbox: SandboxServer) -> Iterator[SandboxAdminClient]:
    """Admin client of the https Graph sandbox, reset for each test."""
    assert tls_sandbox.ca_file is not None
    with SandboxAdminClient(tls_sandbox.graph_url, verify=tls_sandbox.ca_file) as admin:
        admin.reset()
        yield admin


@pytest.fixture
def tls_user(tls_admin: SandboxAdminClient) -> dict[str, Any]:
    """A user of the https Graph sandbox."""
    return tls_admin.create_user("bea@contoso.com")


def test_msal_refreshes_against_the_sandbox(
    tls_sandbox: SandboxServer, tls_user: dict[str, Any]
) -> None:
    answer = msal_app(tls_sandbox).acquire_token_by_refresh_token(
        tls_user["refresh_token"], scopes=["https://graph.microsoft.com/Calendars.ReadWrite"]
    )

    assert answer["access_token"].startswith("sandbox-graph.at.")
    assert answer["refresh_token"] != tls_user["refresh_token"]
    events = httpx.get(
        f"{tls_sandbox.graph_api_url}/me/events",
        headers={"Authorization": f"Bearer {answer['access_token']}"},
        verify=ssl.create_default_context(cafile=tls_sandbox.ca_file),
    )
    assert events.json()["value"] == []


def test_msal_client_credentials(tls_sandbox: SandboxServer, tls_user: dict[str, Any]) -> None:
    answer = msal_app(tls_sandbox).acquire_token_for_client(
        scopes=["https://graph.microsoft.com/.default"]
    )
    assert answer["token_type"] == "Bearer"
    assert "refresh_token" not in answer


def test_msal_reports_revoked_refresh_tokens(
    tls_sandbox: SandboxServer, tls_admin: SandboxAdminClient, tls_user: dict[str, Any]
) -> None:
    tls_admin.revoke_refresh_tokens(user=tls_user["id"])

    answer = msal_app(tls_sandbox).acquire_token_by_refresh_token(
        tls_user["refresh_token"], scopes=["https://graph.microsoft.com/Calendars.ReadWrite"]
    )

    assert answer["error"] == "invalid_grant"
