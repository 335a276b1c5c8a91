"""Fixtures shared by the integration tests that talk to the sandbox providers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.model import Provider
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Both sandbox providers, one pair per test module (a module may define its own)."""
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="module")
def admins(sandbox: SandboxServer) -> Iterator[dict[Provider, SandboxAdminClient]]:
    """An admin client per sandbox provider."""
    with (
        SandboxAdminClient(sandbox.google_url) as google,
        SandboxAdminClient(sandbox.graph_url) as graph,
    ):
        yield {Provider.GOOGLE: google, Provider.MICROSOFT: graph}
