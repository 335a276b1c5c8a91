"""Writing CRM appointments to a user's primary Google calendar (PROVIDERS.md A3, A4).

Idempotency is Google's client-chosen event id: ``google_event_id(appointment_id)``. A create
that finds the id taken (409 ``duplicate``: an earlier try got through, then the worker
crashed before its commit) reads the event and updates it instead, so a retried write never
makes a second event. Meet links come from a ``createRequest`` whose ``requestId`` is also
derived, so a retried insert cannot ask for a second conference; Google provisions the link
asynchronously, so the writer waits a little and re-reads (R22). Updates read the event
first, keep the people added in the calendar (R24) with what Google knows of them
(``responseStatus``...), and ``patch``: a full ``update`` would clear what we do not send.

``WrittenEvent.calls`` counts every ``execute`` of an API request, retries included (each
retry of ``RetryPolicy`` makes the request again). Not counted: token refreshes, and the
repeat google-auth sends by itself after refreshing on a 401.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from adapters.calendar.errors import CalendarSourceError, CursorExpired, ProviderRejected
from adapters.calendar.google.mapping import google_event
from adapters.calendar.google.reads import GoogleReader
from adapters.calendar.google.source import calendar_service
from adapters.calendar.retry import RetryPolicy
from adapters.calendar.source import Credentials, RefreshedTokens
from adapters.calendar.writes import APPOINTMENT_PROPERTY, EventDraft, EventGone, WrittenEvent
from domain.emails import normalise_email
from domain.model import Provider
from domain.timing import AllDay, Timed, Timing
from domain.writeback import merge_writeback_attendees, merge_writeback_rooms, plan_invitations

log = structlog.get_logger(__name__)

#: The calendar written to: the user's default one (R20).
CALENDAR_ID = "primary"

#: Retries inside one request of a background write: longer than a live read may wait,
#: as nobody is waiting on the answer (``adapters.calendar.reads.INTERACTIVE_RETRY``).
BACKGROUND_RETRY = RetryPolicy(attempts=4, initial_backoff=0.5, max_backoff=8.0)

#: Wait before the first re-read of a pending Meet conference; each later wait doubles.
#: Long enough for a conference that is provisioned "at once" to be there on the first read.
MEET_FIRST_WAIT = 0.25
#: Longest total wait for a Meet conference before the write returns without its link.
MEET_MAX_WAIT = 10.0

MEET = "hangoutsMeet"

Json = dict[str, Any]


def google_event_id(appointment_id: str) -> str:
    """The event id our appointment gets in Google (base32hex ``a-v0-9``, 5 to 1024 chars).

    A UUID becomes its 32 hex digits (all valid base32hex). Any other id is base32hex-encoded,
    so distinct appointment ids never share an event id.

    Raises:
        ValueError: the id is empty, or too long for Google.
    """
    try:
        return uuid.UUID(appointment_id).hex
    except ValueError:
        pass
    if not appointment_id:
        raise ValueError("an appointment id is needed for a Google event id")
    encoded = base64.b32hexencode(appointment_id.encode()).decode().rstrip("=").lower()
    event_id = encoded.ljust(5, "0") if len(encoded) < 5 else encoded
    if len(event_id) > 1024:
        raise ValueError(f"appointment id too long for a Google event id: {appointment_id!r}")
    return event_id


def conference_request_id(appointment_id: str, event_etag: str | None = None) -> str:
    """The ``requestId`` of a Meet ``createRequest``: the same for every retry of one write.

    A create derives it from the appointment alone. An update that asks again (the event has
    no conference, or its request failed) adds the event's ``etag``, because Google ignores a
    reused ``requestId`` while a retry of the same update still sees the same etag.
    """
    if event_etag is None:
        return f"calsync-{google_event_id(appointment_id)}"
    suffix = hashlib.sha256(event_etag.encode()).hexdigest()[:16]
    return f"calsync-{google_event_id(appointment_id)}-{suffix}"


class GoogleCalendarWriter:
    """Creates and patches events in users' primary Google calendars (``CalendarWriter``).

    Args:
        retry: retries inside one request for 429, rate-limit 403s, 5xx and connection errors.
        meet_first_wait: seconds before the first re-read of a pending Meet conference.
        meet_max_wait: longest total wait for the conference; then the link is left out.
        max_cached_users: users whose built service is kept between calls.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        meet_first_wait: float = MEET_FIRST_WAIT,
        meet_max_wait: float = MEET_MAX_WAIT,
        max_cached_users: int = 128,
    ) -> None:
        self._reader = GoogleReader(
            calendar_service, retry=retry or BACKGROUND_RETRY, max_cached_users=max_cached_users
        )
        self._meet_first_wait = meet_first_wait
        self._meet_max_wait = meet_max_wait

    def create(self, credentials: Credentials, draft: EventDraft) -> WrittenEvent:
        """``events.insert`` under the appointment's own event id (see ``CalendarWriter``).

        Raises:
            EventGone: the id belongs to an event deleted in the calendar (Google keeps
                deleted ids taken, so it cannot be created again).
        """
        run = _Run(self._reader, credentials)
        event_id = google_event_id(draft.appointment_id)
        people, rooms = _people(draft.attendees), _rooms(draft)
        body = {
            "id": event_id,
            **_fields(draft),
            "attendees": [{"email": p} for p in people] + [_room(r) for r in rooms],
        }
        if draft.video:
            body["conferenceData"] = _meet_request(conference_request_id(draft.appointment_id))
        try:
            resource = run.request(
                lambda events: events.insert(
                    calendarId=CALENDAR_ID,
                    body=body,
                    sendUpdates=_send_updates(draft),
                    conferenceDataVersion=1,
                ),
                "events.insert",
            )
        except ProviderRejected as error:
            if error.status != 409:
                raise
            existing = self._get(run, event_id)
            if _already_says(existing, draft, people):
                # The crashed try wrote exactly this: patching again would mail everyone twice.
                return self._answer(run, existing, draft)
            already = tuple(p for p in _provider_people(existing) if p in people)
            return self._patch(run, existing, draft, already, None)
        return self._answer(run, resource, draft)

    def update(
        self,
        credentials: Credentials,
        event_id: str,
        draft: EventDraft,
        previously_written: tuple[str, ...],
        rooms_written: tuple[str, ...] | None = None,
    ) -> WrittenEvent:
        """``events.get``, then ``events.patch`` (see ``CalendarWriter.update``).

        Raises:
            EventGone: the event is not found, deleted, or cancelled.
        """
        run = _Run(self._reader, credentials)
        existing = self._get(run, event_id)
        return self._patch(run, existing, draft, previously_written, rooms_written)

    def close(self) -> None:
        """Close every cached service's connections."""
        self._reader.close()

    def _get(self, run: _Run, event_id: str) -> Json:
        resource = _gone_as_event_gone(
            event_id, lambda: run.request(_get_request(event_id), "events.get")
        )
        if resource.get("status") == "cancelled":
            raise EventGone(f"Google event {event_id} was cancelled")
        return resource

    def _patch(
        self,
        run: _Run,
        existing: Json,
        draft: EventDraft,
        previously_written: Iterable[str],
        rooms_written: tuple[str, ...] | None,
    ) -> WrittenEvent:
        event_id = str(existing["id"])
        people = merge_writeback_attendees(
            draft.attendees, _provider_people(existing), tuple(previously_written)
        )
        rooms = merge_writeback_rooms(draft.rooms, _provider_rooms(existing), rooms_written)
        body: Json = {**_fields(draft, clear_other_time=True)}
        body["attendees"] = _attendees_kept(existing, people, rooms)
        if draft.video and not _has_conference(existing):
            request_id = conference_request_id(draft.appointment_id, existing.get("etag"))
            body["conferenceData"] = _meet_request(request_id)
        resource = _gone_as_event_gone(
            event_id,
            lambda: run.request(
                lambda events: events.patch(
                    calendarId=CALENDAR_ID,
                    eventId=event_id,
                    body=body,
                    sendUpdates=_send_updates(draft),
                    conferenceDataVersion=1,
                ),
                "events.patch",
            ),
        )
        return self._answer(run, resource, draft)

    def _answer(self, run: _Run, resource: Json, draft: EventDraft) -> WrittenEvent:
        """The write's result. Ours are the CRM's people and rooms: those added in the
        calendar stay on the event without becoming ours, so later updates keep them too."""
        if draft.video:
            resource = self._wait_for_meet(run, resource)
        event = google_event(resource)
        return WrittenEvent(
            event_id=event.event_id,
            ical_uid=event.ical_uid,
            version=event.version,
            video_url=event.video_url,
            attendees=_people(draft.attendees),
            rooms=_rooms(draft),
            calls=run.calls,
            tokens=run.tokens,
        )

    def _wait_for_meet(self, run: _Run, resource: Json) -> Json:
        """Re-read the event, with doubling waits, until its Meet conference is decided.

        A conference that fails or takes too long leaves the event without a link: the
        write itself succeeded, and failing it would only send the same write again.
        """
        event_id = str(resource["id"])
        deadline = time.monotonic() + self._meet_max_wait
        wait = self._meet_first_wait
        while _meet_status(resource) == "pending":
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("google_meet_timeout", event_id=event_id)
                return resource
            time.sleep(min(wait, remaining))
            wait *= 2
            try:
                resource = run.request(_get_request(event_id), "events.get")
            except CalendarSourceError as error:
                log.warning("google_meet_reread_failed", event_id=event_id, error=str(error))
                return resource
        if _meet_status(resource) != "success" or google_event(resource).video_url is None:
            log.warning("google_meet_failed", event_id=event_id, status=_meet_status(resource))
        return resource


class _Run:
    """The requests of one write: counted, and run with the freshest tokens seen."""

    def __init__(self, reader: GoogleReader, credentials: Credentials) -> None:
        self._reader = reader
        self._credentials = credentials
        self.calls = 0
        self.tokens: RefreshedTokens | None = None

    def request(self, make_request: Callable[[Any], Any], operation: str) -> Json:
        """``make_request(events).execute()``; every try (retries included) is counted."""

        def counted(service: Any) -> Any:
            self.calls += 1
            return make_request(_events_of(service))

        body, fresh = self._reader.execute(self._credentials, counted, operation)
        if fresh is not None:
            self.tokens = fresh
            self._credentials = self._credentials.with_tokens(fresh)
        return body


#: Each cached service's ``events`` collection: discovery builds every method of it on each
#: ``service.events()`` (about 16 ms of CPU, more than the write's own HTTP round trip).
_EVENTS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_EVENTS_LOCK = threading.Lock()


def _events_of(service: Any) -> Any:
    with _EVENTS_LOCK:
        events = _EVENTS.get(service)
        if events is None:
            events = _EVENTS[service] = service.events()
        return events


def _get_request(event_id: str) -> Callable[[Any], Any]:
    return lambda events: events.get(calendarId=CALENDAR_ID, eventId=event_id)


def _gone_as_event_gone(event_id: str, action: Callable[[], Json]) -> Json:
    """``action``, with Google's "no such event" (404, 410 ``deleted``) as ``EventGone``."""
    try:
        return action()
    except CursorExpired:  # call_google reads every 410 as an expired sync token
        raise EventGone(f"Google event {event_id} was deleted") from None
    except ProviderRejected as error:
        if error.status in (404, 410):
            raise EventGone(f"Google event {event_id} is not found") from None
        raise


def _fields(draft: EventDraft, *, clear_other_time: bool = False) -> Json:
    """What a write says about the event itself (everything but attendees and Meet)."""
    start, end = _event_times(draft)
    if clear_other_time:
        # Patch merges start/end into the stored ones: switching between timed and all-day
        # must null the other kind of time explicitly.
        for value in (start, end):
            for key in ("date", "dateTime", "timeZone"):
                value.setdefault(key, None)
    return {
        "summary": draft.subject,
        "description": draft.body,
        "location": draft.location,
        "start": start,
        "end": end,
        "extendedProperties": {"private": {APPOINTMENT_PROPERTY: draft.appointment_id}},
    }


def _event_times(draft: EventDraft) -> tuple[Json, Json]:
    timing = draft.timing
    if isinstance(timing, Timed):
        zone = draft.time_zone or timing.time_zone or "UTC"
        return (
            {"dateTime": timing.start.isoformat(), "timeZone": zone},
            {"dateTime": timing.end.isoformat(), "timeZone": zone},
        )
    return {"date": timing.start_date.isoformat()}, {"date": timing.end_date.isoformat()}


def _send_updates(draft: EventDraft) -> str:
    return plan_invitations(Provider.GOOGLE, draft.invite).send_updates


def _meet_request(request_id: str) -> Json:
    return {"createRequest": {"requestId": request_id, "conferenceSolutionKey": {"type": MEET}}}


def _people(emails: Iterable[str]) -> tuple[str, ...]:
    """Normalised, once each, unparseable ones dropped."""
    return merge_writeback_attendees(tuple(emails), (), ())


def _rooms(draft: EventDraft) -> tuple[str, ...]:
    return _people(draft.rooms)


def _room(email: str) -> Json:
    return {"email": email, "resource": True}


def _provider_people(resource: Json) -> tuple[str, ...]:
    """The event's people: attendees that are neither rooms nor the organizer or owner."""
    return _people(
        str(a["email"])
        for a in resource.get("attendees") or ()
        if a.get("email") and not (a.get("resource") or a.get("organizer") or a.get("self"))
    )


def _provider_rooms(resource: Json) -> tuple[str, ...]:
    return _people(str(a["email"]) for a in resource.get("attendees") or () if a.get("resource"))


def _attendees_kept(existing: Json, people: tuple[str, ...], rooms: tuple[str, ...]) -> list[Json]:
    """The attendee list to patch in: Google's own entries for whoever stays.

    The organizer's and owner's entries stay as they are, then ``people`` and ``rooms``.
    """
    current = existing.get("attendees") or []
    by_email = {normalise_email(str(a.get("email") or "")): a for a in current}
    owner = [a for a in current if a.get("organizer") or a.get("self")]
    owner_emails = {normalise_email(str(a.get("email") or "")) for a in owner}
    kept = [by_email.get(p) or {"email": p} for p in people if p not in owner_emails]
    return owner + kept + [by_email.get(r) or _room(r) for r in rooms]


def _already_says(existing: Json, draft: EventDraft, people: tuple[str, ...]) -> bool:
    """Whether the event already holds everything ``draft`` would write."""
    event = google_event(existing)
    rooms = {normalise_email(a.email) for a in event.attendees if a.is_resource}
    return (
        (event.subject, event.description, event.location)
        == (draft.subject, draft.body, draft.location)
        and _same_time(event.timing, draft.timing)
        and set(_provider_people(existing)) == set(people)
        and rooms == set(_rooms(draft))
        and (not draft.video or _has_conference(existing))
    )


def _same_time(stored: Timing | None, wanted: Timing) -> bool:
    if isinstance(stored, Timed) and isinstance(wanted, Timed):
        return (stored.start, stored.end) == (wanted.start, wanted.end)
    if isinstance(stored, AllDay) and isinstance(wanted, AllDay):
        return (stored.start_date, stored.end_date) == (wanted.start_date, wanted.end_date)
    return False


def _meet_status(resource: Json) -> str | None:
    request = (resource.get("conferenceData") or {}).get("createRequest") or {}
    return (request.get("status") or {}).get("statusCode")


def _has_conference(resource: Json) -> bool:
    """Whether the event has a conference, or one on the way (a failed request does not)."""
    data = resource.get("conferenceData") or {}
    return bool(data.get("entryPoints") or data.get("conferenceId")) or _meet_status(resource) in (
        "pending",
        "success",
    )
