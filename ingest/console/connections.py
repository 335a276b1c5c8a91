"""Connections of every account: status, last error, last sync, lag; "sync now"; and for one
user, what the last sync made of an event (R36), as ``calsync explain`` answers it."""

from __future__ import annotations

from flask import Response, request

from adapters.sql.connection_list import ConnectionFilter
from adapters.sql.explanations import NoSuchUser
from domain.explanations import Explanation
from ingest.connection_ports import PROVIDERS
from ingest.console import web
from ingest.console.overview import STATUSES

PATH = "/console/connections"
#: Connections a page lists.
LIST_LIMIT = 200


@web.bp.get("/connections")
def connections() -> Response:
    status = _choice("status", STATUSES)
    provider = _choice("provider", PROVIDERS)
    account = request.args.get("account", "").strip()[:64] or None
    listed = web.ports().connections.find(
        ConnectionFilter(status=status, provider=provider, limit=LIST_LIMIT), account
    )
    explanation, explain_error = _explanation()
    return web.page(
        "connections.html",
        rows=listed,
        statuses=STATUSES,
        providers=PROVIDERS,
        fields={"status": status or "", "provider": provider or "", "account": account or ""},
        limit=LIST_LIMIT,
        explain=_explain_fields(),
        explanation=explanation,
        explain_error=explain_error,
    )


@web.bp.post("/connections/<connection_id>/sync")
def sync_now(connection_id: str) -> Response:
    why_not = web.ports().connections.sync_now(connection_id[:64])
    said = "sync queued" if why_not is None else f"sync not queued: {why_not}"
    fields = {name: request.form.get(name, "") for name in ("status", "provider", "account")}
    return web.back_to(PATH, f"{said} (connection {connection_id[:64]})", **fields)


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name) or None
    return value if value in allowed else None


def _explain_fields() -> dict[str, str]:
    return {
        name: request.args.get(name, "").strip()[:1024]
        for name in ("explain_account", "explain_user", "event")
    }


def _explanation() -> tuple[Explanation | None, str | None]:
    asked = _explain_fields()
    if not all(asked.values()):
        return None, None
    account, user, event = asked["explain_account"], asked["explain_user"], asked["event"]
    try:
        found = web.ports().connections.explain(account, user, event)
    except NoSuchUser:
        return None, f"account {account!r} has no user {user!r}"
    if found is None:
        return None, f"no sync of {user!r}'s calendar has seen event {event!r}"
    return found, None
