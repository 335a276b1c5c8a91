"""What a calendar connection's state means to the people who look at it (R36)."""

from __future__ import annotations

#: Stored statuses: syncing, the grant refused (connect again), or ended by the user.
ACTIVE, NEEDS_RECONNECT, DISCONNECTED = "active", "needs_reconnect", "disconnected"
#: Shown, never stored: active, but its last sync failed and is being retried.
FAILING = "failing"


def shown_status(stored: str, last_error: str | None) -> str:
    """``failing`` for an active connection whose last sync failed; the stored status else.

    A sync that reads to the end clears ``last_error``, so a connection shows ``failing``
    exactly from its first failed sync until the next one that succeeds.
    """
    return FAILING if stored == ACTIVE and last_error else stored
