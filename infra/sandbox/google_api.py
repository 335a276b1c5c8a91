"""Google Calendar v3 routes under ``/calendar/v3/`` (events, channels, freeBusy)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from infra.sandbox import google_channels, google_freebusy, google_instances, google_sync
from infra.sandbox.errors import ApiError
from infra.sandbox.google_calendar import GoogleEvents
from infra.sandbox.google_state import GoogleCalendar, GoogleState
from infra.sandbox.http_common import json_body

#: Where the Calendar API lives on the sandbox (Google: ``https://www.googleapis.com/calendar/v3/``).
CALENDAR_PREFIX = "/calendar/v3"


class CalendarViews:
    """The Calendar API endpoints the pipeline uses."""

    def __init__(self, state: GoogleState) -> None:
        self.state = state
        self.events = GoogleEvents(state)

    def blueprint(self) -> Blueprint:
        """A blueprint with every Calendar route."""
        bp = Blueprint("google_calendar", __name__, url_prefix=CALENDAR_PREFIX)
        events = "/calendars/<calendar_id>/events"
        bp.add_url_rule(events, view_func=self.list_events, methods=["GET"])
        bp.add_url_rule(events, view_func=self.insert_event, methods=["POST"])
        bp.add_url_rule(f"{events}/watch", view_func=self.watch, methods=["POST"])
        bp.add_url_rule(f"{events}/<event_id>", view_func=self.get_event, methods=["GET"])
        bp.add_url_rule(f"{events}/<event_id>", view_func=self.patch_event, methods=["PATCH"])
        bp.add_url_rule(f"{events}/<event_id>", view_func=self.update_event, methods=["PUT"])
        bp.add_url_rule(f"{events}/<event_id>", view_func=self.delete_event, methods=["DELETE"])
        bp.add_url_rule(f"{events}/<event_id>/instances", view_func=self.instances)
        bp.add_url_rule("/calendars/<calendar_id>", view_func=self.get_calendar)
        bp.add_url_rule("/users/me/calendarList", view_func=self.calendar_list)
        bp.add_url_rule("/channels/stop", view_func=self.stop_channel, methods=["POST"])
        bp.add_url_rule("/freeBusy", view_func=self.free_busy, methods=["POST"])
        return bp

    def _calendar(self, calendar_id: str) -> GoogleCalendar:
        return self.state.calendar(calendar_id, g.actor)

    def list_events(self, calendar_id: str) -> Response:
        """``events.list``."""
        extended = {
            name: request.args.getlist(name)
            for name in ("privateExtendedProperty", "sharedExtendedProperty")
        }
        params = {k: v for k, v in request.args.items() if k not in extended}
        with self.state.lock:
            calendar = self._calendar(calendar_id)
            return jsonify(google_sync.list_events(self.state, calendar, params, extended))

    def insert_event(self, calendar_id: str) -> Response:
        """``events.insert``."""
        calendar = self._calendar(calendar_id)
        return jsonify(self.events.insert(calendar, json_body(), **_write_options()))

    def get_event(self, calendar_id: str, event_id: str) -> Response:
        """``events.get``."""
        return jsonify(self.events.get(self._calendar(calendar_id), event_id))

    def patch_event(self, calendar_id: str, event_id: str) -> Response:
        """``events.patch``."""
        calendar = self._calendar(calendar_id)
        options = _write_options()
        return jsonify(
            self.events.patch(calendar, event_id, json_body(), **options, if_match=_if_match())
        )

    def update_event(self, calendar_id: str, event_id: str) -> Response:
        """``events.update``."""
        calendar = self._calendar(calendar_id)
        options = _write_options()
        return jsonify(
            self.events.update(calendar, event_id, json_body(), **options, if_match=_if_match())
        )

    def delete_event(self, calendar_id: str, event_id: str) -> Response:
        """``events.delete``."""
        calendar = self._calendar(calendar_id)
        self.events.delete(calendar, event_id, send_updates=_write_options()["send_updates"])
        return Response(status=204)

    def instances(self, calendar_id: str, event_id: str) -> Response:
        """``events.instances``: the instances of a series."""
        with self.state.lock:
            calendar = self._calendar(calendar_id)
            series = self.events.get(calendar, event_id)
            items = [
                i for i in google_instances.expand(calendar, series) if i["status"] != "cancelled"
            ]
            return jsonify({"kind": "calendar#events", "timeZone": calendar.zone, "items": items})

    def get_calendar(self, calendar_id: str) -> Response:
        """``calendars.get``."""
        return jsonify(_calendar_resource(self._calendar(calendar_id), "calendar#calendar"))

    def calendar_list(self) -> Response:
        """``calendarList.list``: only the caller's primary calendar."""
        item = _calendar_resource(self._calendar("primary"), "calendar#calendarListEntry")
        item.update(primary=True, accessRole="owner")
        return jsonify({"kind": "calendar#calendarList", "items": [item]})

    def watch(self, calendar_id: str) -> Response:
        """``events.watch``."""
        api_base = request.host_url + CALENDAR_PREFIX.lstrip("/") + "/"
        with self.state.lock:
            calendar = self._calendar(calendar_id)
            channel = google_channels.watch(
                self.state, calendar, calendar_id, json_body(), owner=g.actor, api_base=api_base
            )
        return jsonify(channel)

    def stop_channel(self) -> Response:
        """``channels.stop``."""
        with self.state.lock:
            google_channels.stop(self.state, json_body(), g.actor)
        return Response(status=204)

    def free_busy(self) -> Response:
        """``freebusy.query``."""
        with self.state.lock:
            return jsonify(google_freebusy.query(self.state, json_body(), g.actor))


def _write_options() -> dict[str, Any]:
    send_updates = request.args.get("sendUpdates")
    if send_updates is None and request.args.get("sendNotifications") == "true":
        send_updates = "all"  # the deprecated flag means "notify everyone"
    if send_updates not in (None, "all", "externalOnly", "none"):
        raise ApiError(400, "invalid", f"Invalid value for sendUpdates: {send_updates}")
    try:
        version = int(request.args.get("conferenceDataVersion", "0"))
    except ValueError:
        raise ApiError(400, "invalid", "Invalid value for conferenceDataVersion") from None
    return {"send_updates": send_updates, "conference_version": version}


def _if_match() -> str | None:
    return request.headers.get("If-Match")


def _calendar_resource(calendar: GoogleCalendar, kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "etag": f'"{calendar.epoch}"',
        "id": calendar.id,
        "summary": calendar.id,
        "timeZone": calendar.zone,
    }
