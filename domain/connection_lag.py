"""How far behind a calendar connection is (R36), as the connections list shows it."""

from __future__ import annotations

from datetime import datetime

from domain.connection_state import DISCONNECTED


def lag_seconds(status: str, pending_since: datetime | None, now: datetime) -> int | None:
    """Whole seconds since the oldest sync request not yet done was received; 0 with none.

    A request stays pending while its sync fails, and while the connection needs
    reconnecting, so lag grows until a sync reads the calendar to the end. None for a
    disconnected connection: nothing is synced, so nothing can be behind.
    """
    if status == DISCONNECTED:
        return None
    if pending_since is None:
        return 0
    return max(0, int((now - pending_since).total_seconds()))
