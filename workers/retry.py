"""Retry policy and the headers a failed message carries to its retry or dead-letter copy.

We count attempts in our own ``calsync-attempt`` header, never in ``x-death``: since
RabbitMQ 3.13/4.0 the broker ignores ``x-`` headers a client republishes (RELIABILITY.md
§1.6). For the same reason the copies we publish leave every ``x-`` header behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.broker import topology
from adapters.redaction import redact_text

#: Our attempt counter: 1 on the first delivery, +1 on every retry copy.
ATTEMPT = "calsync-attempt"
#: Epoch seconds before which a retry copy must not be handled (embedded broker only).
NOT_BEFORE = "calsync-not-before"
REASON = "calsync-reason"
ERROR_CLASS = "calsync-error-class"
ERROR_MESSAGE = "calsync-error-message"
ATTEMPTS = "calsync-attempts"
ORIGINAL_QUEUE = "calsync-original-queue"
FIRST_FAILED_AT = "calsync-first-failed-at"
LAST_FAILED_AT = "calsync-last-failed-at"

#: Values of ``calsync-reason``.
RETRIES_EXHAUSTED = "retries_exhausted"
PERMANENT = "permanent"
UNDECODABLE = "undecodable"

#: Error messages are cut to this length before they travel in a header.
MAX_ERROR_MESSAGE = 1000


@dataclass(frozen=True)
class RetryPolicy:
    """How often a retriable failure is tried, and how long to wait in between."""

    #: Attempts (the first included) before a retriable failure is dead-lettered.
    max_attempts: int = topology.MAX_ATTEMPTS
    #: Waits before attempts 2, 3, …; the last repeats. RabbitMQ needs a retry queue per delay.
    delays_seconds: tuple[int, ...] = topology.RETRY_DELAYS_SECONDS

    def delay_before(self, attempt: int) -> int:
        """Seconds to wait before ``attempt`` (2 = the first retry)."""
        return self.delays_seconds[min(attempt - 2, len(self.delays_seconds) - 1)]


def attempt_of(headers: Mapping[str, Any]) -> int:
    """The attempt this delivery is (1 when the header is missing or nonsense)."""
    value: Any = headers.get(ATTEMPT)
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def due_in(headers: Mapping[str, Any], now: float) -> float:
    """Seconds until ``calsync-not-before`` (0 or less: handle it now)."""
    try:
        return float(headers.get(NOT_BEFORE) or 0) - now
    except (TypeError, ValueError):
        return 0.0


def forwarded(headers: Mapping[str, Any]) -> dict[str, Any]:
    """The headers a copy keeps: ours and the publisher's, never the broker's ``x-`` ones."""
    return {k: v for k, v in headers.items() if not k.lower().startswith("x-")}


def retry_headers(
    headers: Mapping[str, Any], *, attempt: int, error: BaseException, now: datetime
) -> dict[str, Any]:
    """Headers of the copy that will be attempt ``attempt + 1``."""
    result = {**forwarded(headers), **failure_headers(headers, error, now), ATTEMPT: attempt + 1}
    result.pop(NOT_BEFORE, None)
    return result


def dead_letter_headers(
    headers: Mapping[str, Any],
    *,
    reason: str,
    error: BaseException,
    attempts: int,
    queue: str,
    now: datetime,
) -> dict[str, Any]:
    """Headers of the copy parked in the dead-letter queue: why, when, from where."""
    result = {**forwarded(headers), **failure_headers(headers, error, now)}
    result.pop(NOT_BEFORE, None)
    result.update({REASON: reason, ATTEMPTS: attempts, ORIGINAL_QUEUE: queue})
    return result


def failure_headers(
    headers: Mapping[str, Any], error: BaseException, now: datetime
) -> dict[str, Any]:
    stamp = now.astimezone(UTC).isoformat()
    return {
        ERROR_CLASS: error_class(error),
        ERROR_MESSAGE: error_message(error),
        FIRST_FAILED_AT: headers.get(FIRST_FAILED_AT) or stamp,
        LAST_FAILED_AT: stamp,
    }


def error_class(error: BaseException) -> str:
    cls = type(error)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def error_message(error: BaseException) -> str:
    """The error's text with secrets redacted, cut to ``MAX_ERROR_MESSAGE`` characters."""
    return redact_text(str(error))[:MAX_ERROR_MESSAGE]
