"""Choosing the calendar source for a provider; the heavy client libraries load on demand."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from adapters.calendar.source import CalendarSource
from domain.model import Provider


def source_for(provider: Provider | str, **options: Any) -> CalendarSource:
    """A new source for ``provider``.

    Args:
        provider: ``Provider.GOOGLE``/``"google"`` or ``Provider.MICROSOFT``/``"microsoft"``.
        options: keyword arguments of the source's constructor (``page_size``, ``retry``...).

    Returns:
        A ``GoogleCalendarSource`` or a ``GraphCalendarSource``; close it when done.

    Raises:
        ValueError: an unknown provider.
    """
    if Provider(provider) is Provider.GOOGLE:
        from adapters.calendar.google import GoogleCalendarSource  # noqa: PLC0415

        return GoogleCalendarSource(**options)
    from adapters.calendar.graph import GraphCalendarSource  # noqa: PLC0415

    return GraphCalendarSource(**options)


class CalendarSources:
    """One long-lived source per provider, made on first use (sources cache per-user clients,
    and the Graph one owns a thread, so a worker should keep them rather than make new ones).

    Callable, so it can be passed where a ``provider -> CalendarSource`` function is wanted.

    Args:
        options: constructor keyword arguments per provider.
    """

    def __init__(self, options: Mapping[Provider, Mapping[str, Any]] | None = None) -> None:
        self._options = dict(options or {})
        self._sources: dict[Provider, CalendarSource] = {}
        self._lock = threading.Lock()

    def __call__(self, provider: Provider | str) -> CalendarSource:
        """The source for ``provider``.

        Raises:
            ValueError: an unknown provider.
        """
        key = Provider(provider)
        with self._lock:
            if key not in self._sources:
                self._sources[key] = source_for(key, **self._options.get(key, {}))
            return self._sources[key]

    def close(self) -> None:
        """Close every source made so far."""
        with self._lock:
            sources, self._sources = list(self._sources.values()), {}
        for source in sources:
            source.close()
