"""``calsync explain --account A --user U EVENT_ID``: synced, or which rule kept the event
out, as of the last sync that saw it (R36); the read API's answer on the command line."""

from __future__ import annotations

import json

import click

from adapters.sql.explanations import NoSuchUser, SqlExplanations
from domain.explanations import Explanation
from infra.bootstrap import Container
from ingest.explanations import explanation_json


class ExplainFailed(click.ClickException):
    """A failure the command reports: exit status 1, one line on stderr."""

    exit_code = 1


@click.command()
@click.option("--account", "account_id", required=True, help="CRM account id.")
@click.option("--user", "user_id", required=True, help="User id in that account.")
@click.option("--json", "as_json", is_flag=True, help="Print the read API's JSON object.")
@click.argument("event_id")
@click.pass_obj
def explain(
    container: Container, account_id: str, user_id: str, event_id: str, as_json: bool
) -> None:
    """Whether EVENT_ID of the user's calendar is synced, or which rule kept it out."""
    try:
        found = SqlExplanations(container.engine).explain(account_id, user_id, event_id)
    except NoSuchUser:
        raise ExplainFailed(f"no user {user_id!r} in account {account_id!r}") from None
    if found is None:
        raise ExplainFailed(f"no sync of user {user_id!r}'s calendar has seen event {event_id!r}")
    click.echo(json.dumps(explanation_json(found)) if as_json else describe(found))


def describe(explanation: Explanation) -> str:
    """One line: ``synced, appointment X`` or ``kept out by R7: …``, and when it was seen."""
    if explanation.synced or explanation.appointment_id is not None:
        what = explanation.reason
    elif explanation.rule is not None:
        what = f"kept out by {explanation.rule}: {explanation.reason}"
    else:
        what = f"kept out: {explanation.reason}"
    return f"{explanation.event_id}: {what} (as of {explanation.seen_at.isoformat()})"
