"""``calsync status``: one screen for on-call (``adapters/status_report.py`` gathers it)."""

from __future__ import annotations

import click

from adapters.status_report import gather
from infra.bootstrap import Container
from infra.status_render import status_json, status_lines


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(container: Container, as_json: bool) -> None:
    """Queues and consumers, dead letters, connections by status, the scheduler's last runs
    and the oldest change not yet synced."""
    report = gather(container.engine, container.settings.broker_url, container.clock)
    if as_json:
        click.echo(status_json(report))
        return
    for line in status_lines(report):
        click.echo(line)
