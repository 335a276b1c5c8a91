"""Composition root: the one place that picks concrete adapters and wires them together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

import sqlalchemy as sa
from flask import Flask
from kombu import Connection

from adapters.broker import topology
from adapters.broker.declare import declare_topology
from adapters.broker.factory import publisher_for
from adapters.broker.publisher import Publisher
from adapters.calendar.factory import (
    CalendarBusyTimes,
    CalendarRooms,
    CalendarSources,
    CalendarWriters,
    PushChannelSet,
)
from adapters.calendar.push import PushChannels
from adapters.calendar.source import Credentials
from adapters.calendar.stored import StoredTokens
from adapters.crypto import TokenCipher
from adapters.sql.accounts import SqlAccounts
from adapters.sql.appointments import SqlAppointments
from adapters.sql.calendar_users import SqlCalendarUsers
from adapters.sql.channels import SqlChannels
from adapters.sql.connection_list import SqlConnectionList
from adapters.sql.connections import ConnectionRecord, SqlConnections
from adapters.sql.day_history import SAMPLE_EVERY, SqlLagSamples
from adapters.sql.directory import SqlDirectory
from adapters.sql.explanations import SqlExplanations
from adapters.sql.gauges import expose_store_gauges
from adapters.sql.jobs import SqlJobs
from adapters.sql.upkeep import SqlUpkeep
from domain.clock import Clock, system_clock
from domain.model import Provider
from infra import db
from infra.browser_connect import BrowserConnect
from infra.console import console_ports
from infra.credentials import credentials_for
from infra.settings import Settings
from ingest import create_app
from ingest.calendar_reads import AccountRooms, LiveAvailability
from ingest.channel_cache import CachedChannels
from ingest.ports import IngestPorts
from workers.base import Handler, Worker
from workers.calendar_sync import CalendarSyncer
from workers.channel_upkeep import ChannelEndpoints, ChannelKeeper
from workers.connections import LifecycleHandler
from workers.crm import CrmHandler
from workers.outbox_relay import OutboxRelay
from workers.parker import DeadLetterParker
from workers.retention import MessageRetention
from workers.runner import Runnable
from workers.scheduler import Job, Scheduler, UpkeepJobs
from workers.sync import SyncHandler
from workers.writeback import WritebackHandler
from workers.writeback_waiting import WaitingWrites

#: Seconds a readiness probe may wait for the broker before calling it unavailable.
BROKER_PROBE_TIMEOUT = 2.0
#: How often writes waiting for their organizer's calendar are looked at.
WRITE_WAITING_EVERY = timedelta(minutes=1)
#: How often published outbox rows and old inbox records are deleted.
PURGE_EVERY = timedelta(hours=1)


@dataclass
class Container:
    """Long-lived objects of one process, built lazily so nothing connects until used."""

    settings: Settings
    #: The one clock of the process: every object built here reads the time through it.
    clock: Clock = system_clock

    @cached_property
    def engine(self) -> sa.Engine:
        return db.create_engine(self.settings.database_url)

    @cached_property
    def accounts(self) -> SqlAccounts:
        return SqlAccounts(self.engine, self.clock)

    @cached_property
    def directory(self) -> SqlDirectory:
        return SqlDirectory(self.engine, clock=self.clock)

    @cached_property
    def appointments(self) -> SqlAppointments:
        return SqlAppointments(self.engine, self.clock)

    @cached_property
    def channels(self) -> SqlChannels:
        return SqlChannels(self.engine, self.clock)

    @cached_property
    def cipher(self) -> TokenCipher:
        return TokenCipher(self.settings.secret_key)

    @cached_property
    def connections(self) -> SqlConnections:
        return SqlConnections(self.engine, self.cipher, self.clock)

    @cached_property
    def publisher(self) -> Publisher:
        return publisher_for(self.settings.broker_url)

    def declare_broker(self) -> list[str]:
        """Declare every exchange and queue of the topology (idempotent)."""
        with Connection(self.settings.broker_url, connect_timeout=BROKER_PROBE_TIMEOUT) as conn:
            return declare_topology(conn)

    @cached_property
    def calendar_sources(self) -> CalendarSources:
        return CalendarSources()

    @cached_property
    def busy_times(self) -> CalendarBusyTimes:
        """Live free/busy readers for ``GET /api/v1/users/{id}/availability`` (interactive
        retries: a request waits seconds at most, then answers 503)."""
        return CalendarBusyTimes()

    @cached_property
    def room_lists(self) -> CalendarRooms:
        """Live room lists for ``GET /api/v1/rooms``."""
        return CalendarRooms()

    def live_availability(self) -> LiveAvailability:
        return LiveAvailability(
            SqlCalendarUsers(self.engine),
            self.connections,
            self.busy_times,
            self.credentials_for,
            now=self.clock,
        )

    def account_rooms(self) -> AccountRooms:
        return AccountRooms(
            SqlCalendarUsers(self.engine), self.connections, self.room_lists, self.credentials_for
        )

    def credentials_for(self, record: ConnectionRecord, stored: StoredTokens) -> Credentials:
        """The OAuth credentials of a connection: its tokens plus this deployment's app."""
        return credentials_for(self.settings, Provider(record.provider), record.user_email, stored)

    def syncer(self) -> CalendarSyncer:
        return CalendarSyncer(
            engine=self.engine,
            connections=self.connections,
            directory=self.directory,
            source_for=self.calendar_sources,
            credentials_for=self.credentials_for,
            clock=self.clock,
            lease_ttl=timedelta(seconds=self.settings.sync_lease_seconds),
        )

    @cached_property
    def calendar_writers(self) -> CalendarWriters:
        """Writers of CRM appointments to calendars, one per provider (worker retries)."""
        return CalendarWriters()

    def writeback_handler(self) -> WritebackHandler:
        return WritebackHandler(
            self.engine,
            self.connections,
            self.calendar_writers,
            self.credentials_for,
            clock=self.clock,
        )

    @cached_property
    def push_channels(self) -> PushChannelSet:
        return PushChannelSet()

    def channel_keeper(
        self, push_channels_for: Callable[[str], PushChannels] | None = None
    ) -> ChannelKeeper:
        """Opens, renews and replaces push channels (with these adapters, if given)."""
        return ChannelKeeper(
            channels=self.channels,
            connections=self.connections,
            upkeep=SqlUpkeep(self.engine, self.clock),
            push_channels_for=push_channels_for or self.push_channels,
            credentials_for=self.credentials_for,
            publisher=self.publisher,
            endpoints=ChannelEndpoints(self.settings.public_url),
            clock=self.clock,
        )

    def scheduler(self) -> Scheduler:
        """Channel renewal, polling backstop, stalled-sync sweep and window slide."""
        jobs = UpkeepJobs(
            upkeep=SqlUpkeep(self.engine, self.clock),
            connections=self.connections,
            keeper=self.channel_keeper(),
        )
        waiting = Job("write_waiting", WRITE_WAITING_EVERY, WaitingWrites(self.engine).run)
        purge = Job("purge_old_messages", PURGE_EVERY, MessageRetention(self.engine).run)
        # The console's lag plot: nothing else keeps lag over time.
        lag = Job("sample_lag", SAMPLE_EVERY, SqlLagSamples(self.engine, self.clock).record)
        return Scheduler(
            SqlJobs(self.engine), [*jobs.jobs(), waiting, purge, lag], clock=self.clock
        )

    def outbox_relay(self) -> OutboxRelay:
        """Publishes the outbox; safe to run in several processes (rows are locked)."""
        return OutboxRelay(self.engine, self.publisher, clock=self.clock)

    def workers(self, queues: Sequence[str] = ()) -> list[Runnable]:
        """The consumers of ``queues`` (every queue with a handler when empty)."""
        url = self.settings.broker_url

        def worker(queue: topology.WorkQueue, handler: Callable[[], Handler]) -> Runnable:
            return Worker(url, queue, handler(), clock=self.clock)

        available: dict[str, Callable[[], Runnable]] = {
            topology.SYNC.name: lambda: worker(topology.SYNC, lambda: SyncHandler(self.syncer())),
            topology.CONNECTIONS.name: lambda: worker(
                topology.CONNECTIONS,
                lambda: LifecycleHandler(self.channel_keeper(), self.connections),
            ),
            topology.CRM.name: lambda: worker(
                topology.CRM, lambda: CrmHandler(self.engine, clock=self.clock)
            ),
            topology.WRITEBACK.name: lambda: worker(topology.WRITEBACK, self.writeback_handler),
            topology.DEAD_LETTER_QUEUE: lambda: DeadLetterParker(
                url, self.engine, clock=self.clock
            ),
            # Not a queue: publishes the outbox (calendar write requests) with confirms.
            OutboxRelay.queue_name: self.outbox_relay,
        }
        unknown = sorted(set(queues) - set(available))
        if unknown:
            raise ValueError(
                f"no worker for queue {', '.join(unknown)}; known: {', '.join(available)}"
            )
        return [available[name]() for name in (queues or available)]

    def probe_database(self) -> None:
        # Reachable is not enough: with migrations pending every query of a new table fails.
        db.require_current_schema(self.engine)

    def probe_broker(self) -> None:
        with Connection(self.settings.broker_url, connect_timeout=BROKER_PROBE_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_PROBE_TIMEOUT)

    def ingest_ports(self) -> IngestPorts:
        return IngestPorts(
            accounts=self.accounts,
            known_accounts=self.accounts,
            appointments=self.appointments,
            publisher=self.publisher,
            channels=CachedChannels(self.channels),
            crm_signing_secret=self.settings.crm_signing_secret,
            readiness={"database": self.probe_database, "broker": self.probe_broker},
            availability=self.live_availability(),
            rooms=self.account_rooms(),
            explanations=SqlExplanations(self.engine),
            connection_list=SqlConnectionList(self.engine, self.clock),
            clock=self.clock,
        )

    def http_app(self) -> Flask:
        expose_store_gauges(
            self.engine, self.clock
        )  # /metrics: connections by status, dead letters
        console = console_ports(self) if self.settings.console_tokens else None
        return create_app(self.ingest_ports(), connections=BrowserConnect(self), console=console)

    def close(self) -> None:
        if "calendar_sources" in self.__dict__:
            self.calendar_sources.close()
        for live in ("busy_times", "room_lists", "calendar_writers"):
            if live in self.__dict__:
                self.__dict__[live].close()
        if "push_channels" in self.__dict__:
            self.push_channels.shutdown()
        if "publisher" in self.__dict__:
            self.publisher.close()
        if "engine" in self.__dict__:
            self.engine.dispose()
