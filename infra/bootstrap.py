"""Composition root: the one place that picks concrete adapters and wires them together."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sqlalchemy as sa
from flask import Flask
from kombu import Connection

from adapters.broker.declare import declare_topology
from adapters.broker.factory import publisher_for
from adapters.broker.publisher import Publisher
from adapters.crypto import TokenCipher
from adapters.sql.accounts import SqlAccounts
from adapters.sql.appointments import SqlAppointments
from adapters.sql.channels import SqlChannels
from adapters.sql.connections import SqlConnections
from adapters.sql.directory import SqlDirectory
from infra import db
from infra.settings import Settings
from ingest import create_app
from ingest.channel_cache import CachedChannels
from ingest.ports import IngestPorts

#: Seconds a readiness probe may wait for the broker before calling it unavailable.
BROKER_PROBE_TIMEOUT = 2.0


@dataclass
class Container:
    """Long-lived objects of one process, built lazily so nothing connects until used."""

    settings: Settings

    @cached_property
    def engine(self) -> sa.Engine:
        return db.create_engine(self.settings.database_url)

    @cached_property
    def accounts(self) -> SqlAccounts:
        return SqlAccounts(self.engine)

    @cached_property
    def directory(self) -> SqlDirectory:
        return SqlDirectory(self.engine)

    @cached_property
    def appointments(self) -> SqlAppointments:
        return SqlAppointments(self.engine)

    @cached_property
    def channels(self) -> SqlChannels:
        return SqlChannels(self.engine)

    @cached_property
    def cipher(self) -> TokenCipher:
        return TokenCipher(self.settings.secret_key)

    @cached_property
    def connections(self) -> SqlConnections:
        return SqlConnections(self.engine, self.cipher)

    @cached_property
    def publisher(self) -> Publisher:
        return publisher_for(self.settings.broker_url)

    def declare_broker(self) -> list[str]:
        """Declare every exchange and queue of the topology (idempotent)."""
        with Connection(self.settings.broker_url, connect_timeout=BROKER_PROBE_TIMEOUT) as conn:
            return declare_topology(conn)

    def probe_database(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def probe_broker(self) -> None:
        with Connection(self.settings.broker_url, connect_timeout=BROKER_PROBE_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_PROBE_TIMEOUT)

    def ingest_ports(self) -> IngestPorts:
        return IngestPorts(
            accounts=self.accounts,
            appointments=self.appointments,
            publisher=self.publisher,
            channels=CachedChannels(self.channels),
            crm_signing_secret=self.settings.crm_signing_secret,
            readiness={"database": self.probe_database, "broker": self.probe_broker},
        )

    def http_app(self) -> Flask:
        return create_app(self.ingest_ports())

    def close(self) -> None:
        if "publisher" in self.__dict__:
            self.publisher.close()
        if "engine" in self.__dict__:
            self.engine.dispose()
