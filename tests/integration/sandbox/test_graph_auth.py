"""Microsoft token endpoint and Graph token checks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.integration.sandbox.graph_client import RefreshTokenProvider, error_code, graph_client


def refresh(
    sandbox: SandboxServer, refresh_token: str, tenant: str = "contoso.onmicrosoft.com"
) -> httpx.Response:
    return httpx.post(
        sandbox.graph_token_url(tenant),
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": "calsync",
            "client_secret": "secret",
            "scope": "https://graph.microsoft.com/.default offline_access",
        },
    )


def test_refresh_grant_rotates_refresh_tokens(sandbox: SandboxServer, bea: dict[str, Any]) -> None:
    first = refresh(sandbox, bea["refresh_token"]).json()
    second = refresh(sandbox, first["refresh_token"]).json()

    assert first["token_type"] == "Bearer"
    assert first["expires_in"] == 3600
    assert first["refresh_token"] != bea["refresh_token"]
    assert second["access_token"] != first["access_token"]


def test_revoked_refresh_tokens_get_invalid_grant(
    sandbox: SandboxServer, bea: dict[str, Any], graph_admin: SandboxAdminClient
) -> None:
    assert graph_admin.revoke_refresh_tokens(user="bea@contoso.com") == 1

    answer = refresh(sandbox, bea["refresh_token"])

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert answer.json()["error_description"].startswith("AADSTS70008")


def test_calls_without_or_with_expired_tokens_get_401(
    graph: Any,
    run: Any,
    bea: dict[str, Any],
    bea_tokens: RefreshTokenProvider,
    graph_admin: SandboxAdminClient,
) -> None:
    run(graph.me.events.get())
    graph_admin.expire_access_tokens("bea@contoso.com")

    with pytest.raises(ODataError) as expired:
        run(graph.me.events.get())

    assert expired.value.response_status_code == 401
    assert error_code(expired.value) == "InvalidAuthenticationToken"
    run(bea_tokens.refresh())
    assert run(graph.me.events.get()).value == []


def test_missing_token_gets_401(sandbox: SandboxServer, bea: dict[str, Any]) -> None:
    answer = httpx.get(f"{sandbox.graph_api_url}/me/events")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "request-id" in answer.json()["error"]["innerError"]


def test_app_only_tokens_reach_any_mailbox_but_not_me(
    sandbox: SandboxServer, bea: dict[str, Any], run: Any
) -> None:
    answer = httpx.post(
        sandbox.graph_token_url("contoso.onmicrosoft.com"),
        data={
            "grant_type": "client_credentials",
            "client_id": "calsync",
            "client_secret": "secret",
            "scope": "https://graph.microsoft.com/.default",
        },
    ).json()

    class AppTokens(RefreshTokenProvider):
        async def get_authorization_token(self, uri: str, context: Any = None) -> str:
            return str(answer["access_token"])

    client, http = graph_client(sandbox.graph_api_url, AppTokens("", ""))
    try:
        assert run(client.users.by_user_id(bea["id"]).events.get()).value == []
        with pytest.raises(ODataError) as refused:
            run(client.me.events.get())
        assert refused.value.response_status_code == 400
    finally:
        run(http.aclose())


def test_openid_configuration_points_at_the_sandbox(sandbox: SandboxServer) -> None:
    config = httpx.get(
        f"{sandbox.graph_url}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
    ).json()
    assert config["token_endpoint"] == sandbox.graph_token_url("contoso.onmicrosoft.com")
