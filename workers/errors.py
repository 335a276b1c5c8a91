"""How a handler says a message failed, and what the worker does about it.

A handler raises :class:`Retriable` for a failure that may pass (a provider's 429 or 5xx, a
lost database connection) and :class:`Permanent` for one that never will (a payload the
domain refuses). Data the store refuses (a NUL on PostgreSQL, text that cannot be encoded)
is permanent too (``workers.base.is_permanent``). Any other exception is a bug or an
unforeseen outage; it is retried like :class:`Retriable`, so a deploy that fixes it still
gets the message.
"""

from __future__ import annotations


class HandlerError(Exception):
    """Base of the failures a handler raises on purpose; ``reason`` is shown to on-call."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Retriable(HandlerError):
    """Try again later (through a retry queue), until the attempts run out."""


class Permanent(HandlerError):
    """Never try again: the message goes to the dead-letter queue at once."""


class RepublishFailed(Exception):
    """The broker did not confirm a retry or dead-letter copy; the original stays unacked."""
