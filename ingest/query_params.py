"""Query parameters every read route parses the same way, and the store's 503."""

from __future__ import annotations

import re

import sqlalchemy as sa
import structlog
from flask import request

from ingest.errors import ApiError

log = structlog.get_logger("calsync.ingest")

#: ASCII digits only: ``str.isdigit`` takes '²' and '٣', which ``int`` then refuses or reads.
WHOLE_NUMBER = re.compile(r"[0-9]{1,12}")
#: Seconds a client waits before asking again when the store did not answer.
STORE_RETRY_AFTER = 5


def bounded_int(name: str, default: int, low: int, high: int) -> int:
    """Query parameter ``name`` as a whole number in ``[low, high]``; ``default`` if absent."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not WHOLE_NUMBER.fullmatch(raw) or not low <= int(raw) <= high:
        raise ApiError(
            400,
            "invalid_parameter",
            f"'{name}' must be a whole number from {low} to {high}, got {raw!r}",
        )
    return int(raw)


def store_unavailable(error: sa.exc.OperationalError) -> ApiError:
    """The 503 for a store that did not answer (logged without the statement)."""
    log.warning("store unavailable", error=type(error).__name__)
    return ApiError(
        503,
        "store_unavailable",
        "the store did not answer; retry",
        headers={"Retry-After": str(STORE_RETRY_AFTER)},
    )
