"""Fixtures shared by the integration tests that talk to the sandbox providers."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from domain.model import Provider
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.integration.browser_world import BrowserWorld, browser_world


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Both sandbox providers, one pair per test module (a module may define its own)."""
    with warnings.catch_warnings():
        # msgraph-sdk's generated code warns about its own deprecated classes when imported.
        warnings.simplefilter("ignore", DeprecationWarning)
        with SandboxServer() as server:
            yield server


@pytest.fixture(params=[Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "microsoft"])
def provider(request: pytest.FixtureRequest) -> Provider:
    """Each provider in turn."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def admins(sandbox: SandboxServer) -> Iterator[dict[Provider, SandboxAdminClient]]:
    """An admin client per sandbox provider."""
    with (
        SandboxAdminClient(sandbox.google_url) as google,
        SandboxAdminClient(sandbox.graph_url) as graph,
    ):
        yield {Provider.GOOGLE: google, Provider.MICROSOFT: graph}


@pytest.fixture(scope="module")
def plain_sandbox() -> Iterator[SandboxServer]:
    """The sandboxes over plain http, for the browser connect (google-auth-oauthlib)."""
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="module")
def tls_sandbox() -> Iterator[SandboxServer]:
    """The sandboxes over https, for the browser connect (MSAL wants an https authority)."""
    with SandboxServer(tls=True) as server:
        yield server


@pytest.fixture
def make_world(
    tmp_path: Path,
    plain_sandbox: SandboxServer,
    tls_sandbox: SandboxServer,
    broker_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., BrowserWorld]]:
    """Makes the world of one provider, with extra ``CALSYNC_*`` settings (one per test)."""
    made: list[Iterator[BrowserWorld]] = []

    def make(provider: Provider, **extra: str) -> BrowserWorld:
        made.append(
            browser_world(
                provider,
                tmp_path=tmp_path,
                plain_sandbox=plain_sandbox,
                tls_sandbox=tls_sandbox,
                broker_url=broker_url,
                monkeypatch=monkeypatch,
                **extra,
            )
        )
        return next(made[-1])

    yield make
    for generator in made:
        generator.close()  # type: ignore[attr-defined]
