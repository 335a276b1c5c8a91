"""How the console's templates write instants, ages and text that may hold secrets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.redaction import redact_text
from ingest.console import charts, web


@web.bp.app_template_filter("console_instant")
def instant(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@web.bp.app_template_filter("console_ago")
def ago(value: datetime | None, now: datetime | None = None) -> str:
    """``3h4m ago``, as ``calsync status`` writes ages."""
    if value is None:
        return "-"
    reference = now or web.ports().clock()
    return f"{charts.duration(int((reference - value).total_seconds()))} ago"


@web.bp.app_template_filter("console_duration")
def duration(seconds: int | None) -> str:
    return "-" if seconds is None else charts.duration(seconds)


@web.bp.app_template_filter("console_redact")
def redact(value: Any) -> str:
    """Text from the store or a provider (errors, ids) with any secret it carries redacted,
    as the log pipeline redacts it."""
    return "-" if value in (None, "") else redact_text(str(value))
