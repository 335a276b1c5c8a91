"""The publisher port: put an envelope durably on a work queue, or fail clearly."""

from __future__ import annotations

from typing import Protocol

from adapters.broker.envelope import Envelope


class PublishFailed(Exception):
    """The broker did not confirm the message: it is unreachable, refused it, or was too slow.

    The caller must not claim success (ingest answers 503 so the provider retries).
    """


class Publisher(Protocol):
    def publish(self, envelope: Envelope, queue: str, *, timeout: float | None = None) -> None:
        """Publish ``envelope`` to work queue ``queue`` and wait for the broker's confirm.

        Raises:
            PublishFailed: no confirm within ``timeout`` seconds, a nack, or unroutable.
        """
        ...

    def close(self) -> None: ...
