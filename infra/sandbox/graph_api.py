"""Microsoft Graph v1.0 routes under ``/v1.0/``: events, delta, subscriptions, schedule, rooms."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, jsonify, request

from infra.sandbox import (
    graph_delta,
    graph_events,
    graph_instances,
    graph_places,
    graph_schedule,
    graph_subscriptions,
    graph_times,
    webhook_validation,
)
from infra.sandbox.graph_calendar import GraphEvents
from infra.sandbox.graph_state import GraphState, Mailbox
from infra.sandbox.http_common import json_body, set_logged_user

#: Where the API lives on the sandbox (Graph: ``https://graph.microsoft.com/v1.0``).
GRAPH_PREFIX = "/v1.0"

#: Items per page of plain collections (``/events``, ``/calendarView``) unless ``$top``.
DEFAULT_TOP = 10


class GraphViews:
    """The Graph endpoints the pipeline uses."""

    def __init__(self, state: GraphState) -> None:
        self.state = state
        self.events = GraphEvents(state)

    def blueprint(self) -> Blueprint:
        """A blueprint with every Graph route, for ``/users/{id}`` and ``/me`` alike."""
        bp = Blueprint("graph_v1", __name__, url_prefix=GRAPH_PREFIX)
        for owner in ("/users/<user>", "/me"):
            defaults = {"user": "me"} if owner == "/me" else {}
            for path, view, methods in self._user_rules():
                endpoint = f"{owner}{path} {methods[0]}"
                bp.add_url_rule(owner + path, endpoint, view, methods=methods, defaults=defaults)
        bp.add_url_rule("/subscriptions", view_func=self.list_subscriptions, methods=["GET"])
        bp.add_url_rule("/subscriptions", view_func=self.create_subscription, methods=["POST"])
        item = "/subscriptions/<subscription_id>"
        bp.add_url_rule(item, view_func=self.get_subscription, methods=["GET"])
        bp.add_url_rule(item, view_func=self.renew_subscription, methods=["PATCH"])
        bp.add_url_rule(item, view_func=self.delete_subscription, methods=["DELETE"])
        bp.add_url_rule(f"{item}/reauthorize", view_func=self.reauthorize, methods=["POST"])
        # msgraph-sdk 1.65 asks for the short form of the type cast.
        for number, path in enumerate(("/places/microsoft.graph.room", "/places/graph.room")):
            bp.add_url_rule(path, endpoint=f"rooms{number}", view_func=self.rooms)
        return bp

    def _user_rules(self) -> list[tuple[str, Any, list[str]]]:
        return [
            ("", self.get_user, ["GET"]),
            ("/mailboxSettings", self.mailbox_settings, ["GET"]),
            ("/events", self.list_events, ["GET"]),
            ("/events", self.create_event, ["POST"]),
            ("/calendar/events", self.list_events, ["GET"]),
            ("/calendar/events", self.create_event, ["POST"]),
            ("/events/<event_id>", self.get_event, ["GET"]),
            ("/events/<event_id>", self.update_event, ["PATCH"]),
            ("/events/<event_id>", self.delete_event, ["DELETE"]),
            ("/events/<event_id>/cancel", self.cancel_event, ["POST"]),
            ("/calendarView", self.calendar_view, ["GET"]),
            ("/calendarView/delta", self.delta, ["GET"]),
            ("/calendarView/delta()", self.delta, ["GET"]),
            ("/calendar/getSchedule", self.get_schedule, ["POST"]),
        ]

    def _mailbox(self, user: str) -> Mailbox:
        mailbox = self.state.mailbox(user, g.actor)
        set_logged_user(mailbox.owner.email)
        return mailbox

    def get_user(self, user: str) -> Response:
        """The user's profile."""
        owner = self._mailbox(user).owner
        return jsonify(
            {
                "id": owner.id,
                "displayName": owner.display_name,
                "mail": owner.email,
                "userPrincipalName": owner.email,
                # As Exchange lists them: the primary in capitals, the others in lower case.
                "proxyAddresses": [f"SMTP:{owner.email}", *(f"smtp:{a}" for a in owner.aliases)],
            }
        )

    def mailbox_settings(self, user: str) -> Response:
        """Time zone and working hours."""
        owner = self._mailbox(user).owner
        hours = {**owner.working_hours, "timeZone": {"name": owner.time_zone}}
        return jsonify({"timeZone": owner.time_zone, "workingHours": hours})

    def list_events(self, user: str) -> Response:
        """``GET /events``: the series masters and single events, paged with ``$top``/``$skip``."""
        mailbox = self._mailbox(user)
        with self.state.lock:
            rows = [
                s.resource
                for s in mailbox.events.values()
                if not s.deleted and not s.resource.get("seriesMasterId")
            ]
            return self._collection(rows)

    def calendar_view(self, user: str) -> Response:
        """``GET /calendarView``: singles, occurrences and exceptions within a window."""
        mailbox = self._mailbox(user)
        with self.state.lock:
            window = graph_delta.window(request.args)
            return self._collection(graph_instances.view(mailbox, *window))

    def _collection(self, rows: list[dict[str, Any]]) -> Response:
        top = int(request.args.get("$top", DEFAULT_TOP))
        skip = int(request.args.get("$skip", 0))
        zone = _prefer().get("outlook.timezone")
        page: dict[str, Any] = {
            "@odata.context": f"{_api_base()}$metadata#Collection(event)",
            "value": [graph_events.render(r, zone) for r in rows[skip : skip + top]],
        }
        if skip + top < len(rows):
            args = {**request.args.to_dict(), "$skip": str(skip + top), "$top": str(top)}
            page["@odata.nextLink"] = f"{request.base_url}?{urlencode(args, safe='$:')}"
        return jsonify(page)

    def create_event(self, user: str) -> tuple[Response, int]:
        """``POST /events``."""
        created = self.events.create(self._mailbox(user), json_body())
        return jsonify(_rendered(created)), 201

    def get_event(self, user: str, event_id: str) -> Response:
        """``GET /events/{id}``."""
        return jsonify(_rendered(self.events.get(self._mailbox(user), event_id)))

    def update_event(self, user: str, event_id: str) -> Response:
        """``PATCH /events/{id}``."""
        return jsonify(_rendered(self.events.update(self._mailbox(user), event_id, json_body())))

    def delete_event(self, user: str, event_id: str) -> Response:
        """``DELETE /events/{id}``."""
        self.events.delete(self._mailbox(user), event_id)
        return Response(status=204)

    def cancel_event(self, user: str, event_id: str) -> Response:
        """``POST /events/{id}/cancel``."""
        self.events.cancel(self._mailbox(user), event_id)
        return Response(status=202)

    def delta(self, user: str) -> Response:
        """``GET /calendarView/delta``."""
        mailbox = self._mailbox(user)
        link_base = request.base_url
        with self.state.lock:
            page = graph_delta.delta(self.state, mailbox, request.args, _prefer(), link_base)
        return jsonify(page)

    def get_schedule(self, user: str) -> Response:
        """``POST /calendar/getSchedule``."""
        self._mailbox(user)
        with self.state.lock:
            answer = graph_schedule.get_schedule(
                self.state, json_body(), _prefer().get("outlook.timezone")
            )
        return jsonify(answer)

    def rooms(self) -> Response:
        """``GET /places/microsoft.graph.room``."""
        with self.state.lock:
            rooms = sorted(self.state.directory.rooms.values(), key=lambda r: r.name)
        top = int(request.args["$top"]) if "$top" in request.args else None
        skip = int(request.args.get("$skip", 0))
        return jsonify(graph_places.rooms_page(rooms, top, skip, request.base_url))

    def create_subscription(self) -> tuple[Response, int]:
        """``POST /subscriptions``: validate the endpoints, then answer 201."""
        with self.state.lock:
            subscription = graph_subscriptions.prepare(self.state, json_body(), g.token)
        # The handshake calls out to the receiver, so it runs without holding the lock.
        graph_subscriptions.validate_endpoints(self.state, subscription)
        with self.state.lock:
            self.state.subscriptions[subscription.id] = subscription
        return jsonify(graph_subscriptions.resource_view(subscription, _api_base())), 201

    def list_subscriptions(self) -> Response:
        """``GET /subscriptions``: the calling app's subscriptions."""
        with self.state.lock:
            mine = [
                s for s in graph_subscriptions.live(self.state) if s.client_id == g.token.client_id
            ]
            value = [graph_subscriptions.resource_view(s, _api_base()) for s in mine]
        return jsonify({"value": value})

    def get_subscription(self, subscription_id: str) -> Response:
        """``GET /subscriptions/{id}``."""
        with self.state.lock:
            found = graph_subscriptions.find(self.state, subscription_id, g.token)
            return jsonify(graph_subscriptions.resource_view(found, _api_base()))

    def renew_subscription(self, subscription_id: str) -> Response:
        """``PATCH /subscriptions/{id}``: renew (new ``expirationDateTime``)."""
        body = json_body()
        with self.state.lock:
            found = graph_subscriptions.find(self.state, subscription_id, g.token)
        if body.get("notificationUrl"):
            webhook_validation.validate(body["notificationUrl"], self.state.outbound)
        with self.state.lock:
            graph_subscriptions.renew(self.state, found, body)
            return jsonify(graph_subscriptions.resource_view(found, _api_base()))

    def delete_subscription(self, subscription_id: str) -> Response:
        """``DELETE /subscriptions/{id}``."""
        with self.state.lock:
            found = graph_subscriptions.find(self.state, subscription_id, g.token)
            del self.state.subscriptions[found.id]
        return Response(status=204)

    def reauthorize(self, subscription_id: str) -> Response:
        """``POST /subscriptions/{id}/reauthorize``."""
        with self.state.lock:
            graph_subscriptions.find(self.state, subscription_id, g.token)
        return Response(status=204)


def _prefer() -> dict[str, str]:
    return graph_times.parse_prefer(request.headers.getlist("Prefer"))


def _api_base() -> str:
    return f"{request.host_url}{GRAPH_PREFIX.lstrip('/')}/"


def _rendered(resource: dict[str, Any]) -> dict[str, Any]:
    body = graph_events.render(resource, _prefer().get("outlook.timezone"))
    return {"@odata.context": f"{_api_base()}$metadata#users/events/$entity", **body}
