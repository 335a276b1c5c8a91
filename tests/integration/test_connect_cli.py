"""``calsync connect`` as an operator runs it, against the sandbox providers (R37)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.model import Provider
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.support.broker import drain
from tests.support.live_world import ACCOUNT, World, live_world

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(
    tmp_path: Path,
    sandbox: SandboxServer,
    admins: dict[Provider, SandboxAdminClient],
    broker_url: str,
) -> Iterator[World]:
    yield from live_world(tmp_path, sandbox, admins, broker_url)


def _calsync_env(world: World) -> dict[str, str]:
    """The world's settings as the variables a ``calsync`` process reads."""
    settings = world.container.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "CALSYNC_VAR_DIR": str(world.db_path.parent / "var"),
        "CALSYNC_DATABASE_URL": settings.database_url,
        "CALSYNC_BROKER_URL": settings.broker_url,
        "CALSYNC_PUBLIC_URL": settings.public_url,
        "CALSYNC_SECRET_KEY": settings.secret_key,
        "CALSYNC_CRM_SIGNING_SECRET": settings.crm_signing_secret,
        "CALSYNC_GOOGLE_API_URL": settings.google_api_url,
        "CALSYNC_GOOGLE_TOKEN_URL": settings.google_token_url,
        "CALSYNC_GRAPH_API_URL": settings.graph_api_url,
        "CALSYNC_MICROSOFT_TOKEN_URL": settings.microsoft_token_url,
        "CALSYNC_GOOGLE_CLIENT_ID": settings.google_client_id or "",
        "CALSYNC_GOOGLE_CLIENT_SECRET": settings.google_client_secret or "",
        "CALSYNC_MICROSOFT_CLIENT_ID": settings.microsoft_client_id or "",
        "CALSYNC_MICROSOFT_CLIENT_SECRET": settings.microsoft_client_secret or "",
        "CALSYNC_LOG_FORMAT": "json",
    }


def _connect(
    world: World, provider: Provider, user_id: str, token: str
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from infra.cli import main; main()"]
    arguments = ["connect", provider.value, "--account", ACCOUNT, "--user", user_id]
    return subprocess.run(
        [*command, *arguments],
        env={**_calsync_env(world), "CALSYNC_CONNECT_REFRESH_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"])
def test_connect_with_another_persons_token_is_one_line_exit_1_and_attaches_nothing(
    world: World, provider: Provider
) -> None:
    # Given bea's refresh token, with ann named on the command line
    admin = world.admins[provider]
    admin.create_user("ann@example.com")
    bea = admin.create_user("bea@example.com")

    result = _connect(world, provider, "ann", bea["refresh_token"])

    assert result.returncode == 1
    assert result.stdout == ""
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("calsync:")]
    assert len(error_lines) == 1
    assert error_lines[0].startswith("calsync: error: the ")
    assert "bea@example.com" in error_lines[0]
    assert "Traceback" not in result.stderr
    assert bea["refresh_token"] not in result.stderr
    assert world.container.connections.for_user(ACCOUNT, "ann") is None
    assert world.channel_rows() == []
    assert admin.subscriptions() == []
    assert drain(world.broker_url, "sync", wait=0.5) == []


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"])
def test_connect_with_the_users_own_token_prints_the_connection(
    world: World, provider: Provider
) -> None:
    ann = world.admins[provider].create_user("ann@example.com")

    result = _connect(world, provider, "ann", ann["refresh_token"])

    assert result.returncode == 0, result.stderr
    record = world.container.connections.for_user(ACCOUNT, "ann")
    assert record is not None
    assert result.stdout == f"{record.id}\n"
