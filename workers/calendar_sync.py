"""From a hint to correct appointments: one connection's sync, exactly once in effect.

A hint only names a connection. The syncer records that a sync is wanted, takes the
connection's lease (or leaves the work to whoever holds it), reads every page of changes
with the stored cursor, and applies each page in one transaction together with the cursor,
so a crash anywhere replays harmlessly: links are keyed by event id and versions decide.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog
from prometheus_client import Counter

from adapters.calendar.errors import AuthorizationRevoked, CalendarSourceError, CursorExpired
from adapters.calendar.source import CalendarSource, ChangePage, Credentials
from adapters.calendar.stored import StoredTokens
from adapters.sql.connections import (
    ConnectionRecord,
    SqlConnections,
    record_sync_progress,
    reset_cursor,
)
from adapters.sql.directory import SqlDirectory
from adapters.sql.explanations import purge_before_window, purge_unseen_in_window
from adapters.sql.inbox import claim_message
from adapters.sql.sync_store import apply_plans, load_context, lock_meetings
from adapters.sql.upkeep import record_window, take_full_sync_request
from domain.clock import Clock, system_clock
from domain.eligibility import SyncWindow, sync_window
from domain.emails import normalise_email
from domain.model import Provider, ProviderEvent
from domain.participants import Resolution, Resolver
from domain.sync_plan import CalendarOwner, EventPlan, PlanKind, plan_page

log = structlog.get_logger("calsync.sync")

EVENTS_APPLIED = Counter(
    "calsync_events_applied_total",
    "Provider events applied to the store, by provider and what they did",
    ["provider", "kind"],
)
SYNC_RUNS_FINISHED = Counter(
    "calsync_sync_runs_finished_total",
    "Sync runs that read a connection's changes to the end, by provider and kind (full or "
    "incremental)",
    ["provider", "kind"],
)

#: Hints received this close before a finished run's start still get their own sync: the
#: ingest and worker hosts' clocks may differ by this much.
CLOCK_SKEW = timedelta(milliseconds=250)
#: How long a syncer holds a connection without renewing; renewed with every page.
LEASE_TTL = timedelta(seconds=60)
#: Full resyncs in a row one run may start before giving up (a cursor that keeps expiring).
MAX_RESYNCS = 2
#: Inbox consumer name of hints.
INBOX_CONSUMER = "sync"


class SyncOutcome(StrEnum):
    SYNCED = "synced"
    COALESCED = "coalesced"  # another worker holds the connection and will pick this up
    COVERED = "covered"  # a sync that started after the hint was received has finished
    NEEDS_RECONNECT = "needs_reconnect"
    INACTIVE = "inactive"  # disconnected, or waiting for the user to reconnect
    UNKNOWN = "unknown"  # the connection no longer exists


class LeaseLost(RuntimeError):
    """Another worker took the connection over (this one stalled past the lease)."""


@dataclass(frozen=True)
class SyncRun:
    """Counters of one sync run, for the log line and the metrics."""

    pages: int = 0
    events: int = 0
    created: int = 0
    updated: int = 0
    joined: int = 0
    gone: int = 0
    skipped: int = 0


class CalendarSyncer:
    """Syncs connections, one lease holder per connection across every process."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        connections: SqlConnections,
        directory: SqlDirectory,
        source_for: Callable[[str], CalendarSource],
        credentials_for: Callable[[ConnectionRecord, StoredTokens], Credentials],
        clock: Clock = system_clock,
        lease_ttl: timedelta = LEASE_TTL,
    ) -> None:
        self._engine = engine
        self._connections = connections
        self._directory = directory
        self._source_for = source_for
        self._credentials_for = credentials_for
        self._clock = clock
        self._lease_ttl = lease_ttl
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="page-prefetch")

    def handle_hint(
        self, connection_id: str, message_id: str, received_at: datetime | None = None
    ) -> SyncOutcome:
        """Sync ``connection_id`` unless another worker is already on it, or a sync that
        started after the hint was received (``received_at``) has already read to the end.

        The second case is what makes a storm of hints cheap: hints queued behind a sync
        are acknowledged without reading the calendar again.

        Raises:
            Exception: a failure worth retrying (provider unavailable, database error); the
                lease is let go first so the retry, here or elsewhere, can take it.
        """
        record = self._connections.get(connection_id)
        if record is None:
            return SyncOutcome.UNKNOWN
        if record.status != "active":
            return SyncOutcome.INACTIVE
        covered = record.sync_covered_until
        if received_at is not None and covered is not None and received_at + CLOCK_SKEW < covered:
            return SyncOutcome.COVERED
        self._connections.request_sync(connection_id, received_at)
        generation = self._connections.acquire_lease(connection_id, self._owner, self._lease_ttl)
        if generation is None:
            return SyncOutcome.COALESCED
        try:
            while generation is not None:
                self._sync(record, generation, message_id)
                generation = self._connections.release_lease(connection_id, self._owner, generation)
                record = self._connections.get(connection_id) or record
        except AuthorizationRevoked as exc:
            self._connections.abandon_lease(connection_id, self._owner)
            self._connections.mark_needs_reconnect(connection_id, str(exc))
            log.warning(
                "connection needs reconnecting", connection_id=connection_id, reason=str(exc)
            )
            return SyncOutcome.NEEDS_RECONNECT
        except CalendarSourceError as exc:  # retried by the worker; shown until it passes
            self._connections.abandon_lease(connection_id, self._owner)
            self._connections.record_sync_failure(connection_id, f"{type(exc).__name__}: {exc}")
            raise
        except BaseException:
            self._connections.abandon_lease(connection_id, self._owner)
            raise
        return SyncOutcome.SYNCED

    def _sync(self, record: ConnectionRecord, generation: int, message_id: str) -> SyncRun:
        source = self._source_for(record.provider)
        stored = StoredTokens.load(self._connections.credentials(record.id))
        credentials = self._credentials_for(record, stored)
        window = self._window(record)
        cursor, page_token = record.cursor, record.page_cursor
        with self._engine.begin() as conn:
            if take_full_sync_request(conn, record.id):
                cursor, page_token = None, None
        run, resyncs, full = SyncRun(), 0, cursor is None
        # A run that reads from the start (not resuming a page) sees every change made
        # before it started; one resumed mid-way does not (its first pages were read earlier).
        # The one clock, as the ``received_at`` of the hints it is compared with.
        started = self._clock() if page_token is None else None

        def fetch(credentials: Credentials, page_token: str | None) -> ChangePage:
            return source.changes(credentials, cursor=cursor, page=page_token, window=window)

        # The next page is read from the provider while this one is written: provider I/O
        # and database writes overlap; pages are still applied one by one, in order.
        upcoming: Future[ChangePage] | None = None
        try:
            while True:
                if cursor is None and page_token is None:  # a full sync: the window moves (R9)
                    with self._engine.begin() as conn:
                        record_window(conn, record.id, window.start, window.end)
                        purge_before_window(conn, record.id, window)
                try:
                    page = upcoming.result() if upcoming else fetch(credentials, page_token)
                except CursorExpired:
                    upcoming = None
                    resyncs += 1
                    if resyncs > MAX_RESYNCS:
                        raise
                    log.info("cursor expired, full resync", connection_id=record.id)
                    with self._engine.begin() as conn:
                        reset_cursor(conn, record.id)
                    cursor, page_token, full = None, None, True
                    started = self._clock()
                    continue
                if page.tokens is not None:
                    credentials = credentials.with_tokens(page.tokens)
                upcoming = (
                    self._prefetch.submit(fetch, credentials, page.next_page)
                    if page.next_page is not None
                    else None
                )
                run = self._apply(
                    record,
                    page,
                    window,
                    run=run,
                    generation=generation,
                    message_id=message_id,
                    started=started,
                )
                if page.next_page is None:
                    if full and started is not None:
                        self._forget_unlisted(record.id, window, started)
                    SYNC_RUNS_FINISHED.labels(
                        record.provider, "full" if full else "incremental"
                    ).inc()
                    log.info(
                        "sync finished",
                        connection_id=record.id,
                        provider=record.provider,
                        **vars(run),
                    )
                    return run
                page_token = page.next_page
        finally:
            if upcoming is not None:  # the run failed while the next page was on its way
                upcoming.cancel()

    def _forget_unlisted(self, connection_id: str, window: SyncWindow, started: datetime) -> None:
        # A full sync lists every event of its window: a kept-out event inside it that the
        # run did not list is one the calendar no longer has there (R36's bounded storage).
        with self._engine.begin() as conn:
            purge_unseen_in_window(conn, connection_id, window, started)

    def _apply(
        self,
        record: ConnectionRecord,
        page: ChangePage,
        window: SyncWindow,
        *,
        run: SyncRun,
        generation: int,
        message_id: str,
        started: datetime | None,
    ) -> SyncRun:
        last = page.next_page is None
        resolutions = self._resolve(record, page.events)
        with self._engine.begin() as conn:
            if not self._connections.renew_lease(conn, record.id, self._owner, self._lease_ttl):
                raise LeaseLost(f"lease on connection {record.id} lost")
            lock_meetings(conn, record.account_id, page.events)
            links, stored = load_context(conn, record.account_id, record.id, page.events)
            now = self._clock()
            plans = plan_page(
                page.events,
                resolutions=resolutions,
                owner=self._owner_of(record),
                window=window,
                links=links,
                stored=stored,
                now=now,
                new_id=lambda: str(uuid.uuid4()),
            )
            apply_plans(
                conn, record.account_id, record.id, plans, record.appointment_type_id, now=now
            )
            if page.tokens is not None:  # the provider rotated tokens: keep them with the page
                self._connections.save_credentials(
                    conn, record.id, StoredTokens.refreshed(page.tokens).dump()
                )
            record_sync_progress(
                conn,
                record.id,
                cursor=page.sync_cursor if last else None,
                page_cursor=None if last else page.next_page,
                finished_generation=generation if last else None,
                now=now,
                covered_until=started if last else None,
            )
            if last:
                claim_message(conn, INBOX_CONSUMER, message_id, now)
        for plan in plans:  # counted once the page is committed
            EVENTS_APPLIED.labels(record.provider, plan.kind.value).inc()
        return _count(run, plans)

    def _resolve(
        self, record: ConnectionRecord, events: Sequence[ProviderEvent]
    ) -> dict[str, Resolution]:
        live = [e for e in events if not e.is_cancelled]
        addresses = {
            address
            for event in live
            for raw in (event.organizer_email or "", *(a.email for a in event.attendees))
            if (address := normalise_email(raw))
        }
        resolver = Resolver(self._directory.directory_for(record.account_id, addresses))
        resolutions = {}
        for event in live:
            resolution = resolver.resolve(event.attendees, event.organizer_email)
            if resolution.invalid:  # R1: ignored as participants, never fails the event
                log.info(
                    "addresses ignored",
                    event_id=event.event_id,
                    connection_id=record.id,
                    addresses=list(resolution.invalid),
                )
            resolutions[event.event_id] = resolution
        return resolutions

    def _window(self, record: ConnectionRecord) -> SyncWindow:
        zone = ZoneInfo(record.user_time_zone)
        connected_on = record.connected_at.astimezone(zone).date()
        return sync_window(
            connected_on, record.user_time_zone, self._clock().astimezone(zone).date()
        )

    @staticmethod
    def _owner_of(record: ConnectionRecord) -> CalendarOwner:
        return CalendarOwner(
            user_id=record.user_id,
            email=record.user_email,
            provider=Provider(record.provider),
            time_zone=record.user_time_zone,
            appointment_type_id=record.appointment_type_id,
        )


def _count(run: SyncRun, plans: Sequence[EventPlan]) -> SyncRun:
    kinds = [plan.kind for plan in plans]
    return SyncRun(
        pages=run.pages + 1,
        events=run.events + len(plans),
        created=run.created + kinds.count(PlanKind.CREATE),
        updated=run.updated + kinds.count(PlanKind.UPDATE),
        joined=run.joined + kinds.count(PlanKind.JOIN),
        gone=run.gone + kinds.count(PlanKind.MARK_GONE),
        skipped=run.skipped + kinds.count(PlanKind.SKIP),
    )
