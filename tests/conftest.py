"""Shared fixtures: stores on SQLite and PostgreSQL, and the CI rule for unreachable servers.

Integration tests talk to real servers. Locally they skip, loudly, when a server is not
reachable; under ``CI=true`` they fail instead, so a green CI run always means they ran.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from kombu import Connection
from kombu.exceptions import OperationalError

from adapters.broker.declare import declare_topology
from adapters.sql.tables import metadata
from infra import db
from tests.support.rabbitmq import create_vhost, delete_vhost

IN_CI = os.environ.get("CI", "").lower() == "true"
AMQP_URL = os.environ.get("CALSYNC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES_ADMIN_URL = os.environ.get(
    "CALSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def unreachable(what: str, error: BaseException) -> None:
    """Skip locally, fail under CI, always saying why."""
    message = f"{what} is unreachable ({type(error).__name__}: {error})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(f"SKIPPED LOUDLY: {message}; start it to run these tests")


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[sa.Engine]:
    """A fresh, migrated PostgreSQL database for this test session, dropped afterwards."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"calsync_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        unreachable("PostgreSQL", exc)
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name)
    engine = db.create_engine(url.render_as_string(hide_password=False))
    try:
        db.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    path = tmp_path_factory.mktemp("store") / "calsync.sqlite3"
    engine = db.create_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """A migrated, empty store; every store test runs once on SQLite and once on PostgreSQL."""
    engine: sa.Engine = request.getfixturevalue(
        "postgres_engine" if request.param == "postgresql" else "sqlite_engine"
    )
    yield engine
    empty_store(engine)


def empty_store(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> Iterator[str]:
    """URL of a RabbitMQ vhost made for this session, with the topology declared."""
    try:
        url = create_vhost(AMQP_URL)
        with Connection(url, connect_timeout=5) as connection:
            declare_topology(connection)
    except (OSError, ConnectionError, OperationalError) as exc:
        unreachable("RabbitMQ", exc)
    yield url
    delete_vhost(url)


@pytest.fixture
def broker_url(rabbitmq_vhost: str) -> Iterator[str]:
    """The session's vhost, every queue emptied after the test."""
    yield rabbitmq_vhost
    with Connection(rabbitmq_vhost) as connection:
        for queue in queue_names(connection):
            connection.default_channel.queue_purge(queue)


def queue_names(connection: Connection) -> list[str]:
    from adapters.broker.declare import topology_queues

    return [queue.name for queue in topology_queues(connection)]


def queue_depth(url: str, queue: str) -> int:
    """Messages ready in ``queue`` (a passive declare: the queue must exist)."""
    with Connection(url) as connection:
        _name, count, _consumers = connection.default_channel.queue_declare(queue, passive=True)
        return int(count)
