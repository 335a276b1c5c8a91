"""When the publisher's I/O thread tries the broker again after a lost or refused connection.

Nobody publishing: back off up to 5 s, so a down broker is not hammered by idle processes.
Publishes waiting (each one failed for want of a connection and its sender will retry): try
at least every second, so ingest stops answering 503 within a second of the broker's return
instead of sitting out the rest of a 5 s pause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Reconnect delays after a lost or refused connection, seconds; the last one repeats.
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
#: Longest pause between attempts while publishes are waiting for the connection.
MAX_DELAY_WHILE_WANTED = 1.0


def reconnect_delay(failures: int, *, wanted: bool) -> float:
    """Seconds to wait after ``failures`` failed attempts in a row."""
    delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
    return min(delay, MAX_DELAY_WHILE_WANTED) if wanted else delay


class ReconnectBackoff:
    """The I/O thread pauses here between attempts; request threads cut the pause short."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        signal: threading.Event | None = None,
    ) -> None:
        self._clock = clock
        self._signal = signal or threading.Event()  # set on every want() and stop()
        self._wanted = False
        self._stopped = False
        self.failures = 0

    @property
    def wanted(self) -> bool:
        return self._wanted

    def want(self) -> None:
        """A publish found no connection: the next attempt may wait at most a second."""
        self._wanted = True
        self._signal.set()

    def stop(self) -> None:
        """End any pause now (the publisher is closing)."""
        self._stopped = True
        self._signal.set()

    def attempt_starts(self) -> None:
        # Publishes that failed before this attempt are answered by it; only those failing
        # during or after it keep the next pause short.
        self._wanted = False

    def connected(self) -> None:
        self.failures = 0

    def pause(self) -> None:
        """Wait out the delay for the failures so far; shorter as soon as a publish wants in."""
        failures, started = self.failures, self._clock()
        self.failures += 1
        while not self._stopped:
            # Clear before reading the flags: a want() after the clear wakes the wait below.
            self._signal.clear()
            remaining = started + reconnect_delay(failures, wanted=self._wanted) - self._clock()
            if remaining <= 0 or self._stopped:
                return
            self._signal.wait(remaining)
