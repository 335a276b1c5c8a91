"""Google event operations shared by the Calendar API routes and the admin API."""

from __future__ import annotations

import copy
import threading
from typing import Any

from infra.sandbox import (
    google_channels,
    google_events,
    google_instances,
    google_mail,
    google_meet,
)
from infra.sandbox.errors import ApiError
from infra.sandbox.google_state import GoogleCalendar, GoogleState, StoredEvent
from infra.sandbox.ids import google_event_id
from infra.sandbox.timeutil import format_rfc3339, utcnow


class GoogleEvents:
    """Create, read, change and delete events; every change notifies channels and may send mail.

    Callers hold no lock; each method takes ``state.lock`` itself.
    """

    def __init__(self, state: GoogleState) -> None:
        self.state = state

    def get(self, calendar: GoogleCalendar, event_id: str) -> dict[str, Any]:
        """An event or instance by id (deleted events come back with ``status: cancelled``)."""
        with self.state.lock:
            return copy.deepcopy(self._find(calendar, event_id))

    def insert(
        self,
        calendar: GoogleCalendar,
        body: dict[str, Any],
        *,
        send_updates: str | None = None,
        conference_version: int = 0,
        organizer: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``events.insert``; 409 ``duplicate`` when a client-chosen id is taken."""
        with self.state.lock:
            event_id = body.get("id") or google_event_id()
            google_events.check_client_id(event_id)
            if event_id in calendar.events:
                raise ApiError(409, "duplicate", "The requested identifier already exists.")
            resource = self._new_resource(calendar, body, event_id, organizer)
            request_id = google_meet.prepare(resource, None, conference_version)
            self._finalize(calendar, resource, None)
            self._store(calendar, resource, request_id)
            google_mail.for_new(self.state, resource, send_updates)
            return copy.deepcopy(resource)

    def _new_resource(
        self,
        calendar: GoogleCalendar,
        body: dict[str, Any],
        event_id: str,
        organizer: dict[str, Any] | None,
    ) -> dict[str, Any]:
        now = format_rfc3339(utcnow())
        owner = {"email": calendar.owner.email, "displayName": calendar.owner.display_name}
        return {
            "kind": "calendar#event",
            "id": event_id,
            "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
            "created": now,
            **google_events.writable(body),
            "iCalUID": body.get("iCalUID") or f"{event_id}@google.com",
            "creator": dict(owner),
            "organizer": dict(organizer or owner),
            "reminders": body.get("reminders") or {"useDefault": True},
            "eventType": body.get("eventType") or "default",
        }

    def patch(
        self,
        calendar: GoogleCalendar,
        event_id: str,
        body: dict[str, Any],
        *,
        send_updates: str | None = None,
        conference_version: int = 0,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        """``events.patch``: merge ``body`` into the event (or instance)."""
        with self.state.lock:
            previous = self._find(calendar, event_id)
            _check_etag(previous, if_match)
            changed = google_events.merge_patch(previous, body)
            return self._change(calendar, previous, changed, send_updates, conference_version)

    def update(
        self,
        calendar: GoogleCalendar,
        event_id: str,
        body: dict[str, Any],
        *,
        send_updates: str | None = None,
        conference_version: int = 0,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        """``events.update``: replace every writable field with ``body``."""
        with self.state.lock:
            previous = self._find(calendar, event_id)
            _check_etag(previous, if_match)
            changed = google_events.replace_update(previous, body)
            return self._change(calendar, previous, changed, send_updates, conference_version)

    def _change(
        self,
        calendar: GoogleCalendar,
        previous: dict[str, Any],
        changed: dict[str, Any],
        send_updates: str | None,
        conference_version: int,
    ) -> dict[str, Any]:
        request_id = google_meet.prepare(changed, previous, conference_version)
        self._finalize(calendar, changed, previous)
        self._store(calendar, changed, request_id)
        google_mail.for_change(self.state, previous, changed, send_updates)
        return copy.deepcopy(changed)

    def delete(
        self, calendar: GoogleCalendar, event_id: str, *, send_updates: str | None = None
    ) -> None:
        """``events.delete``: the event becomes a ``cancelled`` tombstone (410 if already so)."""
        with self.state.lock:
            previous = self._find(calendar, event_id)
            if previous.get("status") == "cancelled":
                raise ApiError(410, "deleted", "Resource has been deleted")
            self._tombstone(calendar, previous)
            google_mail.for_cancellation(self.state, previous, send_updates)

    def _tombstone(self, calendar: GoogleCalendar, previous: dict[str, Any]) -> None:
        resource = copy.deepcopy(previous)
        resource["status"] = "cancelled"
        self._finalize(calendar, resource, previous)
        self._store(calendar, resource, None)
        if google_instances.is_series(previous):
            for stored in list(calendar.events.values()):
                if stored.resource.get("recurringEventId") == previous["id"]:
                    stored.resource["status"] = "cancelled"
                    stored.seq = self.state.next_seq()

    def _find(self, calendar: GoogleCalendar, event_id: str) -> dict[str, Any]:
        stored = calendar.events.get(event_id)
        if stored is not None:
            return stored.resource
        virtual = google_instances.find_virtual(calendar, event_id)
        if virtual is None:
            raise ApiError(404, "notFound", "Not Found")
        return virtual

    def _finalize(
        self, calendar: GoogleCalendar, resource: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        google_events.finalize(
            resource,
            previous,
            calendar_zone=calendar.zone,
            owner_email=calendar.owner.email,
            directory=self.state.directory,
            now=utcnow(),
        )

    def _store(
        self, calendar: GoogleCalendar, resource: dict[str, Any], meet_request: str | None
    ) -> None:
        calendar.events[resource["id"]] = StoredEvent(resource, self.state.next_seq())
        google_channels.notify_change(self.state, calendar)
        if meet_request is not None:
            self._schedule_meet(calendar, resource["id"], meet_request)

    def _schedule_meet(self, calendar: GoogleCalendar, event_id: str, request_id: str) -> None:
        timer = threading.Timer(
            self.state.meet_delay_seconds,
            self._complete_meet,
            args=(calendar, event_id, request_id),
        )
        timer.daemon = True
        self.state.timers.append(timer)
        timer.start()

    def _complete_meet(self, calendar: GoogleCalendar, event_id: str, request_id: str) -> None:
        with self.state.lock:
            stored = calendar.events.get(event_id)
            if stored is None or self.state.calendars.get(calendar.id.lower()) is not calendar:
                return
            resource = copy.deepcopy(stored.resource)
            if google_meet.complete(resource, request_id):
                self._finalize(calendar, resource, stored.resource)
                self._store(calendar, resource, None)


def _check_etag(resource: dict[str, Any], if_match: str | None) -> None:
    if if_match and if_match != "*" and if_match != resource.get("etag"):
        raise ApiError(412, "conditionNotMet", "Precondition Failed")
