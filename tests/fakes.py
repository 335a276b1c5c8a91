"""Test doubles that implement our ports (no mocks of our own modules)."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.broker.envelope import Envelope
from adapters.broker.publisher import PublishFailed


@dataclass
class RecordingPublisher:
    """A :class:`~adapters.broker.publisher.Publisher` that remembers what it was given.

    Every envelope goes through ``to_json``/``from_json`` like on a real broker, so a
    payload that is not JSON-safe fails here too. Set ``fail`` to make every publish raise
    :class:`PublishFailed` (a broker that is down or too slow to confirm).
    """

    fail: bool = False
    published: list[tuple[str, Envelope]] = field(default_factory=list)
    #: The ``timeout`` of each publish call, in order, failed calls included.
    timeouts: list[float | None] = field(default_factory=list)
    closed: bool = False

    def publish(self, envelope: Envelope, queue: str, *, timeout: float | None = None) -> None:
        self.timeouts.append(timeout)
        if self.fail:
            raise PublishFailed(f"fake broker refuses {envelope.type} to {queue}")
        self.published.append((queue, Envelope.from_json(envelope.to_json())))

    def close(self) -> None:
        self.closed = True

    def envelopes(self, queue: str | None = None) -> list[Envelope]:
        """What reached ``queue`` (every queue when None), in publishing order."""
        return [envelope for name, envelope in self.published if queue in (None, name)]

    def clear(self) -> None:
        self.published.clear()
        self.timeouts.clear()


class FailingPublisher(RecordingPublisher):
    """A publisher whose broker never confirms anything."""

    def __init__(self) -> None:
        super().__init__(fail=True)
