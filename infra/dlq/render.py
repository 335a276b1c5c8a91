"""How ``calsync dlq`` shows dead letters: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.redaction import redact_text, redact_value
from adapters.sql.dead_letters import QueueStats

#: Columns of ``dlq list`` (and of the dry runs' plans): title, row key.
LIST_COLUMNS = (
    ("ID", "id"),
    ("LAST FAILURE", "last_failed_at"),
    ("QUEUE", "queue"),
    ("REASON", "reason"),
    ("ATTEMPTS", "attempts"),
    ("ACCOUNT", "account_id"),
    ("REPLAYED", "replay_count"),
    # Last: the message makes it the widest, and the class alone does not say what failed.
    ("ERROR", "error_class"),
)
#: Characters of an error message a table row shows (``dlq show`` has all of it).
ERROR_MESSAGE_WIDTH = 80
_RIGHT_ALIGNED = {"ID", "ATTEMPTS", "DEAD", "PENDING"}


def instant(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def age(value: datetime, now: datetime) -> str:
    seconds = max(0, int((now - value).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


def table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headings)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if heading in _RIGHT_ALIGNED else cell.ljust(width)
            for heading, cell, width in zip(headings, cells, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(headings), *(line(row) for row in rows)]


def letter_cells(row: Mapping[str, Any]) -> list[str]:
    cells = []
    for _title, key in LIST_COLUMNS:
        value = row.get(key)
        if key == "last_failed_at":
            cells.append(instant(value))
        elif key == "replay_count":
            cells.append(f"{value}x" if value else "-")
        elif key == "error_class":
            cells.append(error_cell(value, row.get("error_message")))
        else:
            cells.append("-" if value in (None, "") else str(value))
    return cells


def error_cell(error_class: str | None, message: str | None) -> str:
    """``class: message`` on one line, the message redacted and cut to a table's width."""
    lines = redact_text(message or "").strip().splitlines()
    reason = lines[0].strip() if lines else ""
    if len(reason) > ERROR_MESSAGE_WIDTH:
        reason = reason[: ERROR_MESSAGE_WIDTH - 1] + "…"
    if not error_class:
        return reason or "-"
    return f"{error_class}: {reason}" if reason else error_class


def letters_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return table([title for title, _key in LIST_COLUMNS], [letter_cells(r) for r in rows])


def stats_table(stats: Sequence[QueueStats], now: datetime) -> list[str]:
    rows = [
        [
            s.queue or "(none)",
            str(s.count),
            str(s.pending),
            f"{instant(s.oldest_failure)} ({age(s.oldest_failure, now)} ago)",
            ", ".join(
                f"{r.reason}"
                + (f" ({_short(r.error_class)})" if r.error_class else "")
                + f" {r.count}"
                for r in s.top_reasons
            ),
        ]
        for s in stats
    ]
    return table(["QUEUE", "DEAD", "PENDING", "OLDEST FAILURE", "TOP REASONS"], rows)


def stats_json(stats: Sequence[QueueStats]) -> list[dict[str, Any]]:
    return [
        {
            "queue": s.queue,
            "count": s.count,
            "pending": s.pending,
            "replayed": s.count - s.pending,
            "oldest_failure": s.oldest_failure,
            "newest_failure": s.newest_failure,
            "top_reasons": [
                {"reason": r.reason, "error_class": r.error_class, "count": r.count}
                for r in s.top_reasons
            ],
        }
        for s in stats
    ]


def per_queue(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{queue or 'no queue'} {n}" for queue, n in sorted(counts.items()))


def plural(n: int, word: str = "dead letter") -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def body_view(body: bytes) -> dict[str, Any]:
    """The body for people: JSON (secrets redacted), text, or base64 when it is neither."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode()}
    try:
        return {"json": redact_value("body", json.loads(text))}
    except ValueError:
        return {"text": redact_text(text)}


def headers_view(headers: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): redact_value(str(k), v) for k, v in headers.items()}


def to_json(value: Any) -> str:
    text = json.dumps(value, indent=2, default=_json_default, ensure_ascii=False)
    # A parked body may hold a lone surrogate, which no output encoding takes: escape it.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _short(error_class: str) -> str:
    return error_class.rsplit(".", 1)[-1]
