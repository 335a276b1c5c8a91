"""Putting a copy of a delivered message on another queue, confirmed, before the original is acked.

The envelope ``Publisher`` port (``adapters.broker.publisher``) sends new envelopes with
fixed headers. A retry or dead-letter copy must keep the original's body byte for byte
(even an undecodable one), its message id, type and headers, and add ours: hence this port.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kombu import Connection, Producer
from kombu.message import Message

from adapters.broker import topology
from workers.errors import RepublishFailed

#: Message properties a copy keeps (delivery mode is always persistent).
KEPT_PROPERTIES = ("message_id", "type", "correlation_id", "reply_to", "app_id", "timestamp")
#: Seconds a republish waits for the broker's confirm before it counts as failed.
DEFAULT_CONFIRM_TIMEOUT = 5.0


@dataclass(frozen=True)
class OutgoingMessage:
    body: bytes
    headers: dict[str, Any]
    content_type: str = "application/octet-stream"
    content_encoding: str = "binary"
    properties: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def copy_of(cls, message: Message, headers: Mapping[str, Any]) -> OutgoingMessage:
        """``message`` with ``headers`` instead of its own."""
        body = message.body
        return cls(
            body=body if isinstance(body, bytes) else str(body).encode(),
            headers=dict(headers),
            content_type=message.content_type or "application/octet-stream",
            content_encoding=message.content_encoding or "binary",
            properties={
                name: message.properties[name]
                for name in KEPT_PROPERTIES
                if message.properties.get(name) is not None
            },
        )


class Republisher(Protocol):
    def republish(self, message: OutgoingMessage, queue: str) -> None:
        """Put ``message`` on ``queue`` (default exchange) and wait until the broker has it.

        Raises:
            RepublishFailed: no confirm in time, a nack, unroutable, or no connection.
        """
        ...

    def close(self) -> None: ...


class KombuRepublisher:
    """Republisher on its own kombu connection (one per worker; not shared across threads).

    On RabbitMQ every publish is confirmed and mandatory, so a missing queue fails instead
    of vanishing. On the embedded SQL transport the publish is a committed insert, which is
    what a confirm promises.
    """

    def __init__(self, url: str, *, confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT) -> None:
        self._url = url
        self._confirm_timeout = confirm_timeout
        self._connection: Connection | None = None

    def republish(self, message: OutgoingMessage, queue: str) -> None:
        try:
            connection = self._connect()
            Producer(connection.default_channel).publish(
                message.body,
                exchange=topology.EXCHANGE,
                routing_key=queue,
                headers=message.headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                delivery_mode=2,
                mandatory=is_amqp(connection),
                timeout=self._confirm_timeout,
                confirm_timeout=self._confirm_timeout,
                **message.properties,
            )
        except Exception as exc:  # noqa: BLE001 - any failure means "not safely queued"
            # A channel that saw a return or a timeout may hold a stale confirm: start afresh.
            self.close()
            raise RepublishFailed(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.release()

    def _connect(self) -> Connection:
        if self._connection is None:
            # Bounded reconnects: kombu's defaults retry forever (RELIABILITY.md §2.1).
            options: dict[str, Any] = {"max_retries": 1, "interval_start": 0, "interval_max": 1}
            connection = Connection(
                self._url, connect_timeout=self._confirm_timeout, transport_options=options
            )
            if is_amqp(connection):  # read when the connection opens, not before
                options["confirm_publish"] = True  # kombu keeps this very dict
            self._connection = connection
        return self._connection


def is_amqp(connection: Connection) -> bool:
    """True on RabbitMQ, which has confirms, TTL queues and dead-lettering."""
    return bool(connection.transport.driver_type == "amqp")
