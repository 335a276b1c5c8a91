"""The Graph sandbox's side of the admin API, plus its lifecycle-event route."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from infra.sandbox import graph_subscriptions
from infra.sandbox.directory import DEFAULT_WORKING_HOURS, Person, Room
from infra.sandbox.errors import ApiError
from infra.sandbox.graph_calendar import GraphEvents
from infra.sandbox.graph_state import GraphState, Mailbox
from infra.sandbox.http_common import json_body
from infra.sandbox.request_log import ADMIN_PREFIX


class GraphAdmin:
    """Admin operations on the Graph sandbox; writes act like Outlook (invitations go out)."""

    def __init__(self, state: GraphState, events: GraphEvents) -> None:
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
        """A user with a mailbox, plus a refresh token as if they had consented."""
        email = _required(spec, "email")
        person = Person(
            email=email,
            display_name=spec.get("displayName") or email.split("@")[0],
            time_zone=spec.get("timeZone") or "UTC",
            working_hours=spec.get("workingHours") or dict(DEFAULT_WORKING_HOURS),
            aliases=tuple(spec.get("aliases") or ()),
        )
        self.state.add_user(person)
        refresh = self.tokens.issue_refresh_token(
            person.id, spec.get("client_id") or "sandbox-client"
        )
        return {**person.as_dict(), "refresh_token": refresh}

    def users(self) -> list[dict[str, Any]]:
        """All users."""
        with self.state.lock:
            return [person.as_dict() for person in self.state.directory.users.values()]

    def subject(self, user: str) -> str:
        """The token subject for a user (their object id)."""
        person = self.state.directory.find_user(user)
        if person is None:
            raise ApiError(404, "ErrorInvalidUser", f"no such user {user}")
        return person.id

    def create_room(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A room listed by the Places API."""
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
        return self.events.create(self._mailbox(user), body, organizer=body.get("organizer"))

    def update_event(
        self, user: str, event_id: str, body: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, Any]:
        """Change an event."""
        return self.events.update(self._mailbox(user), event_id, body)

    def cancel_event(self, user: str, event_id: str, options: dict[str, Any]) -> None:
        """The organizer cancels the meeting."""
        self.events.cancel(self._mailbox(user), event_id)

    def delete_event(self, user: str, event_id: str, options: dict[str, Any]) -> None:
        """Delete an event."""
        self.events.delete(self._mailbox(user), event_id)

    def list_events(self, user: str) -> list[dict[str, Any]]:
        """Every stored event; deleted ones carry ``"@sandbox.deleted": true``."""
        mailbox = self._mailbox(user)
        with self.state.lock:
            return [
                {**s.resource, "@sandbox.deleted": True} if s.deleted else s.resource
                for s in mailbox.events.values()
            ]

    def expire_sync_tokens(self, user: str | None) -> int:
        """Make existing delta (and skip) tokens answer 410 ``syncStateNotFound``."""
        with self.state.lock:
            mailboxes = [self._mailbox(user)] if user else list(self.state.mailboxes.values())
            for mailbox in mailboxes:
                mailbox.epoch += 1
            return len(mailboxes)

    def subscriptions(self) -> list[dict[str, Any]]:
        """Live subscriptions."""
        with self.state.lock:
            return [
                graph_subscriptions.resource_view(s, "")
                for s in graph_subscriptions.live(self.state)
            ]

    def configure(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The Graph sandbox has no settings yet."""
        return {}

    def lifecycle_blueprint(self) -> Blueprint:
        """``POST /_admin/subscriptions/<id>/lifecycle`` with ``{"lifecycleEvent": ...}``."""
        bp = Blueprint("graph_admin_lifecycle", __name__, url_prefix=ADMIN_PREFIX)

        def trigger(subscription_id: str) -> Response:
            """Send a lifecycle event (``{"lifecycleEvent": ...}``) for a subscription."""
            event = json_body().get("lifecycleEvent") or request.args.get("lifecycleEvent", "")
            with self.state.lock:
                found = self.state.subscriptions.get(subscription_id)
                if found is None:
                    raise ApiError(404, "ResourceNotFound", "The object was not found.")
                graph_subscriptions.send_lifecycle(self.state, found, event)
            return Response(status=202)

        bp.add_url_rule(
            "/subscriptions/<subscription_id>/lifecycle", view_func=trigger, methods=["POST"]
        )
        return bp

    def _mailbox(self, user: str) -> Mailbox:
        return self.state.mailbox(self.subject(user), None)


def _required(spec: dict[str, Any], name: str) -> str:
    value = spec.get(name)
    if not value:
        raise ApiError(400, "InvalidRequest", f"missing {name}")
    return str(value)
