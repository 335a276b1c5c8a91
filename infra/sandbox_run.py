"""``calsync run`` with the provider sandboxes (see ``infra.sandbox_default``).

The sandboxes run on threads of the ``run`` process, their state in memory: it is gone
when ``run`` stops, while ``var/`` keeps the connections made to them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from infra.bootstrap import Container
from infra.sandbox.server import SandboxServer
from infra.sandbox_default import ProviderSandbox, with_provider_sandbox

#: oauthlib's switch for plain-http OAuth endpoints, set for the Google sandbox only.
INSECURE_TRANSPORT = "OAUTHLIB_INSECURE_TRANSPORT"


class SandboxListenFailed(Exception):
    """A sandbox port is taken (the message names it and the fix)."""


@contextmanager
def running_sandboxes(
    container: Container, sandbox: ProviderSandbox | None, env: Mapping[str, str]
) -> Iterator[tuple[Container, Callable[[str], list[str]]]]:
    """The container to run and the first lines to print once it listens at a URL.

    Without sandboxes that is ``container`` itself; with them, a container whose settings
    point at the sandboxes this starts (on their bound ports), closed and stopped on exit.

    Raises:
        SandboxListenFailed: a sandbox port is taken.
    """
    if sandbox is None:
        yield container, _configured_banner
        return
    server = SandboxServer(sandbox.host, sandbox.google_port, sandbox.graph_port)
    try:
        server.start()
    except OSError as error:
        raise SandboxListenFailed(
            f"cannot start the provider sandboxes on {sandbox.host} ports "
            f"{sandbox.google_port} and {sandbox.graph_port}: {error.strerror or error}; "
            "stop what uses them or set CALSYNC_SANDBOX_PORTS"
        ) from None
    bound = dataclasses.replace(
        sandbox, google_port=server.google.port, graph_port=server.graph.port
    )
    sandboxed = Container(with_provider_sandbox(container.settings, bound, env), container.clock)
    try:
        with _insecure_transport():
            yield sandboxed, lambda url: _sandbox_banner(url, bound)
    finally:
        sandboxed.close()
        server.stop()


@contextmanager
def _insecure_transport() -> Iterator[None]:
    """Let oauthlib (the Google browser connect) talk to the plain-http Google sandbox.

    Set in this process only, only while the sandboxes run; production never gets here.
    """
    before = os.environ.get(INSECURE_TRANSPORT)
    os.environ[INSECURE_TRANSPORT] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(INSECURE_TRANSPORT, None)
        else:
            os.environ[INSECURE_TRANSPORT] = before


def _configured_banner(url: str) -> list[str]:
    return [f"Calsync on {url} with the configured provider apps."]


def _sandbox_banner(url: str, sandbox: ProviderSandbox) -> list[str]:
    return [
        f"Calsync on {url} with the provider sandboxes (no Google or Microsoft app configured):",
        f"  Google sandbox     {sandbox.google_url}   (admin API: {sandbox.google_url}/_admin)",
        f"  Microsoft sandbox  {sandbox.graph_url}   (admin API: {sandbox.graph_url}/_admin)",
        "Their calendars live in memory and are gone when this stops.",
        "Next: README.md 'Try it' makes a sandbox user, connects the calendar and books a "
        "meeting both ways.",
    ]
