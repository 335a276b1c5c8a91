"""A broker URL may name several nodes of one RabbitMQ cluster, separated by ';'.

``amqp://u:p@mq1:5672/calsync;amqp://u:p@mq2:5672/calsync;amqp://u:p@mq3:5672/calsync``
is kombu's failover list as it is (the consumers and copies take it unchanged); the pika
publisher reads it here, as one set of connection parameters per node, and moves to the next
node whenever the one it uses goes away.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

#: What separates the nodes of a cluster in ``CALSYNC_BROKER_URL`` (kombu's own separator).
SEPARATOR = ";"


def broker_addresses(url: str) -> list[str]:
    """The URLs of a ';'-separated list, in order, blanks dropped (one URL gives one)."""
    return [part.strip() for part in url.split(SEPARATOR) if part.strip()]


def shown(url: str) -> str:
    """Where a broker URL (or list) points, for logs: scheme, hosts and vhost, no credentials."""
    parts = []
    for address in broker_addresses(url):
        try:
            split = urlsplit(address)
            host = split.hostname or ""
            netloc = f"{host}:{split.port}" if split.port else host
        except ValueError:
            parts.append(address.split("://", 1)[0] + "://…")
            continue
        parts.append(urlunsplit((split.scheme, netloc, split.path, "", "")))
    return SEPARATOR.join(parts)
