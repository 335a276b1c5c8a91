"""An in-memory ``CalendarSource`` for tests of the code above the port (no HTTP, no threads).

It keeps the providers' contract: a full sync lists the live events overlapping the window,
a cursor returns every change after it (deletions as cancelled events), pages are stable
within a run, and the cursor comes on the last page only. Tests arrange failures with
``fail_next`` and cursor expiry with ``expire_cursors``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from adapters.calendar.errors import CalendarSourceError, CursorExpired
from adapters.calendar.source import ChangePage, Credentials
from domain.eligibility import SyncWindow, overlaps_window
from domain.model import ProviderEvent


@dataclass(frozen=True)
class _Position:
    """Where a run stands: since which change, up to which, and how far through."""

    epoch: int
    since: int | None
    until: int
    offset: int = 0

    def encode(self) -> str:
        since = "-" if self.since is None else str(self.since)
        return f"fake:{self.epoch}:{since}:{self.until}:{self.offset}"

    @classmethod
    def decode(cls, text: str) -> _Position:
        _, epoch, since, until, offset = text.split(":")
        return cls(int(epoch), None if since == "-" else int(since), int(until), int(offset))


class FakeCalendarSource:
    """Calendars in memory, keyed by ``Credentials.user``.

    Args:
        page_size: events per page.
    """

    def __init__(self, page_size: int = 100) -> None:
        self._page_size = page_size
        self._lock = threading.Lock()
        self._changes: dict[str, dict[str, tuple[int, ProviderEvent]]] = {}
        self._epochs: dict[str, int] = {}
        self._errors: list[CalendarSourceError] = []
        self._seq = 0

    def put(self, user: str, event: ProviderEvent) -> None:
        """Create or change (or, with ``status="cancelled"``, delete) an event of ``user``."""
        with self._lock:
            self._seq += 1
            self._changes.setdefault(user, {})[event.event_id] = (self._seq, event)

    def expire_cursors(self, user: str) -> None:
        """Make every cursor and page of ``user`` answer ``CursorExpired``."""
        with self._lock:
            self._epochs[user] = self._epochs.get(user, 0) + 1

    def fail_next(self, error: CalendarSourceError) -> None:
        """Raise ``error`` from the next call (queued in order)."""
        with self._lock:
            self._errors.append(error)

    def changes(
        self,
        credentials: Credentials,
        *,
        cursor: str | None,
        page: str | None,
        window: SyncWindow,
    ) -> ChangePage:
        """One page of changes, as ``CalendarSource.changes`` describes.

        Raises:
            CalendarSourceError: one queued by ``fail_next``, or ``CursorExpired``.
        """
        user = credentials.user
        with self._lock:
            if self._errors:
                raise self._errors.pop(0)
            position = self._position(user, cursor, page)
            selected = self._select(user, position, window)
        start, end = position.offset, position.offset + self._page_size
        if end < len(selected):
            next_page = replace(position, offset=end).encode()
            return ChangePage(tuple(selected[start:end]), next_page, None)
        sync_cursor = _Position(position.epoch, position.until, position.until).encode()
        return ChangePage(tuple(selected[start:end]), None, sync_cursor)

    def close(self) -> None:
        """Nothing to release."""

    def _position(self, user: str, cursor: str | None, page: str | None) -> _Position:
        epoch = self._epochs.get(user, 0)
        if page or cursor:
            position = _Position.decode(page or cursor or "")
            if position.epoch != epoch:
                raise CursorExpired(f"fake cursor of {user} expired")
            if page:
                return position
            return _Position(epoch, position.until, self._seq)
        return _Position(epoch, None, self._seq)

    def _select(self, user: str, position: _Position, window: SyncWindow) -> list[ProviderEvent]:
        changes = sorted(self._changes.get(user, {}).values(), key=lambda change: change[0])
        if position.since is None:
            return [
                event
                for seq, event in changes
                if seq <= position.until
                and not event.is_cancelled
                and event.timing is not None
                and overlaps_window(event.timing, window)
            ]
        return [event for seq, event in changes if position.since < seq <= position.until]
