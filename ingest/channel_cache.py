"""A read-through cache of push channels, so a notification rarely costs a database query.

Google and Graph notify the same channel over and over; its record only changes when the
channel is stopped or renewed (a renewal makes a new channel id). A stopped channel may
thus be accepted for up to ``ttl`` seconds more, which costs one harmless extra sync hint.
Unknown ids are never cached: Google may notify a channel a moment before its watch call
returns, and that must not turn into a remembered 404.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from adapters.sql.channels import ChannelRecord
from ingest.ports import ChannelLookup

#: Seconds a channel record is trusted without asking the database again.
DEFAULT_TTL = 30.0
#: Channels remembered at most (least recently used ones go first).
DEFAULT_SIZE = 10_000


class CachedChannels:
    """ChannelLookup that remembers found channels for ``ttl`` seconds."""

    def __init__(
        self,
        inner: ChannelLookup,
        *,
        ttl: float = DEFAULT_TTL,
        size: int = DEFAULT_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner, self._ttl, self._size, self._clock = inner, ttl, size, clock
        self._entries: OrderedDict[str, tuple[float, ChannelRecord]] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, channel_id: str) -> ChannelRecord | None:
        # Every Google notification comes here: the hit path takes one lock and no copies.
        now = self._clock()
        with self._lock:
            entry = self._entries.get(channel_id)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(channel_id)
                return entry[1]
        return self.find_many([channel_id]).get(channel_id)

    def find_many(self, channel_ids: Iterable[str]) -> dict[str, ChannelRecord]:
        wanted = list(dict.fromkeys(channel_ids))
        found, missing = self._cached(wanted)
        if missing:
            fresh = self._inner.find_many(missing)
            self._remember(fresh)
            found.update(fresh)
        return found

    def _cached(self, ids: list[str]) -> tuple[dict[str, ChannelRecord], list[str]]:
        now, found, missing = self._clock(), {}, []
        with self._lock:
            for channel_id in ids:
                entry = self._entries.get(channel_id)
                if entry is not None and entry[0] > now:
                    self._entries.move_to_end(channel_id)
                    found[channel_id] = entry[1]
                else:
                    missing.append(channel_id)
        return found, missing

    def _remember(self, records: dict[str, ChannelRecord]) -> None:
        expires = self._clock() + self._ttl
        with self._lock:
            for channel_id, record in records.items():
                self._entries[channel_id] = (expires, record)
                self._entries.move_to_end(channel_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
