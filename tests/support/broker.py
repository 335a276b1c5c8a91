"""Reading what reached a queue, without redeclaring it (our queues carry arguments)."""

from __future__ import annotations

from typing import Any

from kombu import Connection, Queue

from adapters.broker.envelope import Envelope


def drain(url: str, queue: str, *, wait: float = 0.5) -> list[tuple[dict[str, Any], Envelope]]:
    """Take every message out of ``queue``: its AMQP properties and its envelope."""
    messages = []
    with Connection(url) as connection:
        simple = connection.SimpleQueue(Queue(queue, no_declare=True), no_ack=True)
        try:
            while True:
                try:
                    message = simple.get(timeout=wait)
                except simple.Empty:
                    break
                messages.append((dict(message.properties), Envelope.from_json(message.body)))
        finally:
            simple.close()
    return messages
