"""Choosing a provider's adapter for each calendar port; the client libraries load on demand.

The ports (``source``, ``writes``, ``availability``, ``rooms``, ``push``) say what every
provider offers and import no adapter; the adapters import the ports. Only this module
imports both, each adapter inside the function that makes it, so importing
``adapters.calendar`` loads neither google-api-python-client nor msgraph-sdk.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from adapters.calendar.availability import BusyTimes
from adapters.calendar.push import PushChannels
from adapters.calendar.reads import ByProvider
from adapters.calendar.rooms import RoomList
from adapters.calendar.source import CalendarSource
from adapters.calendar.writes import CalendarWriter
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
        from adapters.calendar.google.source import GoogleCalendarSource  # noqa: PLC0415

        return GoogleCalendarSource(**options)
    from adapters.calendar.graph.source import GraphCalendarSource  # noqa: PLC0415

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


def writer_for(provider: Provider | str, **options: Any) -> CalendarWriter:
    """A new calendar writer for ``provider`` (``retry``... as its constructor takes).

    Raises:
        ValueError: an unknown provider.
    """
    if Provider(provider) is Provider.GOOGLE:
        from adapters.calendar.google.write import GoogleCalendarWriter  # noqa: PLC0415

        return GoogleCalendarWriter(**options)
    from adapters.calendar.graph.write import GraphCalendarWriter  # noqa: PLC0415

    return GraphCalendarWriter(**options)


class CalendarWriters(ByProvider[CalendarWriter]):
    """One long-lived writer per provider, made on first use (writers cache per-user clients)."""

    def __init__(self, options: dict[Provider, dict[str, Any]] | None = None) -> None:
        super().__init__(writer_for, options)


def busy_times_for(provider: Provider | str, **options: Any) -> BusyTimes:
    """New busy-time reader for ``provider`` (``retry``, ``timeout``... as the sources take).

    Raises:
        ValueError: an unknown provider.
    """
    if Provider(provider) is Provider.GOOGLE:
        from adapters.calendar.google.availability import GoogleBusyTimes  # noqa: PLC0415

        return GoogleBusyTimes(**options)
    from adapters.calendar.graph.availability import GraphBusyTimes  # noqa: PLC0415

    return GraphBusyTimes(**options)


class CalendarBusyTimes(ByProvider[BusyTimes]):
    """One long-lived ``BusyTimes`` per provider, made on first use."""

    def __init__(self, options: dict[Provider, dict[str, Any]] | None = None) -> None:
        super().__init__(busy_times_for, options)


def room_list_for(provider: Provider | str, **options: Any) -> RoomList:
    """New room list for ``provider`` (``page_size``, ``retry``... as the adapters take).

    Raises:
        ValueError: an unknown provider.
    """
    if Provider(provider) is Provider.GOOGLE:
        from adapters.calendar.google.rooms import GoogleRooms  # noqa: PLC0415

        return GoogleRooms(**options)
    from adapters.calendar.graph.rooms import GraphRooms  # noqa: PLC0415

    return GraphRooms(**options)


class CalendarRooms(ByProvider[RoomList]):
    """One long-lived ``RoomList`` per provider, made on first use."""

    def __init__(self, options: dict[Provider, dict[str, Any]] | None = None) -> None:
        super().__init__(room_list_for, options)


def push_channels_for(provider: Provider | str, **options: Any) -> PushChannels:
    """New push channels for ``provider`` (``retry``, ``timeout``... as the sources take).

    Raises:
        ValueError: an unknown provider.
    """
    if Provider(provider) is Provider.GOOGLE:
        from adapters.calendar.google.push import GooglePushChannels  # noqa: PLC0415

        return GooglePushChannels(**options)
    from adapters.calendar.graph.push import GraphPushChannels  # noqa: PLC0415

    return GraphPushChannels(**options)


class PushChannelSet:
    """One long-lived push-channel adapter per provider, made on first use.

    Callable, so it can be passed where a ``provider -> PushChannels`` function is wanted.
    """

    def __init__(self) -> None:
        self._adapters: dict[Provider, PushChannels] = {}
        self._lock = threading.Lock()

    def __call__(self, provider: Provider | str) -> PushChannels:
        key = Provider(provider)
        with self._lock:
            if key not in self._adapters:
                self._adapters[key] = push_channels_for(key)
            return self._adapters[key]

    def shutdown(self) -> None:
        """Shut down every adapter made so far."""
        with self._lock:
            adapters, self._adapters = list(self._adapters.values()), {}
        for adapter in adapters:
            adapter.shutdown()
