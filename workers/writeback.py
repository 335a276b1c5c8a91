"""The ``writeback`` queue: CRM saves written to the organizer's default calendar.

The CRM worker stores a save and, when the calendar would see a difference, commits a
``writeback.requested`` message in the outbox; the relay publishes it here. For each one:

- the request is dropped when a newer save of the appointment superseded it (its own
  request follows), or when the calendar already holds this save (a redelivery, R25);
- an organizer without an active connection leaves the appointment ``not_connected``;
  the scheduler queues the write again once a calendar is connected (R27 applies then);
- otherwise the event is created (Google: client-chosen id; Graph: ``transactionId``) or
  patched, keeping attendees added in the calendar (R24), with invitations only when the
  save asks for them (R20, R21) and never for an appointment made before the connection
  (R27); the answer's version is stored on the event's link, so the change notification
  our own write causes is nothing new to the sync (R25).

A crash between the provider's answer and our commit runs the request again: the writers'
idempotency keys make the second create return the first event, not a new one. Writes of
one appointment run one at a time (``appointment_lock``), so an older request can never
overwrite a newer one's result. A refusal by the provider is recorded on the appointment
(``sync.state`` ``failed``) and dead-lettered for on-call; a deleted event is left deleted
(R13) and shown as ``event_gone``.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
import structlog
from prometheus_client import Counter

from adapters.broker.envelope import Envelope, MessageType
from adapters.calendar.errors import AuthorizationRevoked, ProviderRejected, ProviderUnavailable
from adapters.calendar.source import Credentials
from adapters.calendar.stored import StoredTokens
from adapters.calendar.writes import CalendarWriter, EventDraft, EventGone, WrittenEvent
from adapters.sql import writeback_store as store
from adapters.sql.connections import ConnectionRecord, SqlConnections
from adapters.sql.locks import appointment_lock
from domain.clock import Clock, system_clock
from domain.model import Provider
from domain.writeback import attendees_for_write, event_body
from workers.base import MessageContext
from workers.errors import Permanent, Retriable
from workers.inbox import claim_message

log = structlog.get_logger("calsync.writeback")

#: The inbox consumer name of this worker.
CONSUMER = "writeback"

WRITEBACK_WRITES = Counter(
    "calsync_writeback_writes_total",
    "Write-back requests handled, by provider and outcome.",
    ["provider", "outcome"],
)
WRITEBACK_PROVIDER_CALLS = Counter(
    "calsync_writeback_provider_calls_total",
    "HTTP requests the write-back made to the providers, by provider.",
    ["provider"],
)


class WritebackHandler:
    """Handler (see ``workers.base``) of the ``writeback`` queue.

    Args:
        engine: the store.
        connections: connections and their stored grants.
        writer_for: the calendar writer of a provider.
        credentials_for: a connection's credentials from its stored tokens.
    """

    def __init__(
        self,
        engine: sa.Engine,
        connections: SqlConnections,
        writer_for: Callable[[Provider], CalendarWriter],
        credentials_for: Callable[[ConnectionRecord, StoredTokens], Credentials],
        *,
        clock: Clock = system_clock,
    ) -> None:
        self._engine = engine
        self._connections = connections
        self._writer_for = writer_for
        self._credentials_for = credentials_for
        self._clock = clock

    def handle(self, envelope: Envelope, context: MessageContext) -> None:
        if envelope.type != MessageType.WRITEBACK_REQUESTED:
            raise Permanent(f"not a write-back request: {envelope.type}")
        appointment_id = envelope.payload.get("appointment_id")
        account_id = envelope.account_id
        if not isinstance(appointment_id, str) or not account_id:
            raise Permanent("the write-back request names no appointment or account")
        with (
            structlog.contextvars.bound_contextvars(appointment_id=appointment_id),
            appointment_lock(self._engine, appointment_id),
        ):
            self._write(envelope, account_id, appointment_id)

    def _write(self, envelope: Envelope, account_id: str, appointment_id: str) -> None:
        with self._engine.connect() as conn:
            job = store.load_write(conn, account_id, appointment_id)
        reason = _nothing_to_write(job, envelope.payload.get("fingerprint"))
        if job is None or reason is not None:
            log.info("calendar write skipped", reason=reason or "no such CRM appointment")
            self._finish(envelope)
            return
        record = self._connections.for_user(account_id, job.organizer_user_id)
        if record is None or record.status != "active":
            state = "has no connected calendar" if record is None else "must reconnect"
            self._finish(envelope, job.appointment_id, store.NOT_CONNECTED, f"organizer {state}")
            log.info("calendar write waits for a connection", organizer=job.organizer_user_id)
            return
        provider = Provider(record.provider)
        with self._engine.connect() as conn:
            link = store.organizer_link(conn, appointment_id, record.id)
        if link is not None and link.gone:
            self._finish(
                envelope,
                job.appointment_id,
                store.EVENT_GONE,
                "the event was deleted in the calendar; it is not brought back (R13)",
            )
            WRITEBACK_WRITES.labels(provider.value, "event_gone").inc()
            return
        draft = _draft(
            job,
            record,
            video=envelope.payload.get("video") is not None,
            invite=bool(envelope.payload.get("invite")),
        )
        written = self._call_provider(envelope, job, record, draft, link.event_id if link else None)
        if written is None:
            return
        WRITEBACK_PROVIDER_CALLS.labels(provider.value).inc(written.calls)
        if not self._store_written(envelope, job, record, written):
            return
        WRITEBACK_WRITES.labels(provider.value, "updated" if link else "created").inc()
        log.info(
            "appointment written to the calendar",
            provider=provider.value,
            event_id=written.event_id,
            calls=written.calls,
            invite=draft.invite,
        )

    def _store_written(
        self,
        envelope: Envelope,
        job: store.AppointmentToWrite,
        record: ConnectionRecord,
        written: WrittenEvent,
    ) -> bool:
        """Commit the write with the request's inbox record; False if another delivery of
        the request committed first."""
        with self._engine.begin() as conn:
            if not claim_message(conn, CONSUMER, envelope.id, self._clock()):
                return False
            if written.tokens is not None:
                self._connections.save_credentials(
                    conn, record.id, StoredTokens.refreshed(written.tokens).dump()
                )
            store.record_written(
                conn,
                store.Written(
                    appointment_id=job.appointment_id,
                    account_id=job.account_id,
                    connection_id=record.id,
                    provider=Provider(record.provider),
                    organizer_user_id=job.organizer_user_id,
                    event_id=written.event_id,
                    ical_uid=written.ical_uid,
                    version=written.version,
                    video_url=written.video_url,
                    attendees=written.attendees,
                    rooms=written.rooms,
                    fingerprint=job.fingerprint,
                    calls=written.calls,
                ),
                self._clock(),
            )
        return True

    def _call_provider(
        self,
        envelope: Envelope,
        job: store.AppointmentToWrite,
        record: ConnectionRecord,
        draft: EventDraft,
        event_id: str | None,
    ) -> WrittenEvent | None:
        """The write's result; None when it ended otherwise (recorded, or raised)."""
        provider = Provider(record.provider)
        writer = self._writer_for(provider)
        credentials = self._credentials_for(
            record, StoredTokens.load(self._connections.credentials(record.id))
        )
        try:
            if event_id is None:
                return writer.create(credentials, draft)
            return writer.update(
                credentials, event_id, draft, job.written_attendees, job.written_rooms
            )
        except EventGone as exc:
            reason = f"the event was deleted in the calendar; it is not brought back (R13): {exc}"
            self._finish(envelope, job.appointment_id, store.EVENT_GONE, reason)
            WRITEBACK_WRITES.labels(provider.value, "event_gone").inc()
        except AuthorizationRevoked as exc:
            self._connections.mark_needs_reconnect(record.id, str(exc))
            self._finish(
                envelope, job.appointment_id, store.NOT_CONNECTED, "organizer must reconnect"
            )
            WRITEBACK_WRITES.labels(provider.value, "needs_reconnect").inc()
            log.warning("connection needs reconnecting", connection_id=record.id)
        except ProviderRejected as exc:
            with self._engine.begin() as conn:
                store.set_state(conn, job.appointment_id, store.FAILED, str(exc), self._clock())
            WRITEBACK_WRITES.labels(provider.value, "rejected").inc()
            raise Permanent(f"{provider.value} refused the write: {exc}") from None
        except ProviderUnavailable as exc:
            WRITEBACK_WRITES.labels(provider.value, "unavailable").inc()
            raise Retriable(f"{provider.value} unavailable: {exc}") from None
        return None

    def _finish(
        self,
        envelope: Envelope,
        appointment_id: str | None = None,
        state: str | None = None,
        error: str | None = None,
    ) -> None:
        """Claim the request as done, showing ``state`` on the appointment if given."""
        with self._engine.begin() as conn:
            if not claim_message(conn, CONSUMER, envelope.id, self._clock()):
                return
            if appointment_id is not None and state is not None:
                store.set_state(conn, appointment_id, state, error, self._clock())


def _nothing_to_write(job: store.AppointmentToWrite | None, fingerprint: object) -> str | None:
    """Why the request needs no provider call, or None when it does."""
    if job is None:
        return "no such CRM appointment"
    if job.deleted:
        return "deleted in the CRM (R13)"
    if fingerprint != job.fingerprint:
        return "superseded by a newer save, whose own request follows"
    if job.written_fingerprint == job.fingerprint:
        return "the calendar already holds this save (R25)"
    return None


def _draft(
    job: store.AppointmentToWrite, record: ConnectionRecord, *, video: bool, invite: bool
) -> EventDraft:
    return EventDraft(
        appointment_id=job.appointment_id,
        subject=job.subject,
        body=event_body(job.description, job.agenda),
        location=job.location,
        timing=job.timing,
        time_zone=job.time_zone,
        attendees=attendees_for_write(job.crm_created_at, record.connected_at, job.people),
        rooms=job.rooms,
        video=video,
        invite=invite,
    )
