"""``calendarView/delta``: a windowed full sync, then changes and ``@removed`` entries.

Tokens are opaque keys into ``GraphState.cursors``. A ``$skiptoken`` holds the entries
still to return in this round; a ``$deltatoken`` holds the change number and window the
next round starts from.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from infra.sandbox import graph_events, graph_instances, graph_times
from infra.sandbox.errors import ApiError
from infra.sandbox.graph_state import DeltaCursor, GraphState, Mailbox
from infra.sandbox.ids import opaque_token

#: Events per page unless ``Prefer: odata.maxpagesize`` asks otherwise.
DEFAULT_PAGE_SIZE = 10

#: Prefix of an entry key that reports a removal rather than an event.
REMOVED = "-"


def delta(
    state: GraphState,
    mailbox: Mailbox,
    args: Mapping[str, str],
    prefer: Mapping[str, str],
    link_base: str,
) -> dict[str, Any]:
    """One page of a delta round.

    Args:
        args: query parameters of this request.
        prefer: parsed ``Prefer`` header (page size, time zone).
        link_base: the URL of the delta function, for next/delta links.

    Raises:
        ApiError: 400 without a window on the first call; 410 ``syncStateNotFound`` for an
            unknown or expired token.
    """
    if "$skiptoken" in args:
        cursor = _cursor(state, mailbox, args["$skiptoken"], paging=True, link_base=link_base)
    elif "$deltatoken" in args:
        since = _cursor(state, mailbox, args["$deltatoken"], paging=False, link_base=link_base)
        cursor = _changes(state, mailbox, since)
    else:
        low_high = window(args)
        keys = [r["id"] for r in graph_instances.view(mailbox, *low_high)]
        cursor = DeltaCursor(mailbox.owner.id, mailbox.epoch, state.seq, low_high, keys)
    return _page(state, mailbox, cursor, prefer, link_base)


def window(args: Mapping[str, str]) -> tuple[datetime, datetime]:
    """The ``startDateTime``..``endDateTime`` window of a calendarView request."""
    if not args.get("startDateTime") or not args.get("endDateTime"):
        raise ApiError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
        )
    low = graph_times.parse({"dateTime": args["startDateTime"]}, "startDateTime")
    high = graph_times.parse({"dateTime": args["endDateTime"]}, "endDateTime")
    return low, high


def _cursor(
    state: GraphState, mailbox: Mailbox, token: str, *, paging: bool, link_base: str
) -> DeltaCursor:
    cursor = state.cursors.get(token)
    if (
        cursor is None
        or (cursor.keys is not None) != paging
        or cursor.mailbox_id != mailbox.owner.id
        or cursor.epoch != mailbox.epoch
    ):
        raise _sync_state_not_found(cursor, link_base)
    return cursor


def _sync_state_not_found(cursor: DeltaCursor | None, link_base: str) -> ApiError:
    headers = {}
    if cursor is not None:
        low, high = cursor.window
        query = urlencode({"startDateTime": _iso(low), "endDateTime": _iso(high)})
        headers["Location"] = f"{link_base}?{query}"
    return ApiError(
        410,
        "syncStateNotFound",
        "The sync state generation is not found. "
        "Restart the synchronization from an initial request.",
        headers=headers,
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _changes(state: GraphState, mailbox: Mailbox, since: DeltaCursor) -> DeltaCursor:
    low, high = since.window
    changed = sorted((s for s in mailbox.events.values() if s.seq > since.seq), key=lambda s: s.seq)
    keys: list[str] = []
    for stored in changed:
        resource = stored.resource
        if graph_instances.is_master(resource):
            occurrences = graph_instances.expand(mailbox, resource, low, high)
            prefix = REMOVED if stored.deleted else ""
            keys.extend(prefix + o["id"] for o in occurrences)
        elif stored.deleted or not _in_window(resource, low, high):
            keys.append(REMOVED + resource["id"])
        else:
            keys.append(resource["id"])
    return DeltaCursor(
        mailbox.owner.id, mailbox.epoch, state.seq, since.window, list(dict.fromkeys(keys))
    )


def _in_window(resource: dict[str, Any], low: datetime, high: datetime) -> bool:
    start, end = graph_events.span(resource)
    return end > low and start < high


def _page(
    state: GraphState,
    mailbox: Mailbox,
    cursor: DeltaCursor,
    prefer: Mapping[str, str],
    link_base: str,
) -> dict[str, Any]:
    keys = cursor.keys or []
    size = _page_size(prefer, cursor.page_size)
    zone = prefer.get("outlook.timezone")
    value = [_entry(mailbox, key, zone) for key in keys[:size]]
    token = opaque_token()
    page: dict[str, Any] = {"@odata.context": f"{link_base}#Collection(event)", "value": value}
    if len(keys) > size:
        state.cursors[token] = DeltaCursor(
            cursor.mailbox_id, cursor.epoch, cursor.seq, cursor.window, keys[size:], size
        )
        page["@odata.nextLink"] = f"{link_base}?$skiptoken={token}"
    else:
        state.cursors[token] = DeltaCursor(
            cursor.mailbox_id, cursor.epoch, cursor.seq, cursor.window
        )
        page["@odata.deltaLink"] = f"{link_base}?$deltatoken={token}"
    return page


def _page_size(prefer: Mapping[str, str], remembered: int | None) -> int:
    """The ``odata.maxpagesize`` asked for; a follow-up page without it keeps the round's size."""
    try:
        return max(1, int(prefer.get("odata.maxpagesize", remembered or DEFAULT_PAGE_SIZE)))
    except ValueError:
        return DEFAULT_PAGE_SIZE


def _entry(mailbox: Mailbox, key: str, zone: str | None) -> dict[str, Any]:
    if key.startswith(REMOVED):
        return graph_events.removed(key[len(REMOVED) :])
    stored = mailbox.events.get(key)
    resource = stored.resource if stored is not None and not stored.deleted else None
    if resource is None:
        resource = graph_instances.find_virtual(mailbox, key)
    if resource is None:
        return graph_events.removed(key)
    return {"@odata.type": "#microsoft.graph.event", **graph_events.render(resource, zone)}
