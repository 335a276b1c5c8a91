"""Live reads for the read API (free/busy, rooms): what they share, without the client libraries.

A read answers an HTTP request while the caller waits, so it tries less hard than a sync
worker: ``INTERACTIVE_RETRY`` gives up after a second try and never waits out a long
``Retry-After`` (the caller gets 503 and the hint instead). Nothing read here is cached;
only the per-user clients are kept, as the sources keep them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from adapters.calendar.retry import RetryPolicy
from domain.model import Provider

#: Retries inside one live read: one more try, short backoff, short ``Retry-After`` only.
INTERACTIVE_RETRY = RetryPolicy(
    attempts=2, initial_backoff=0.2, max_backoff=1.0, max_retry_after=2.0
)

#: Retries kiota's own RetryHandler makes inside one live Graph read (429/503/504).
INTERACTIVE_KIOTA_RETRIES = 1

#: Seconds per HTTP request of a live read.
INTERACTIVE_TIMEOUT = 10.0


class Closeable(Protocol):
    def close(self) -> None: ...


T = TypeVar("T", bound=Closeable)


class ByProvider(Generic[T]):
    """One long-lived adapter per provider, made on first use by ``make(provider, **options)``.

    Callable, so it can be passed where a ``provider -> adapter`` function is wanted.

    Args:
        make: builds the adapter of a provider (the factory imports the client library).
        options: constructor keyword arguments per provider.
    """

    def __init__(
        self,
        make: Callable[..., T],
        options: Mapping[Provider, Mapping[str, Any]] | None = None,
    ) -> None:
        self._make = make
        self._options = dict(options or {})
        self._made: dict[Provider, T] = {}
        self._lock = threading.Lock()

    def __call__(self, provider: Provider | str) -> T:
        """The adapter of ``provider``.

        Raises:
            ValueError: an unknown provider.
        """
        key = Provider(provider)
        with self._lock:
            if key not in self._made:
                self._made[key] = self._make(key, **self._options.get(key, {}))
            return self._made[key]

    def close(self) -> None:
        """Close every adapter made so far."""
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for adapter in made:
            adapter.close()
