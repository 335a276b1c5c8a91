"""Bounded retries inside one call: exponential backoff with jitter, or the provider's hint."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_random_exponential

T = TypeVar("T")

#: Reads the provider's ``Retry-After`` (seconds) from an error, or None.
RetryAfterOf = Callable[[BaseException], float | None]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries before it gives up with ``ProviderUnavailable``.

    Attributes:
        attempts: tries per call, the first included.
        initial_backoff: scale of the first backoff, in seconds ("full jitter": a random
            wait up to ``initial_backoff * 2**n``, at most ``max_backoff``).
        max_backoff: longest backoff between two tries.
        max_retry_after: longest ``Retry-After`` waited out inside the call; a longer hint
            ends the call at once, so the caller can reschedule instead of blocking.
    """

    attempts: int = 4
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0

    def call(
        self,
        action: Callable[[], T],
        *,
        is_transient: Callable[[BaseException], bool],
        retry_after_of: RetryAfterOf,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """Run ``action``, retrying transient failures; the last failure is re-raised.

        Args:
            action: the call to make.
            is_transient: whether a failure is worth another try.
            retry_after_of: the provider's wait hint carried by a failure, if any.
            sleep: how to wait (tests may pass a fake).
        """
        jitter = wait_random_exponential(multiplier=self.initial_backoff, max=self.max_backoff)

        def worth_retrying(error: BaseException) -> bool:
            hint = retry_after_of(error)
            return is_transient(error) and (hint is None or hint <= self.max_retry_after)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            hint = retry_after_of(error) if error is not None else None
            return hint if hint is not None else float(jitter(state))

        retrying: Retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait,
            retry=retry_if_exception(worth_retrying),
            sleep=sleep,
            reraise=True,
        )
        return retrying(action)


def parse_retry_after(value: Any, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value (delta-seconds or an HTTP date).

    Returns:
        The wait, never negative; None when the value is missing or unreadable.
    """
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
