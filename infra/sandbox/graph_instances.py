"""Occurrences of recurring Graph events, as ``calendarView`` and delta show them.

A ``seriesMaster`` is stored once; an occurrence that was changed is stored as an
``exception``, one that was deleted as a tombstone, both under the occurrence's id
(``<masterId>_<UTC start as YYYYMMDDTHHMMSSZ>``); all other occurrences are virtual.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.sandbox import graph_events, graph_times, recurrence
from infra.sandbox.graph_state import Mailbox


def is_master(resource: dict[str, Any]) -> bool:
    """Whether an event is the master of a series."""
    return resource.get("type") == "seriesMaster"


def occurrence_id(master_id: str, original_start: datetime) -> str:
    """The id of one occurrence."""
    return f"{master_id}_{original_start.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def expand(
    mailbox: Mailbox, master: dict[str, Any], low: datetime, high: datetime
) -> list[dict[str, Any]]:
    """Occurrences and exceptions of a series that overlap ``low``..``high``."""
    rule = recurrence.parse_graph(master["recurrence"])
    start, end = graph_events.span(master)
    zone_name = (master["recurrence"].get("range") or {}).get("recurrenceTimeZone") or master[
        "originalStartTimeZone"
    ]
    tz = graph_times.zone(zone_name)
    local_first = start.astimezone(tz).replace(tzinfo=None)
    local_high = high.astimezone(tz).replace(tzinfo=None)
    found = []
    for local in recurrence.occurrences(local_first, rule, local_high):
        occurrence_start = local.replace(tzinfo=tz)
        key = occurrence_id(master["id"], occurrence_start)
        stored = mailbox.events.get(key)
        if stored is not None:
            if not stored.deleted and _overlaps(stored.resource, low, high):
                found.append(stored.resource)
            continue
        if occurrence_start + (end - start) > low:
            found.append(_virtual(master, occurrence_start, occurrence_start + (end - start), key))
    return found


def _overlaps(resource: dict[str, Any], low: datetime, high: datetime) -> bool:
    start, end = graph_events.span(resource)
    return end > low and start < high


def _virtual(master: dict[str, Any], start: datetime, end: datetime, key: str) -> dict[str, Any]:
    occurrence = {k: copy.deepcopy(v) for k, v in master.items() if k != "recurrence"}
    if master.get("isAllDay"):
        zone_name = master["start"]["timeZone"]
        times = {
            "start": {"dateTime": graph_times.wall_clock(start), "timeZone": zone_name},
            "end": {"dateTime": graph_times.wall_clock(end), "timeZone": zone_name},
        }
    else:
        times = {"start": graph_times.render(start, "UTC"), "end": graph_times.render(end, "UTC")}
    occurrence.update(
        times,
        id=key,
        type="occurrence",
        seriesMasterId=master["id"],
        recurrence=None,
        originalStart=start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return occurrence


def find_virtual(mailbox: Mailbox, event_id: str) -> dict[str, Any] | None:
    """The virtual occurrence an id names, if its series produces it."""
    master_id, _, suffix = event_id.rpartition("_")
    stored = mailbox.events.get(master_id)
    if not master_id or stored is None or stored.deleted or not is_master(stored.resource):
        return None
    try:
        moment = datetime.strptime(suffix, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    for occurrence in expand(mailbox, stored.resource, moment, moment + timedelta(seconds=1)):
        if occurrence["id"] == event_id:
            return occurrence
    return None


def view(mailbox: Mailbox, low: datetime, high: datetime) -> list[dict[str, Any]]:
    """What ``calendarView`` shows for ``low``..``high``: singles, occurrences, exceptions."""
    rows = []
    for stored in mailbox.events.values():
        resource = stored.resource
        if stored.deleted or resource.get("seriesMasterId"):
            continue  # exceptions come back through their master's expansion
        if is_master(resource):
            rows.extend(expand(mailbox, resource, low, high))
        elif _overlaps(resource, low, high):
            rows.append(resource)
    return sorted(rows, key=lambda r: (graph_events.span(r)[0], r["id"]))
