"""``calsync dlq``: dead letters parked by the parker, for on-call (CONTRACT.md).

``stats``, ``list`` and ``show`` read; ``replay`` and ``purge`` act, and write an audit row
per letter (``dead_letter_audit``) and log lines. Bulk actions (``--all``) show how many
letters match and need ``--yes``; ``purge`` always does; ``--dry-run`` shows the plan.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click
import structlog

from adapters.sql import dead_letters
from adapters.sql.dead_letters import Filters
from infra.dlq import render, service
from workers.republish import KombuRepublisher

if TYPE_CHECKING:  # the container builds the console, which reuses this package's service
    from infra.bootstrap import Container

log = structlog.get_logger("calsync.dlq")

#: Rows a ``--dry-run`` lists before it only counts.
PLAN_ROWS = 50
STATES = {"pending": False, "replayed": True, "any": None}


class DlqFailed(click.ClickException):
    """A failure the command reports: exit status 1, one line on stderr."""

    exit_code = 1


# -- option types -------------------------------------------------------------------------------


class Moment(click.ParamType):
    """An instant: an age back from now (``90s``, ``30m``, ``2h``, ``7d``, ``2w``) or ISO 8601."""

    name = "TIME"
    _AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
    _UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        text = str(value)
        age = self._AGE.match(text)
        if age:
            amount = timedelta(**{self._UNITS[age.group(2)]: int(age.group(1))})
            return datetime.now(UTC) - amount
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            try:
                day = date.fromisoformat(text.strip())
            except ValueError:
                self.fail(
                    f"{text!r} is neither an age (30m, 2h, 7d) nor an ISO 8601 time", param, ctx
                )
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class Rate(click.ParamType):
    """Replays per second: ``20/s``, ``600/m``, or a bare number (per second)."""

    name = "RATE"
    _RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|m|min))?\s*$")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        match = self._RATE.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a rate like 20/s or 600/m", param, ctx)
        per_second = float(match.group(1)) / (60 if (match.group(2) or "s")[0] == "m" else 1)
        if per_second <= 0:
            self.fail("the rate must be above zero", param, ctx)
        return per_second


MOMENT = Moment()
RATE = Rate()


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--queue", metavar="Q", help="Only letters from this work queue."),
        click.option("--reason", metavar="R", help="Only this reason (retries_exhausted, …)."),
        click.option("--error-class", metavar="E", help="Only this error class (full name)."),
        click.option("--account", "account_id", metavar="A", help="Only this account."),
        click.option(
            "--since",
            type=MOMENT,
            help="Last failure at or after: an age (30m, 2h, 7d) or an ISO 8601 time.",
        ),
        click.option("--before", type=MOMENT, help="Last failure before: an age or a time."),
        click.option(
            "--state",
            type=click.Choice(list(STATES)),
            default=None,
            help="pending (never replayed), replayed, or any. "
            "Default: any; pending for 'replay --all'.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _filters(options: Mapping[str, Any], *, default_state: str = "any") -> Filters:
    return Filters(
        queue=options.get("queue"),
        reason=options.get("reason"),
        error_class=options.get("error_class"),
        account_id=options.get("account_id"),
        since=options.get("since"),
        before=options.get("before"),
        replayed=STATES[options.get("state") or default_state],
    )


def _described(filters: Filters) -> dict[str, Any]:
    described: dict[str, Any] = {}
    for name in ("queue", "reason", "error_class", "account_id", "since", "before"):
        value = getattr(filters, name)
        if value is not None:
            described[name] = value.isoformat() if isinstance(value, datetime) else value
    if filters.replayed is not None:
        described["state"] = "replayed" if filters.replayed else "pending"
    return described


# -- commands -----------------------------------------------------------------------------------


@click.group("dlq")
def dlq() -> None:
    """Dead letters: what failed and why; put them back on their queue, or drop them."""


@dlq.command("stats")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def stats(container: Container, as_json: bool, **options: Any) -> None:
    """Dead letters per original queue: count, never replayed, oldest failure, top reasons."""
    with container.engine.connect() as conn:
        per_queue = dead_letters.queue_stats(conn, _filters(options))
    if as_json:
        click.echo(render.to_json(render.stats_json(per_queue)))
    elif not per_queue:
        click.echo("no dead letters")
    else:
        for line in render.stats_table(per_queue, datetime.now(UTC)):
            click.echo(line)


@dlq.command("list")
@filter_options
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Rows at most."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_letters(container: Container, limit: int, as_json: bool, **options: Any) -> None:
    """Dead letters, newest failure first, with reason, attempts and error class."""
    filters = _filters(options)
    with container.engine.connect() as conn:
        rows = dead_letters.summaries(conn, filters, limit=limit)
        total = dead_letters.count(conn, filters) if len(rows) == limit else len(rows)
    if as_json:
        click.echo(render.to_json(rows))
        return
    if not rows:
        click.echo("no dead letters match")
        return
    for line in render.letters_table(rows):
        click.echo(line)
    if total > len(rows):
        click.echo(f"… {total - len(rows)} more (--limit {total} shows them all)")


@dlq.command("show")
@click.argument("letter_id", metavar="ID", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show(container: Container, letter_id: int, as_json: bool) -> None:
    """One dead letter: where it failed and why, its headers and body, and every failure of
    its message (a message replayed and dead again has a letter per death)."""
    document = service.letter_document(container.engine, letter_id)
    if document is None:
        raise DlqFailed(f"no dead letter {letter_id}")
    if as_json:
        click.echo(render.to_json(document))
        return
    for line in _show_lines(document):
        click.echo(line)


@dlq.command("replay")
@click.argument("letter_ids", metavar="[ID]...", nargs=-1, type=click.IntRange(min=1))
@click.option("--all", "everything", is_flag=True, help="Every letter the filters match.")
@filter_options
@click.option("--dry-run", is_flag=True, help="Show what would be replayed; change nothing.")
@click.option("--yes", is_flag=True, help="Confirm a bulk replay (--all).")
@click.option(
    "--rate",
    type=RATE,
    default=f"{service.DEFAULT_RATE:g}/s",
    show_default=True,
    help="Replays per second at most (N/s or N/m).",
)
@click.option("--by", "actor", metavar="NAME", help="Who replays, for the audit [OS user].")
@click.pass_context
def replay(
    ctx: click.Context,
    *,
    letter_ids: tuple[int, ...],
    everything: bool,
    dry_run: bool,
    yes: bool,
    rate: float,
    actor: str | None,
    **options: Any,
) -> None:
    """Put dead letters back on their original queue, with their original message id.

    Name letters by ID, or take --all that the filters match (never-replayed ones unless
    --state says otherwise; needs --yes). A replayed letter is kept and marked replayed.
    """
    container: Container = ctx.obj
    filters = _selection(ctx, letter_ids, everything, options, default_state="pending")
    who = _actor(actor)
    rows, selection = _selected(container, letter_ids, filters)
    if not rows:
        click.echo("no dead letters match")
        return
    if dry_run:
        _plan(rows, "replay", selection)
        return
    if everything and not yes:
        raise click.UsageError(
            f"{_matching(rows)}; add --yes to replay them, or --dry-run to list them",
            ctx,
        )
    republisher = KombuRepublisher(container.settings.broker_url)
    try:
        with _progress(len(rows), "replaying") as tick:
            outcome = service.replay(
                container.engine,
                republisher,
                [int(row["id"]) for row in rows],
                actor=who,
                pending_only=filters is not None and filters.replayed is False,
                rate=rate,
                selection=selection,
                progress=tick,
            )
    finally:
        republisher.close()
    _report(outcome, "replayed")


@dlq.command("purge")
@click.argument("letter_ids", metavar="[ID]...", nargs=-1, type=click.IntRange(min=1))
@click.option("--all", "everything", is_flag=True, help="Every letter the filters match.")
@filter_options
@click.option("--dry-run", is_flag=True, help="Show what would be purged; change nothing.")
@click.option("--yes", is_flag=True, help="Confirm: the letters are dropped for good.")
@click.option("--by", "actor", metavar="NAME", help="Who purges, for the audit [OS user].")
@click.pass_context
def purge(
    ctx: click.Context,
    *,
    letter_ids: tuple[int, ...],
    everything: bool,
    dry_run: bool,
    yes: bool,
    actor: str | None,
    **options: Any,
) -> None:
    """Drop dead letters for good (by ID, or --all that the filters match); needs --yes."""
    container: Container = ctx.obj
    filters = _selection(ctx, letter_ids, everything, options, default_state="any")
    who = _actor(actor)
    rows, selection = _selected(container, letter_ids, filters)
    if not rows:
        click.echo("no dead letters match")
        return
    if dry_run:
        _plan(rows, "purge", selection)
        return
    if not yes:
        raise click.UsageError(
            f"{_matching(rows)}; add --yes to drop them for good, or --dry-run to list them",
            ctx,
        )
    with _progress(len(rows), "purging") as tick:
        outcome = service.purge(
            container.engine,
            [int(row["id"]) for row in rows],
            actor=who,
            selection=selection,
            progress=tick,
        )
    _report(outcome, "purged")


# -- helpers ------------------------------------------------------------------------------------


def _selection(
    ctx: click.Context,
    letter_ids: Sequence[int],
    everything: bool,
    options: Mapping[str, Any],
    *,
    default_state: str,
) -> Filters | None:
    """The filters of ``--all`` (None for named letters); usage errors for a muddled choice."""
    filtered = sorted(name for name, value in options.items() if value is not None)
    if letter_ids and everything:
        raise click.UsageError("give IDs or --all, not both", ctx)
    if not letter_ids and not everything:
        raise click.UsageError("name the dead letters by ID, or take --all (with filters)", ctx)
    if letter_ids and filtered:
        flags = ", ".join("--" + name.replace("_id", "").replace("_", "-") for name in filtered)
        verb = "goes" if len(filtered) == 1 else "go"
        raise click.UsageError(f"{flags} {verb} with --all, not with IDs", ctx)
    return _filters(options, default_state=default_state) if everything else None


def _selected(
    container: Container, letter_ids: Sequence[int], filters: Filters | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The letters to act on, oldest first, and how they were chosen (for logs and audit)."""
    with container.engine.connect() as conn:
        if filters is None:
            rows = dead_letters.summaries_of(conn, letter_ids)
            missing = sorted(set(letter_ids) - {int(row["id"]) for row in rows})
            if missing:
                raise DlqFailed(f"no dead letter {', '.join(map(str, missing))}; nothing was done")
            return rows, {"ids": sorted(set(letter_ids))}
        rows = dead_letters.summaries(conn, filters)
    rows.sort(key=lambda row: int(row["id"]))
    return rows, {"all": True, **_described(filters)}


def _plan(rows: Sequence[Mapping[str, Any]], action: str, selection: Mapping[str, Any]) -> None:
    for line in render.letters_table(rows[:PLAN_ROWS]):
        click.echo(line)
    if len(rows) > PLAN_ROWS:
        click.echo(f"… and {len(rows) - PLAN_ROWS} more")
    click.echo(
        f"would {action} {render.plural(len(rows))} ({render.per_queue(_counts(rows))}); "
        "dry run, nothing changed"
    )
    log.info(f"dead letter {action} planned (dry run)", count=len(rows), selection=dict(selection))


def _report(outcome: service.Outcome, verb: str) -> None:
    done = len(outcome.done)
    tried = done + len(outcome.skipped) + (1 if outcome.failure else 0) + outcome.not_tried
    counts = render.per_queue(outcome.per_queue())
    amount = render.plural(done) if outcome.failure is None else f"{done} of {render.plural(tried)}"
    click.echo(f"{verb} {amount}" + (f" ({counts})" if done else "") + f"; run {outcome.run_id}")
    for letter_id, why in outcome.skipped:
        click.echo(f"skipped {letter_id}: {why}")
    if outcome.failure is not None:
        letter_id, error = outcome.failure
        left = f"; {outcome.not_tried} more not tried" if outcome.not_tried else ""
        raise DlqFailed(f"dead letter {letter_id} {error}{left}")


def _matching(rows: Sequence[Mapping[str, Any]]) -> str:
    verb = "matches" if len(rows) == 1 else "match"
    return f"{render.plural(len(rows))} {verb} ({render.per_queue(_counts(rows))})"


def _counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row["queue"])] = counts.get(str(row["queue"]), 0) + 1
    return counts


def _actor(actor: str | None) -> str:
    who = (actor or service.default_actor()).strip()
    if not 0 < len(who) <= 128:
        raise click.BadParameter("must be 1 to 128 characters", param_hint="--by")
    return who


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal; None when stderr is a file or pipe."""
    if total < 2 or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def _show_lines(document: Mapping[str, Any]) -> Iterator[str]:
    yield f"dead letter {document['id']}"
    fields = [
        (
            "queue",
            f"{document['queue'] or '(none)'} (routing key {document['routing_key']!r}, "
            f"exchange {document['exchange']!r})",
        ),
        ("reason", document["reason"]),
        (
            "error",
            ": ".join(str(v) for v in (document["error_class"], document["error_message"]) if v)
            or "-",
        ),
        ("attempts", document["attempts"]),
        ("first failed", render.instant(document["first_failed_at"])),
        ("last failed", render.instant(document["last_failed_at"])),
        ("parked", render.instant(document["parked_at"])),
        ("message id", document["message_id"] or "-"),
        ("account", document["account_id"] or "-"),
        ("trace id", document["trace_id"] or "-"),
        (
            "replayed",
            f"{document['replay_count']}x, last {render.instant(document['last_replayed_at'])}"
            if document["replay_count"]
            else "never",
        ),
    ]
    for name, value in fields:
        yield f"  {name + ':':<14}{value}"
    yield "headers:"
    yield from _indented(render.to_json(document["headers"]))
    yield "body:"
    body = document["body"]
    if "json" in body:
        yield from _indented(render.to_json(body["json"]))
    elif "text" in body:
        yield from _indented(body["text"])
    else:
        yield "  (not text; base64)"
        yield from _indented(body["base64"])
    yield f"failures ({len(document['failures'])}, oldest first):"
    yield from _indented("\n".join(render.letters_table(document["failures"])))
    for death in document["broker_deaths"]:
        if isinstance(death, Mapping):
            yield (
                f"  broker: {death.get('reason')} in {death.get('queue')} "
                f"x{death.get('count')} at {death.get('time')}"
            )
    if document["history"]:
        yield "history:"
        for entry in document["history"]:
            when, action, actor = render.instant(entry["at"]), entry["action"], entry["actor"]
            yield f"  {when}  {action} by {actor} (run {entry['run_id']})"


def _indented(text: str) -> Iterator[str]:
    for line in text.splitlines():
        yield f"  {line}"
