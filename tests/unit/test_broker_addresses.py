"""A broker URL listing a cluster's nodes (';'-separated, kombu's failover list)."""

from __future__ import annotations

from adapters.broker.addresses import broker_addresses, shown
from adapters.broker.pika_publisher import connection_parameters

CLUSTER = "amqp://u:p1@mq1:5672/calsync; amqp://u:p2@mq2:5673/calsync;;amqp://u:p3@mq3/calsync"


def test_a_list_gives_each_node_in_order_blanks_dropped() -> None:
    assert broker_addresses(CLUSTER) == [
        "amqp://u:p1@mq1:5672/calsync",
        "amqp://u:p2@mq2:5673/calsync",
        "amqp://u:p3@mq3/calsync",
    ]
    assert broker_addresses("amqp://u:p@mq:5672/") == ["amqp://u:p@mq:5672/"]


def test_pika_gets_one_set_of_parameters_per_node() -> None:
    nodes = connection_parameters(CLUSTER.replace("amqp://u:p1", "pyamqp://u:p1"))
    assert [(p.host, p.port, p.virtual_host) for p in nodes] == [
        ("mq1", 5672, "calsync"),
        ("mq2", 5673, "calsync"),
        ("mq3", 5672, "calsync"),
    ]
    assert {(p.connection_attempts, p.socket_timeout) for p in nodes} == {(1, 2)}


def test_shown_names_every_node_without_credentials() -> None:
    text = shown(CLUSTER)
    assert text == "amqp://mq1:5672/calsync;amqp://mq2:5673/calsync;amqp://mq3/calsync"
    assert "p1" not in text
    assert "p2" not in text
