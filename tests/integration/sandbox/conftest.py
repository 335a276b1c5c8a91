"""One sandbox per test session, reset through the admin API before every test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.integration.sandbox.google_client import calendar_service, credentials
from tests.integration.sandbox.webhook import WebhookReceiver


def pytest_configure(config: pytest.Config) -> None:
    # msgraph-sdk's generated code warns about its own deprecated configuration classes.
    config.addinivalue_line("filterwarnings", "ignore:This class is deprecated:DeprecationWarning")
    config.addinivalue_line(
        "filterwarnings", "ignore:GetQueryParameters is deprecated:DeprecationWarning"
    )


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """Both sandboxes on free localhost ports."""
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="session")
def google_admin(sandbox: SandboxServer) -> Iterator[SandboxAdminClient]:
    """Admin client of the Google sandbox."""
    with SandboxAdminClient(sandbox.google_url) as client:
        yield client


@pytest.fixture(scope="session")
def graph_admin(sandbox: SandboxServer) -> Iterator[SandboxAdminClient]:
    """Admin client of the Graph sandbox."""
    with SandboxAdminClient(sandbox.graph_url) as client:
        yield client


@pytest.fixture(autouse=True)
def _fresh_sandbox(google_admin: SandboxAdminClient, graph_admin: SandboxAdminClient) -> None:
    google_admin.reset()
    graph_admin.reset()


@pytest.fixture
def ann(google_admin: SandboxAdminClient) -> dict[str, Any]:
    """A Google user in Berlin, with a refresh token."""
    return google_admin.create_user(
        "ann@example.com", display_name="Ann Example", time_zone="Europe/Berlin"
    )


@pytest.fixture
def calendar(sandbox: SandboxServer, ann: dict[str, Any]) -> Any:
    """Ann's Calendar v3 service, through google-api-python-client."""
    return calendar_service(sandbox, credentials(sandbox, ann["refresh_token"]))


T = TypeVar("T")
Runner = Callable[[Coroutine[Any, Any, T]], T]


@pytest.fixture
def run() -> Iterator[Runner[Any]]:
    """Runs msgraph coroutines on one event loop for the whole test."""
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()


@pytest.fixture
def bea(graph_admin: SandboxAdminClient) -> dict[str, Any]:
    """A Microsoft 365 user in Berlin, with an id and a refresh token."""
    return graph_admin.create_user(
        "bea@contoso.com", display_name="Bea Contoso", time_zone="Europe/Berlin"
    )


@pytest.fixture
def bea_tokens(sandbox: SandboxServer, bea: dict[str, Any]) -> Any:
    """Bea's access tokens, from the sandbox token endpoint."""
    # Imported here so that msgraph's import-time warnings fall under the filters above.
    from tests.integration.sandbox.graph_client import RefreshTokenProvider

    return RefreshTokenProvider(sandbox.graph_token_url(), bea["refresh_token"])


@pytest.fixture
def graph(sandbox: SandboxServer, bea_tokens: Any, run: Runner[Any]) -> Iterator[Any]:
    """A GraphServiceClient acting for Bea, through msgraph-sdk."""
    from tests.integration.sandbox.graph_client import graph_client

    client, http = graph_client(sandbox.graph_api_url, bea_tokens)
    yield client
    run(http.aclose())


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A local webhook receiver."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()
