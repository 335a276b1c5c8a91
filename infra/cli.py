"""The ``calsync`` command line (see CONTRACT.md). Errors are one line on stderr; exit 1 or 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
import structlog
from prometheus_client import start_http_server

from adapters.directory_file import DirectoryFileError, read_directory_file
from adapters.sql.accounts import AccountExists, AccountNotFound
from adapters.sql.gauges import expose_store_gauges
from infra.bootstrap import Container
from infra.cli_connections import connections
from infra.cli_crm import crm
from infra.cli_explain import explain
from infra.cli_status import status
from infra.connect import ConnectError, connect_calendar
from infra.db import (
    MigrationsPending,
    current_revision,
    describe_database_error,
    require_current_schema,
    upgrade,
)
from infra.demo import run_demo
from infra.dlq import dlq
from infra.log import configure_logging, redact_text
from infra.sandbox_default import SandboxPortsError, provider_sandbox, with_provider_sandbox
from infra.server import ListenFailed, run_single_machine, serve_with_gunicorn
from infra.settings import Settings, SettingsError
from workers.runner import run_workers

log = structlog.get_logger("calsync.cli")


#: Commands that build their own world (temporary store, sandbox ports) and must not read
#: settings, which would generate secrets into the user's var/ directory.
SELF_CONTAINED = frozenset({"demo", "sandbox"})


class CommandFailed(click.ClickException):
    """A failure the command reports: exit status 1, one line on stderr."""

    exit_code = 1


class CalsyncGroup(click.Group):
    """Reports a database that is unreachable or not migrated as one line with the fix."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MigrationsPending as exc:
            raise CommandFailed(str(exc)) from None
        except sa.exc.SQLAlchemyError as exc:
            # The traceback is for whoever debugs calsync itself, not for the operator.
            log.debug("database call failed", exc_info=True)
            url = ctx.obj.settings.database_url if isinstance(ctx.obj, Container) else None
            raise CommandFailed(describe_database_error(exc, url)) from None


@click.group(cls=CalsyncGroup)
@click.version_option(package_name="calsync", prog_name="calsync", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Calsync: two-way calendar sync between the CRM and Google / Microsoft 365."""
    if ctx.invoked_subcommand in SELF_CONTAINED:
        return
    try:
        settings = Settings.from_env(isatty=sys.stderr.isatty())
        # No provider app configured: the sandboxes are the embedded default.
        settings = with_provider_sandbox(settings, provider_sandbox(os.environ), os.environ)
    except (SettingsError, SandboxPortsError) as exc:
        raise CommandFailed(str(exc)) from None
    configure_logging(settings.log_format, settings.log_level)
    container = Container(settings)
    ctx.obj = container
    ctx.call_on_close(container.close)


cli.add_command(dlq)
cli.add_command(connections)
cli.add_command(status)
cli.add_command(explain)
cli.add_command(crm)


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(container: Container) -> None:
    """Apply migrations (Alembic); safe to run again."""
    upgrade(container.engine)
    click.echo(f"database at revision {current_revision(container.engine)}")


@cli.group()
def broker() -> None:
    """Message broker topology."""


@broker.command("declare")
@click.pass_obj
def broker_declare(container: Container) -> None:
    """Declare every queue, retry queue and dead-letter exchange; safe to run again."""
    try:
        names = container.declare_broker()
    except Exception as exc:  # noqa: BLE001 - any broker error is reported as one line
        raise CommandFailed(f"cannot declare the broker topology: {exc}") from None
    log.info("broker topology declared", queues=len(names))
    click.echo(f"declared {len(names)} queues: {', '.join(names)}")


@cli.group()
def directory() -> None:
    """Accounts, users, companies and contacts."""


@directory.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def directory_load(container: Container, file: Path) -> None:
    """Upsert accounts, users (with aliases), companies and contacts from a JSON FILE."""
    try:
        entries = read_directory_file(file)
    except DirectoryFileError as exc:
        for problem in exc.errors[1:]:
            log.error("directory file invalid", file=str(file), problem=problem)
        message = str(exc)
        # An unreadable file's error names it already; a record's error does not.
        named = message if message.startswith(f"{file}:") else f"{file}: {message}"
        raise CommandFailed(named) from None
    total = sum(len(e.users) + len(e.companies) + len(e.contacts) for e in entries)
    with _progress(total, "loading directory") as tick:
        container.directory.load(entries, progress=tick)
    counts = {
        kind: sum(len(getattr(e, kind)) for e in entries)
        for kind in ("users", "companies", "contacts")
    }
    log.info("directory loaded", file=str(file), accounts=len(entries), **counts)
    click.echo(
        f"loaded {len(entries)} accounts, {counts['users']} users, "
        f"{counts['companies']} companies, {counts['contacts']} contacts"
    )


@cli.group()
def account() -> None:
    """Accounts and their API keys."""


@account.command("create")
@click.argument("account_id")
@click.option("--name", default="", help="Display name of the account.")
@click.pass_obj
def account_create(container: Container, account_id: str, name: str) -> None:
    """Create an account; prints its API key once, alone on stdout."""
    if not 0 < len(account_id) <= 64:
        raise click.BadParameter("must be 1 to 64 characters", param_hint="ID")
    try:
        key = container.accounts.create(account_id, name)
    except AccountExists as exc:
        raise CommandFailed(str(exc)) from None
    log.info("account created", account_id=account_id)
    click.echo(key)


@account.command("rotate-key")
@click.argument("account_id")
@click.pass_obj
def account_rotate_key(container: Container, account_id: str) -> None:
    """Give an account a new API key (alone on stdout); the old one stops working."""
    try:
        key = container.accounts.rotate_key(account_id)
    except AccountNotFound as exc:
        raise CommandFailed(str(exc)) from None
    log.info("account key rotated", account_id=account_id)
    click.echo(key)


@cli.command()
@click.pass_obj
def serve(container: Container) -> None:
    """The HTTP service (ingest + API) under gunicorn."""
    require_current_schema(container.engine)
    serve_with_gunicorn(container)


@cli.command()
@click.option(
    "--queue",
    "queues",
    multiple=True,
    metavar="Q",
    help="Consume only this queue (repeatable); all queues with a worker when omitted.",
)
@click.pass_obj
def worker(container: Container, queues: tuple[str, ...]) -> None:
    """Queue consumers, until SIGTERM or Ctrl-C (in-flight messages finish first)."""
    require_current_schema(container.engine)
    try:
        workers = container.workers(queues)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--queue") from None
    container.declare_broker()
    _serve_metrics(container)
    log.info("workers starting", queues=[w.queue_name for w in workers])
    status = run_workers(workers)
    if status:
        raise CommandFailed("a worker stopped unexpectedly; see the log")


@cli.command()
@click.pass_obj
def scheduler(container: Container) -> None:
    """Channel renewal, window slide, polling backstop and stalled-sync sweep, until SIGTERM.

    Safe to run on several machines: each job run has one owner, claimed in SQL.
    """
    require_current_schema(container.engine)
    container.declare_broker()
    _serve_metrics(container)
    status = run_workers([container.scheduler()])
    if status:
        raise CommandFailed("the scheduler stopped unexpectedly; see the log")


@cli.command()
@click.pass_obj
def run(container: Container) -> None:
    """Everything on one machine: the HTTP service and the pipeline's workers.

    With no Google or Microsoft app configured (and not in production), the provider
    sandboxes too, on CALSYNC_SANDBOX_PORTS (8081,8082).
    """
    require_current_schema(container.engine)
    try:
        _run_with_sandboxes(container)
    except ListenFailed as exc:
        raise CommandFailed(str(exc)) from None


def _run_with_sandboxes(container: Container) -> None:
    try:
        from infra.sandbox_run import SandboxListenFailed, running_sandboxes  # noqa: PLC0415
    except ImportError:  # the sandbox providers are optional in a slimmed-down deployment
        run_single_machine(container)
        return

    def announce(lines: list[str]) -> None:
        click.echo("\n".join(lines))
        sys.stdout.flush()  # first lines of `make run`, even when stdout is a pipe

    try:
        with running_sandboxes(container, provider_sandbox(os.environ), os.environ) as started:
            sandboxed, banner = started
            run_single_machine(sandboxed, on_listening=lambda url: announce(banner(url)))
    except SandboxListenFailed as exc:
        raise CommandFailed(str(exc)) from None


@cli.command()
@click.argument("provider", type=click.Choice(["google", "microsoft"]))
@click.option("--account", "account_id", required=True, help="CRM account id.")
@click.option("--user", "user_id", required=True, help="User id in that account.")
@click.option(
    "--refresh-token",
    required=True,
    envvar="CALSYNC_CONNECT_REFRESH_TOKEN",
    help="OAuth refresh token issued to this deployment's client "
    "(or CALSYNC_CONNECT_REFRESH_TOKEN, which keeps it out of the process list).",
)
@click.option(
    "--appointment-type",
    "appointment_type_id",
    default=None,
    help="Appointment type given to meetings imported from this calendar.",
)
@click.pass_obj
def connect(
    container: Container,
    *,
    provider: str,
    account_id: str,
    user_id: str,
    refresh_token: str,
    appointment_type_id: str | None,
) -> None:
    """Connect a calendar without a browser; starts the initial sync and the push channel."""
    try:
        result = connect_calendar(
            container,
            provider=provider,
            account_id=account_id,
            user_id=user_id,
            refresh_token=refresh_token,
            appointment_type_id=appointment_type_id,
        )
    except ConnectError as exc:
        raise CommandFailed(str(exc)) from None
    log.info(
        "calendar connected",
        connection_id=result.connection_id,
        provider=provider,
        reconnected=result.reconnected,
        channel_id=result.channel_id,
    )
    click.echo(result.connection_id)
    if result.channel_error:
        click.echo(f"calsync: warning: {result.channel_error}; syncing without push", err=True)


@cli.command()
def demo() -> None:
    """The article's scenarios end to end on the sandboxes, printed as a table."""
    sys.exit(run_demo(sys.stdout))


def _register_sandbox() -> None:
    try:
        from infra.sandbox.command import sandbox  # noqa: PLC0415 - optional part
    except ImportError:  # the sandbox providers are optional in a slimmed-down deployment
        return
    cli.add_command(sandbox)


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; silence when stderr is a file or pipe."""
    if not sys.stderr.isatty() or total < 1000:
        yield lambda _n: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def main(argv: Sequence[str] | None = None) -> Any:
    """Entry point: one line on stderr for every error, exit 2 for bad usage, 1 otherwise."""
    _register_sandbox()
    try:
        return cli.main(args=argv, prog_name="calsync", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("calsync: aborted", err=True)
        sys.exit(1)
    except click.UsageError as exc:
        hint = (
            f" (see 'calsync {exc.ctx.command_path.partition(' ')[2]} --help')" if exc.ctx else ""
        )
        click.echo(f"calsync: usage: {exc.format_message()}{hint}".replace("  ", " "), err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"calsync: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        log.debug("command failed", exc_info=True)  # the traceback only at DEBUG
        line = redact_text(f"{type(exc).__name__}: {exc}").splitlines()[0]
        click.echo(f"calsync: error: {line}", err=True)
        sys.exit(1)


def _serve_metrics(container: Container) -> None:
    """``/metrics`` of a worker or scheduler process, when ``CALSYNC_METRICS_LISTEN`` says where."""
    if container.settings.metrics_listen is None:
        return
    host, port = container.settings.metrics_listen
    expose_store_gauges(container.engine)
    start_http_server(port, addr=host)
    log.info("metrics served", url=f"http://{host}:{port}/metrics")
