"""Pick the publisher for a broker URL."""

from __future__ import annotations

from adapters.broker.publisher import Publisher


def publisher_for(url: str) -> Publisher:
    """Confirmed pika publishing for RabbitMQ (``amqp://``, one node or a ';'-separated list
    of a cluster's nodes), kombu for the embedded broker."""
    if url.lstrip().startswith(("amqp://", "amqps://", "pyamqp://")):
        from adapters.broker.pika_publisher import PikaConfirmingPublisher  # noqa: PLC0415

        return PikaConfirmingPublisher(url)
    from adapters.broker.kombu_publisher import KombuPublisher  # noqa: PLC0415

    return KombuPublisher(url)
