"""Declare the topology of ``topology.py`` on a broker; idempotent (``calsync broker declare``)."""

from __future__ import annotations

import re

from kombu import Connection, Exchange, Queue

from adapters.broker import topology


def topology_queues(connection: Connection) -> list[Queue]:
    """Every queue, with RabbitMQ arguments only where the transport understands them."""
    amqp = connection.transport_cls in {"amqp", "pyamqp", "librabbitmq"} or (
        connection.transport.driver_type == "amqp"
    )
    dead_letters = Exchange(topology.DEAD_LETTER_EXCHANGE, type="fanout", durable=True)
    queues = [
        Queue(
            topology.DEAD_LETTER_QUEUE,
            exchange=dead_letters,
            routing_key="",
            queue_arguments=(
                topology.dead_letter_queue_arguments(broker_version(connection)) if amqp else None
            ),
        )
    ]
    for work in topology.WORK_QUEUES:
        queues.append(
            Queue(work.name, queue_arguments=topology.work_queue_arguments() if amqp else None)
        )
        if amqp:  # TTL and dead-lettering exist only on RabbitMQ (README: the embedded broker)
            queues.extend(
                Queue(
                    work.retry_queue(delay),
                    queue_arguments=topology.retry_queue_arguments(work, delay),
                )
                for delay in topology.RETRY_DELAYS_SECONDS
            )
    return queues


def broker_version(connection: Connection) -> tuple[int, ...]:
    """The RabbitMQ version the connection reports (the newest rules when it says none)."""
    properties = getattr(connection.connection, "server_properties", None) or {}
    raw = properties.get("version", "")
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    numbers = tuple(int(n) for n in re.findall(r"\d+", text)[:3])
    return numbers or topology.UNLIMITED_DELIVERY_SINCE


def declare_topology(connection: Connection) -> list[str]:
    """Declare every exchange and queue; returns the queue names, in declaration order."""
    channel = connection.default_channel
    names = []
    for queue in topology_queues(connection):
        queue.bind(channel).declare()
        names.append(queue.name)
    return names
