"""How ``calsync status`` shows its report: sections of aligned tables, or one JSON object."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime

from adapters.status_report import StatusReport
from domain.connection_state import ACTIVE, DISCONNECTED, FAILING, NEEDS_RECONNECT
from infra.dlq import render

#: Every shown status, listed even at 0 so a quiet line still says "none failing".
STATUSES = (ACTIVE, FAILING, NEEDS_RECONNECT, DISCONNECTED)


def duration(seconds: int) -> str:
    """``1d2h``, ``3h4m``, ``5m6s`` or ``7s``: two units at most, as ``dlq stats`` ages."""
    days, rest = divmod(max(0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def status_json(report: StatusReport) -> str:
    document = dataclasses.asdict(report)
    document["connections"] = {s: report.connections.get(s, 0) for s in STATUSES}
    return render.to_json(document)


def status_lines(report: StatusReport) -> Iterator[str]:
    yield f"calsync status at {render.instant(report.at)}"
    for title, lines in (
        ("Queues (ready messages, consumers)", _queues(report)),
        ("Dead letters", _dead_letters(report)),
        ("Connections", [_connections(report)]),
        ("Scheduler", _jobs(report)),
        ("Oldest change not yet synced", _oldest(report)),
    ):
        yield ""
        yield title
        yield from (f"  {line}" for line in lines)


def _queues(report: StatusReport) -> list[str]:
    if report.broker_error is not None:
        return [f"broker unavailable: {report.broker_error}"]
    rows = [
        [
            q.queue,
            "missing" if q.messages is None else str(q.messages),
            "?" if q.consumers is None else str(q.consumers),
        ]
        for q in report.queues
    ]
    lines = render.table(["QUEUE", "READY", "CONSUMERS"], rows)
    if any(q.messages is not None and q.consumers is None for q in report.queues):
        lines.append("(?: this broker does not count consumers)")
    return lines


def _dead_letters(report: StatusReport) -> list[str]:
    if not report.dead_letters:
        return ["none"]
    return render.stats_table(report.dead_letters, report.at)


def _connections(report: StatusReport) -> str:
    return ", ".join(f"{status} {report.connections.get(status, 0)}" for status in STATUSES)


def _jobs(report: StatusReport) -> list[str]:
    if not report.jobs:
        return ["no job has run yet (is calsync scheduler running?)"]
    rows = [
        [
            j.name,
            _when(j.last_started_at, report.at),
            _when(j.last_finished_at, report.at),
            render.instant(j.next_run_at),
            (j.last_error or "-").splitlines()[0] if j.last_error else "-",
        ]
        for j in report.jobs
    ]
    return render.table(["JOB", "LAST STARTED", "LAST FINISHED", "NEXT RUN", "LAST ERROR"], rows)


def _oldest(report: StatusReport) -> list[str]:
    oldest = report.oldest_unsynced
    lines = []
    for label, item in (
        ("sync request (calendar to CRM)", oldest.sync_request),
        ("outbox row not published (CRM to calendar)", oldest.outbox_row),
        ("calendar write pending", oldest.pending_write),
    ):
        shown = f"{_when(item.since, report.at)}  {item.what}" if item else "none"
        lines.append(f"{label + ':':44} {shown}")
    return lines


def _when(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    return f"{render.instant(moment)} ({render.age(moment, now)} ago)"
