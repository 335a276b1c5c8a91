"""``calsync connections list``: an account's calendar connections, as the API lists them (R36)."""

from __future__ import annotations

from collections.abc import Iterator

import click

from adapters.redaction import redact_text
from adapters.sql.connection_list import ConnectionFilter, ListedConnection, SqlConnectionList
from domain.connection_state import ACTIVE, DISCONNECTED, FAILING, NEEDS_RECONNECT
from infra.bootstrap import Container
from infra.dlq import render
from infra.status_render import duration
from ingest.connection_ports import PROVIDERS
from ingest.connections_list import MAX_LIMIT, connection_json

#: Characters of a last error a table row shows (``--json`` has all of it).
ERROR_WIDTH = 80


class NoSuchAccount(click.ClickException):
    exit_code = 1


@click.group("connections")
def connections() -> None:
    """Calendar connections: status, last sync, last error and how far behind (R36)."""


@connections.command("list")
@click.option("--account", "account_id", required=True, help="CRM account id.")
@click.option(
    "--status",
    type=click.Choice([ACTIVE, FAILING, NEEDS_RECONNECT, DISCONNECTED]),
    help="Only connections shown with this status.",
)
@click.option("--provider", type=click.Choice(list(PROVIDERS)), help="Only this provider's.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, as GET /api/v1/connections.")
@click.pass_obj
def list_connections(
    container: Container, account_id: str, status: str | None, provider: str | None, as_json: bool
) -> None:
    """The account's connections by user id; LAG is how long the oldest sync request has
    waited (0: none pending)."""
    if not container.accounts.exists(account_id):
        raise NoSuchAccount(f"no account {account_id!r}")
    listing = SqlConnectionList(container.engine, container.clock)
    found = list(_every_page(listing, account_id, ConnectionFilter(status, provider)))
    if as_json:
        click.echo(render.to_json([connection_json(c) for c in found]))
    elif not found:
        click.echo("no connections match")
    else:
        for line in _table(found):
            click.echo(line)


def _every_page(
    listing: SqlConnectionList, account_id: str, where: ConnectionFilter
) -> Iterator[ListedConnection]:
    offset = 0
    while True:
        page = listing.list(
            account_id,
            ConnectionFilter(where.status, where.provider, limit=MAX_LIMIT, offset=offset),
        )
        yield from page
        if len(page) < MAX_LIMIT:
            return
        offset += MAX_LIMIT


def _table(found: list[ListedConnection]) -> list[str]:
    rows = [
        [
            c.user_id,
            c.provider,
            c.status,
            render.instant(c.connected_at),
            render.instant(c.last_synced_at),
            _lag(c.lag_seconds),
            _error(c.last_error),
        ]
        for c in found
    ]
    headings = ["USER", "PROVIDER", "STATUS", "CONNECTED", "LAST SYNC", "LAG", "LAST ERROR"]
    return render.table(headings, rows)


def _lag(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return duration(seconds)


def _error(text: str | None) -> str:
    lines = redact_text(text or "").strip().splitlines()
    line = lines[0] if lines else "-"
    return line if len(line) <= ERROR_WIDTH else line[: ERROR_WIDTH - 1] + "…"
