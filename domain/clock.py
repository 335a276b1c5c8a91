"""The one clock of the code: whatever asks "what time is it?" asks a ``Clock``.

The composition root passes ``system_clock`` to every object that reads the time, so a test
(or a simulation) can move time for a whole worker, scheduler or HTTP app by passing another.
Decisions never read the database server's ``now()``: one process, one notion of the time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: Answers the current instant as an aware UTC datetime.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)
