"""``calsync sandbox``: run both provider sandboxes until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from infra.sandbox.server import SandboxServer


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--google-port", default=8081, show_default=True, help="Google Calendar sandbox port."
)
@click.option("--graph-port", default=8082, show_default=True, help="Microsoft Graph sandbox port.")
@click.option(
    "--tls", is_flag=True, help="Serve https with a generated certificate (needed by MSAL)."
)
def sandbox(host: str, google_port: int, graph_port: int, tls: bool) -> None:
    """Run local Google Calendar and Microsoft Graph servers for trying calsync without accounts.

    State lives in memory and is lost on exit. Create users, rooms and events through each
    server's admin API (/_admin) or infra.sandbox.client.SandboxAdminClient.
    """
    server = SandboxServer(host=host, google_port=google_port, graph_port=graph_port, tls=tls)
    try:
        server.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}: {exc.strerror or exc}") from None
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        _print_addresses(server)
        while not stop.wait(timeout=0.5):
            pass
    finally:
        server.stop()
    click.echo("Sandbox stopped.")


def _print_addresses(server: SandboxServer) -> None:
    lines = [
        f"Google Calendar sandbox  {server.google_api_url}",
        f"  token endpoint         {server.google_token_url}",
        f"  admin API              {server.google_url}/_admin",
        f"Microsoft Graph sandbox  {server.graph_api_url}",
        f"  token endpoint         {server.graph_token_url()}",
        f"  admin API              {server.graph_url}/_admin",
    ]
    if server.ca_file:
        lines.append(f"Certificate to trust     {server.ca_file}")
    lines.append("Press Ctrl-C to stop.")
    for line in lines:
        click.echo(line)
