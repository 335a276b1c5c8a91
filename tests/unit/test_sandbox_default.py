"""With no provider app configured and outside production, the command line uses the
provider sandboxes, as it uses SQLite for the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.sandbox import oauth_codes
from infra.sandbox_default import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    ProviderSandbox,
    SandboxPortsError,
    provider_sandbox,
    with_provider_sandbox,
)
from infra.settings import Settings


def test_no_provider_app_means_the_sandboxes_on_8081_and_8082() -> None:
    assert provider_sandbox({}) == ProviderSandbox(8081, 8082, "127.0.0.1")
    assert provider_sandbox({"CALSYNC_SANDBOX_PORTS": "9001, 0"}) == ProviderSandbox(9001, 0)


@pytest.mark.parametrize(
    "env",
    [
        {"CALSYNC_GOOGLE_CLIENT_ID": "g"},
        {"CALSYNC_MICROSOFT_CLIENT_ID": "m"},
        {"CALSYNC_PRODUCTION": "true"},
    ],
    ids=["google-app", "microsoft-app", "production"],
)
def test_a_configured_app_or_production_never_uses_the_sandboxes(env: dict[str, str]) -> None:
    assert provider_sandbox(env) is None


@pytest.mark.parametrize("ports", ["8081", "8081,8082,8083", "a,b", "8081,70000", "-1,2"])
def test_malformed_sandbox_ports_name_the_variable(ports: str) -> None:
    with pytest.raises(SandboxPortsError, match="CALSYNC_SANDBOX_PORTS must be two ports"):
        provider_sandbox({"CALSYNC_SANDBOX_PORTS": ports})


def test_settings_point_at_the_sandboxes_with_their_published_client(tmp_path: Path) -> None:
    env = {"CALSYNC_VAR_DIR": str(tmp_path)}

    settings = with_provider_sandbox(Settings.from_env(env), ProviderSandbox(8081, 8082), env)

    assert settings.google_api_url == "http://127.0.0.1:8081/"
    assert settings.google_token_url == "http://127.0.0.1:8081/token"
    assert settings.google_auth_url == "http://127.0.0.1:8081/o/oauth2/auth"
    assert settings.graph_api_url == "http://127.0.0.1:8082/v1.0"
    assert settings.microsoft_token_url == "http://127.0.0.1:8082/common/oauth2/v2.0/token"
    assert settings.google_client_id == settings.microsoft_client_id == SANDBOX_CLIENT_ID
    assert settings.google_client_secret == settings.microsoft_client_secret
    assert SANDBOX_CLIENT_SECRET not in repr(settings)


def test_a_provider_url_set_in_the_environment_is_kept(tmp_path: Path) -> None:
    env = {"CALSYNC_VAR_DIR": str(tmp_path), "CALSYNC_GRAPH_API_URL": "http://graph.test/v1.0"}

    settings = with_provider_sandbox(Settings.from_env(env), ProviderSandbox(1, 2), env)

    assert settings.graph_api_url == "http://graph.test/v1.0"
    assert settings.google_api_url == "http://127.0.0.1:1/"


def test_no_sandbox_leaves_the_settings_alone(tmp_path: Path) -> None:
    settings = Settings.from_env({"CALSYNC_VAR_DIR": str(tmp_path)})

    assert with_provider_sandbox(settings, None, {}) is settings


def test_the_client_is_the_one_the_sandboxes_publish() -> None:
    # Kept apart so that settings never import the sandbox (optional in a slim deployment).
    assert SANDBOX_CLIENT_ID == oauth_codes.DEFAULT_CLIENT_ID
    assert SANDBOX_CLIENT_SECRET == oauth_codes.DEFAULT_CLIENT_SECRET
