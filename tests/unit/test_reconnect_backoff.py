"""The reconnect schedule on a simulated clock: patient when idle, prompt while publishes wait."""

from __future__ import annotations

import threading

import pytest

from adapters.broker.backoff import (
    MAX_DELAY_WHILE_WANTED,
    RECONNECT_DELAYS,
    ReconnectBackoff,
    reconnect_delay,
)


class SimulatedTime(threading.Event):
    """A clock and the backoff's wake-up signal: waiting advances the clock, and publishes
    planned at given instants call ``want()`` when the clock reaches them."""

    def __init__(self, publishes_at: tuple[float, ...] = ()) -> None:
        super().__init__()
        self.now = 0.0
        self.publishes_at = sorted(publishes_at)
        self.backoff = ReconnectBackoff(clock=lambda: self.now, signal=self)

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None, "the backoff never waits without a bound"
        if self.is_set():
            return True
        if self.publishes_at and self.publishes_at[0] <= self.now + timeout:
            self.now = max(self.now, self.publishes_at.pop(0))
            self.backoff.want()
            return True
        self.now += timeout
        return False

    def attempts(self, count: int) -> list[float]:
        """The instants of ``count`` failed attempts after a first one at 0."""
        instants = []
        for _ in range(count):
            self.backoff.attempt_starts()
            self.backoff.pause()
            instants.append(round(self.now, 3))
        return instants


def test_with_nobody_publishing_the_pauses_grow_to_five_seconds() -> None:
    time = SimulatedTime()

    assert time.attempts(7) == [0.1, 0.6, 1.6, 3.6, 8.6, 13.6, 18.6]


def test_a_publish_during_a_long_pause_brings_the_attempt_to_a_second_after_the_last() -> None:
    # Given six failures (the pause is now 5 s) and a publish 0.3 s into that pause
    time = SimulatedTime(publishes_at=(13.6 + 0.3,))
    time.attempts(6)

    # Then the next attempt comes a second after the last one, not five
    assert time.attempts(1) == [14.6]


def test_a_publish_late_in_a_pause_brings_the_attempt_at_once() -> None:
    time = SimulatedTime(publishes_at=(13.6 + 3.0,))
    time.attempts(6)

    assert time.attempts(1) == [16.6]


def test_while_publishes_keep_failing_attempts_come_every_second_at_most() -> None:
    # Given a long outage during which a request publishes (and fails) every 0.25 s
    time = SimulatedTime(publishes_at=tuple(n * 0.25 for n in range(1, 200)))

    instants = time.attempts(30)

    gaps = [b - a for a, b in zip([0.0, *instants], instants, strict=False)]
    assert round(max(gaps), 6) <= MAX_DELAY_WHILE_WANTED
    assert time.backoff.failures == 30


def test_stop_ends_a_pause_at_once() -> None:
    time = SimulatedTime()
    time.attempts(6)
    time.backoff.stop()

    assert time.attempts(1) == [13.6]  # where the sixth attempt left the clock


@pytest.mark.parametrize("failures", range(len(RECONNECT_DELAYS) + 3))
def test_the_schedule_is_capped_only_while_wanted(failures: int) -> None:
    idle = reconnect_delay(failures, wanted=False)

    assert reconnect_delay(failures, wanted=True) == min(idle, MAX_DELAY_WHILE_WANTED)
    assert idle == RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
