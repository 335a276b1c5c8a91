"""Dead letters: filter, read one, replay or purge one or many; always a dry run first.

A replay or purge first shows its plan (the letters, per queue, what will happen); the
plan's confirm button acts on exactly the letters it showed. Both go through what
``calsync dlq`` runs (``infra/dlq/service.py``), which writes an audit row per letter with
``console:<operator>`` as the actor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from urllib.parse import parse_qsl

from flask import Response, request

from ingest.console import letter_filters, web
from ingest.console.letter_filters import BadFilter, LetterQuery
from ingest.console.ports import ActionResult

#: Letters a list page shows.
LIST_LIMIT = 100
#: Letters one console action takes at most: a request must end well inside gunicorn's
#: 30 s (replays go at 20/s); larger runs belong to ``calsync dlq replay --all``.
ACTION_LIMIT = 200
ACTIONS = ("replay", "purge")
PATH = "/console/dead-letters"


@web.bp.get("/dead-letters")
def letters() -> Response:
    desk = web.ports().dead_letters
    try:
        query = letter_filters.read(request.args, web.ports().clock())
    except BadFilter as error:
        return web.page(
            "letters.html",
            status=400,
            error=str(error),
            fields=dict(request.args),
            rows=[],
            total=0,
            stats=desk.stats(),
            limit=LIST_LIMIT,
        )
    rows, total = desk.matching(query.filters, LIST_LIMIT)
    return web.page(
        "letters.html",
        fields=query.fields,
        rows=rows,
        total=total,
        stats=desk.stats(),
        limit=LIST_LIMIT,
        error=None,
    )


@web.bp.get("/dead-letters/<int:letter_id>")
def letter(letter_id: int) -> Response:
    document = web.ports().dead_letters.show(letter_id)
    if document is None:
        return web.refused(404, f"No dead letter {letter_id} (purged, or never parked).")
    return web.page("letter.html", letter=document)


@web.bp.post("/dead-letters/plan")
def plan() -> Response:
    """The dry run: what the action would do, and a button to do exactly that."""
    action = request.form.get("action", "")
    if action not in ACTIONS:
        return web.refused(400, "Choose replay or purge.")
    try:
        ids, query = _chosen()
    except BadFilter as error:
        return web.refused(400, str(error))
    rows = web.ports().dead_letters.selected(
        ids, query.filters if query else None, ACTION_LIMIT + 1
    )
    return web.page(
        "plan.html",
        action=action,
        rows=rows[:ACTION_LIMIT],
        more=len(rows) > ACTION_LIMIT,
        per_queue=sorted(Counter(str(r["queue"]) for r in rows[:ACTION_LIMIT]).items()),
        replayed_before=sum(1 for r in rows[:ACTION_LIMIT] if r["replay_count"]),
        no_queue=sum(1 for r in rows[:ACTION_LIMIT] if not r["queue"]),
        fields=query.fields if query else {},
        back=request.form.get("back", "")[:2000],
        limit=ACTION_LIMIT,
    )


@web.bp.post("/dead-letters/act")
def act() -> Response:
    action = request.form.get("action", "")
    try:
        ids = _ids(request.form.getlist("id"))
        query = letter_filters.read(request.form, web.ports().clock()) if _by_filter() else None
    except BadFilter as error:
        return web.refused(400, str(error))
    if action not in ACTIONS or not ids or len(ids) > ACTION_LIMIT:
        return web.refused(400, "Nothing to do: run the dry run again.")
    selection = {**query.described(), "ids": ids} if query else {"console": True, "ids": ids}
    desk, actor = web.ports().dead_letters, web.current().actor
    if action == "replay":
        pending_only = query is not None and query.filters.replayed is False
        result = desk.replay(ids, actor=actor, pending_only=pending_only, selection=selection)
    else:
        result = desk.purge(ids, actor=actor, selection=selection)
    return web.back_to(PATH, _said(action, result), **_list_fields(query, result))


def _list_fields(query: LetterQuery | None, result: ActionResult) -> dict[str, str]:
    """The list to go back to: the action's filters, the list the letter's button was on
    (``back``), or else the named letters' one queue."""
    if query is not None:
        return query.fields
    back = dict(parse_qsl(request.form.get("back", "")))
    if back:
        return {k: v for k, v in back.items() if k in letter_filters.FIELDS}
    queues = set(result.per_queue)
    return {"queue": queues.pop()} if len(queues) == 1 else {}


def _chosen() -> tuple[list[int], LetterQuery | None]:
    """Named letters, or the filters' (raises ``BadFilter``)."""
    if _by_filter():
        return [], letter_filters.read(request.form, web.ports().clock())
    ids = _ids(request.form.getlist("id"))
    if not ids:
        raise BadFilter("no dead letter named")
    return ids, None


def _by_filter() -> bool:
    return request.form.get("scope") == "filter"


def _ids(raw: Sequence[str]) -> list[int]:
    ids = []
    for value in raw:
        if not value.isascii() or not value.isdigit() or len(value) > 18:
            raise BadFilter(f"{value!r} is not a dead letter id")
        ids.append(int(value))
    return sorted(set(ids))


def _said(action: str, result: ActionResult) -> str:
    verb = "replayed" if action == "replay" else "purged"
    counts = ", ".join(
        f"{queue or 'no queue'} {n}" for queue, n in sorted(result.per_queue.items())
    )
    said = f"{verb} {result.done} dead letter{'' if result.done == 1 else 's'}"
    said += f" ({counts})" if counts else ""
    said += f"; run {result.run_id}"
    for letter_id, why in result.skipped:
        said += f"; skipped {letter_id}: {why}"
    if result.failure is not None:
        said += f"; stopped: {result.failure}"
        said += f" ({result.not_tried} not tried)" if result.not_tried else ""
    return said
