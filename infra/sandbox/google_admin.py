"""The Google sandbox's side of the admin API."""

from __future__ import annotations

from typing import Any

from infra.sandbox.directory import DEFAULT_WORKING_HOURS, Person, Room
from infra.sandbox.errors import ApiError
from infra.sandbox.google_calendar import GoogleEvents
from infra.sandbox.google_channels import channel_resource
from infra.sandbox.google_state import DEFAULT_MEET_DELAY_SECONDS, GoogleCalendar, GoogleState


class GoogleAdmin:
    """Admin operations on the Google sandbox. Writes act like the Calendar web app:
    invitations go out (``sendUpdates=all``) and Meet requests are honoured."""

    def __init__(self, state: GoogleState, events: GoogleEvents) -> None:
        self.state = state
        self.events = events
        self.tokens = state.tokens
        self.faults = state.faults
        self.requests = state.requests
        self.invitations = state.invitations
        self.dispatcher = state.dispatcher

    def reset(self) -> None:
        """Forget everything."""
        self.state.reset()

    def create_user(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A user with a primary calendar, plus a refresh token as if they had consented."""
        email = _required(spec, "email")
        person = Person(
            email=email,
            display_name=spec.get("displayName") or email.split("@")[0],
            time_zone=spec.get("timeZone") or "UTC",
            working_hours=spec.get("workingHours") or dict(DEFAULT_WORKING_HOURS),
        )
        self.state.add_user(person)
        client_id = spec.get("client_id") or "sandbox-client"
        refresh = self.tokens.issue_refresh_token(person.email, client_id)
        return {**person.as_dict(), "refresh_token": refresh}

    def users(self) -> list[dict[str, Any]]:
        """All users."""
        with self.state.lock:
            return [person.as_dict() for person in self.state.directory.users.values()]

    def subject(self, user: str) -> str:
        """The token subject for a user (their email)."""
        person = self.state.directory.find_user(user)
        if person is None:
            raise ApiError(404, "notFound", f"no such user {user}")
        return person.email

    def create_room(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A room listed by the Directory API."""
        room = Room(
            email=_required(spec, "email"),
            name=spec.get("name") or spec["email"].split("@")[0],
            capacity=int(spec.get("capacity", 0)),
            building=spec.get("building", ""),
            floor=str(spec.get("floor", "")),
        )
        with self.state.lock:
            return self.state.directory.add_room(room).as_dict()

    def create_event(
        self, user: str, body: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, Any]:
        """Create an event; ``body["organizer"]`` makes it an invitation someone else sent."""
        return self.events.insert(
            self._calendar(user),
            body,
            send_updates=options.get("sendUpdates", "all"),
            conference_version=int(options.get("conferenceDataVersion", 1)),
            organizer=body.get("organizer"),
        )

    def update_event(
        self, user: str, event_id: str, body: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, Any]:
        """Change an event (patch semantics)."""
        return self.events.patch(
            self._calendar(user),
            event_id,
            body,
            send_updates=options.get("sendUpdates", "all"),
            conference_version=int(options.get("conferenceDataVersion", 1)),
        )

    def cancel_event(self, user: str, event_id: str, options: dict[str, Any]) -> None:
        """Cancel a meeting: in Google Calendar that is deleting it with guests notified."""
        self.delete_event(user, event_id, options)

    def delete_event(self, user: str, event_id: str, options: dict[str, Any]) -> None:
        """Delete an event."""
        calendar = self._calendar(user)
        self.events.delete(calendar, event_id, send_updates=options.get("sendUpdates", "all"))

    def list_events(self, user: str) -> list[dict[str, Any]]:
        """Every stored event of a user, tombstones included."""
        calendar = self._calendar(user)
        with self.state.lock:
            return [stored.resource for stored in calendar.events.values()]

    def expire_sync_tokens(self, user: str | None) -> int:
        """Make existing sync tokens answer 410 ``fullSyncRequired``."""
        with self.state.lock:
            calendars = [self._calendar(user)] if user else list(self.state.calendars.values())
            for calendar in calendars:
                calendar.epoch += 1
            return len(calendars)

    def subscriptions(self) -> list[dict[str, Any]]:
        """Live push channels."""
        with self.state.lock:
            return [
                {**channel_resource(c), "address": c.address, "calendarId": c.calendar_id}
                for c in self.state.channels.values()
            ]

    def configure(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Settings: ``meet_delay_seconds`` (how long Meet creation stays pending)."""
        delay = settings.get("meet_delay_seconds", DEFAULT_MEET_DELAY_SECONDS)
        self.state.meet_delay_seconds = float(delay)
        return {"meet_delay_seconds": self.state.meet_delay_seconds}

    def _calendar(self, user: str) -> GoogleCalendar:
        return self.state.calendar(self.subject(user), None)


def _required(spec: dict[str, Any], name: str) -> str:
    value = spec.get(name)
    if not value:
        raise ApiError(400, "required", f"missing {name}")
    return str(value)
