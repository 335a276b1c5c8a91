"""Messages and consumers per queue, without the management plugin: a passive declare.

A passive ``queue_declare`` answers the queue's ready messages and consumers on RabbitMQ.
kombu's embedded SQLAlchemy transport answers the message count but always 0 consumers
(it does not track them), so consumers are unknown (None) there.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from kombu import Connection
from kombu.exceptions import ChannelError

from adapters.broker.declare import topology_queues

#: Seconds the broker may take to accept the connection.
CONNECT_TIMEOUT = 2.0


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    #: Messages ready (not delivered to a consumer); None when the queue does not exist.
    messages: int | None
    #: Consumers attached; None when the queue does not exist or the broker cannot tell.
    consumers: int | None


def queue_depths(broker_url: str) -> list[QueueDepth]:
    """Every queue of the topology, in declaration order.

    Raises:
        OSError, kombu.exceptions.OperationalError: the broker is unreachable.
    """
    with Connection(broker_url, connect_timeout=CONNECT_TIMEOUT) as connection:
        connection.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
        counts_consumers = connection.transport.driver_type == "amqp"
        return [
            _depth(connection, queue.name, counts_consumers)
            for queue in topology_queues(connection)
        ]


def _depth(connection: Connection, name: str, counts_consumers: bool) -> QueueDepth:
    # A passive declare of a missing queue closes the channel on RabbitMQ: one per queue.
    channel = connection.channel()
    try:
        _name, messages, consumers = channel.queue_declare(name, passive=True)
    except ChannelError:
        return QueueDepth(name, None, None)
    finally:
        _close_quietly(channel)
    return QueueDepth(name, int(messages), int(consumers) if counts_consumers else None)


def _close_quietly(channel: object) -> None:
    with contextlib.suppress(ChannelError, OSError):  # closed already by the broker's refusal
        channel.close()  # type: ignore[attr-defined]
