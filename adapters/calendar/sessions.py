"""Per-user client sessions, kept across calls (building a client is the expensive part)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from adapters.calendar.source import Credentials


class Session(Protocol):
    """What the cache needs of a session: the refresh tokens it may stand for."""

    refresh_tokens: set[str]


S = TypeVar("S", bound=Session)


def session_key(credentials: Credentials) -> Hashable:
    """Sessions are per user, per endpoint and per OAuth client."""
    return (
        credentials.user,
        credentials.api_url,
        credentials.token_url,
        credentials.client_id,
    )


class SessionCache(Generic[S]):
    """The most recently used sessions, at most ``capacity``; thread-safe.

    A cached session is reused while the caller's refresh token is one the session has
    seen (the one it was built from, or one it rotated to). A refresh token it never saw
    means the user reconnected: the session is rebuilt from the new credentials.

    Args:
        build: makes a session from credentials.
        dispose: releases an evicted or replaced session.
        capacity: sessions kept.
    """

    def __init__(
        self, build: Callable[[Credentials], S], dispose: Callable[[S], None], capacity: int
    ) -> None:
        self._build = build
        self._dispose = dispose
        self._capacity = max(1, capacity)
        self._sessions: OrderedDict[Hashable, S] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, credentials: Credentials) -> S:
        """The session for ``credentials``, built if missing or stale."""
        key = session_key(credentials)
        stale: list[S] = []
        with self._lock:
            session = self._sessions.get(key)
            if session is None or credentials.refresh_token not in session.refresh_tokens:
                if session is not None:
                    stale.append(session)
                session = self._build(credentials)
                self._sessions[key] = session
            self._sessions.move_to_end(key)
            while len(self._sessions) > self._capacity:
                stale.append(self._sessions.popitem(last=False)[1])
        for old in stale:
            self._dispose(old)
        return session

    def clear(self) -> list[S]:
        """Forget every session and return them (for the caller to dispose of)."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        return sessions
