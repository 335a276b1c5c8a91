"""The admin HTTP API under ``/_admin``, the same shape on both sandboxes.

Tests and the demo use it (through :class:`infra.sandbox.client.SandboxAdminClient`) to
create users, rooms and events "as a person would", read what was sent and logged, arm
faults, and expire or revoke tokens. It needs no authentication.
"""

from __future__ import annotations

from typing import Any, Protocol

from flask import Blueprint, Response, current_app, jsonify, request

from infra.sandbox.errors import ApiError
from infra.sandbox.faults import FaultPlan
from infra.sandbox.http_common import json_body
from infra.sandbox.invitations import InvitationLog
from infra.sandbox.notifications import NotificationDispatcher
from infra.sandbox.request_log import ADMIN_PREFIX, RequestLog
from infra.sandbox.tokens import TokenStore


class AdminBackend(Protocol):
    """What each sandbox provides to the admin API."""

    tokens: TokenStore
    faults: FaultPlan
    requests: RequestLog
    invitations: InvitationLog
    dispatcher: NotificationDispatcher

    def reset(self) -> None: ...
    def create_user(self, spec: dict[str, Any]) -> dict[str, Any]: ...
    def users(self) -> list[dict[str, Any]]: ...
    def subject(self, user: str) -> str: ...
    def create_room(self, spec: dict[str, Any]) -> dict[str, Any]: ...
    def create_event(
        self, user: str, body: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, Any]: ...
    def update_event(
        self, user: str, event_id: str, body: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, Any]: ...
    def cancel_event(self, user: str, event_id: str, options: dict[str, Any]) -> None: ...
    def delete_event(self, user: str, event_id: str, options: dict[str, Any]) -> None: ...
    def list_events(self, user: str) -> list[dict[str, Any]]: ...
    def expire_sync_tokens(self, user: str | None) -> int: ...
    def subscriptions(self) -> list[dict[str, Any]]: ...
    def configure(self, settings: dict[str, Any]) -> dict[str, Any]: ...


class AdminViews:
    """Routes shared by both sandboxes; provider-specific ones are added by the caller."""

    def __init__(self, backend: AdminBackend) -> None:
        self.backend = backend

    def blueprint(self) -> Blueprint:
        """The ``/_admin`` blueprint."""
        bp = Blueprint("sandbox_admin", __name__, url_prefix=ADMIN_PREFIX)
        rules: list[tuple[str, Any, list[str]]] = [
            ("", self.routes, ["GET"]),
            ("/reset", self.reset, ["POST"]),
            ("/users", self.create_user, ["POST"]),
            ("/users", self.list_users, ["GET"]),
            ("/users/<user>/refresh-tokens", self.issue_refresh_token, ["POST"]),
            ("/rooms", self.create_room, ["POST"]),
            ("/users/<user>/events", self.create_event, ["POST"]),
            ("/users/<user>/events/batch", self.create_events, ["POST"]),
            ("/users/<user>/events", self.list_events, ["GET"]),
            ("/users/<user>/events/<event_id>", self.update_event, ["PATCH"]),
            ("/users/<user>/events/<event_id>/cancel", self.cancel_event, ["POST"]),
            ("/users/<user>/events/<event_id>", self.delete_event, ["DELETE"]),
            ("/invitations", self.invitations, ["GET"]),
            ("/requests", self.requests, ["GET"]),
            ("/requests", self.clear_requests, ["DELETE"]),
            ("/deliveries", self.deliveries, ["GET"]),
            ("/subscriptions", self.subscriptions, ["GET"]),
            ("/faults", self.faults, ["GET"]),
            ("/faults", self.add_fault, ["POST"]),
            ("/faults", self.clear_faults, ["DELETE"]),
            ("/tokens/expire-sync", self.expire_sync_tokens, ["POST"]),
            ("/tokens/expire-access", self.expire_access_tokens, ["POST"]),
            ("/tokens/revoke", self.revoke, ["POST"]),
            ("/tokens/lifetime", self.token_lifetime, ["POST"]),
            ("/settings", self.configure, ["POST"]),
        ]
        for path, view, methods in rules:
            bp.add_url_rule(path, endpoint=view.__name__, view_func=view, methods=methods)
        return bp

    def routes(self) -> Response:
        """This list: every admin route with its methods and what it does."""
        return jsonify(admin_routes())

    def reset(self) -> Response:
        """Forget everything: users, events, subscriptions, tokens, faults and logs."""
        self.backend.reset()
        return Response(status=204)

    def create_user(self) -> tuple[Response, int]:
        """Create a user with a calendar; the answer includes a refresh token for them."""
        return jsonify(self.backend.create_user(json_body())), 201

    def list_users(self) -> Response:
        """All users."""
        return jsonify(self.backend.users())

    def issue_refresh_token(self, user: str) -> tuple[Response, int]:
        """Another refresh token for a user (for a given ``client_id``)."""
        client_id = json_body().get("client_id") or "sandbox-client"
        token = self.backend.tokens.issue_refresh_token(self.backend.subject(user), client_id)
        return jsonify({"refresh_token": token}), 201

    def create_room(self) -> tuple[Response, int]:
        """Create a bookable room."""
        return jsonify(self.backend.create_room(json_body())), 201

    def create_event(self, user: str) -> tuple[Response, int]:
        """Create an event in a user's calendar as the user would in the calendar app."""
        return jsonify(self.backend.create_event(user, json_body(), _options())), 201

    def create_events(self, user: str) -> tuple[Response, int]:
        """Create many events at once (``{"events": [...]}``)."""
        bodies = json_body().get("events") or []
        created = [self.backend.create_event(user, body, _options()) for body in bodies]
        return jsonify(created), 201

    def list_events(self, user: str) -> Response:
        """Every event stored for a user, deleted ones included."""
        return jsonify(self.backend.list_events(user))

    def update_event(self, user: str, event_id: str) -> Response:
        """Change an event as the user would."""
        return jsonify(self.backend.update_event(user, event_id, json_body(), _options()))

    def cancel_event(self, user: str, event_id: str) -> Response:
        """Cancel a meeting as its organizer would."""
        self.backend.cancel_event(user, event_id, _options())
        return Response(status=204)

    def delete_event(self, user: str, event_id: str) -> Response:
        """Delete an event as the user would."""
        self.backend.delete_event(user, event_id, _options())
        return Response(status=204)

    def invitations(self) -> Response:
        """Invitations, updates and cancellations sent, optionally for one ``recipient``."""
        return jsonify(self.backend.invitations.as_dicts(request.args.get("recipient")))

    def requests(self) -> Response:
        """The provider-call log."""
        return jsonify(self.backend.requests.as_dicts())

    def clear_requests(self) -> Response:
        """Empty the provider-call log."""
        self.backend.requests.clear()
        return Response(status=204)

    def deliveries(self) -> Response:
        """Every notification delivery attempt."""
        return jsonify(self.backend.dispatcher.deliveries())

    def subscriptions(self) -> Response:
        """Live push channels (Google) or subscriptions (Graph)."""
        return jsonify(self.backend.subscriptions())

    def faults(self) -> Response:
        """The armed faults."""
        return jsonify(self.backend.faults.describe())

    def add_fault(self) -> tuple[Response, int]:
        """Arm a fault: ``{"kind": "status"|"latency"|"notifications", ...}``."""
        _arm_fault(self.backend.faults, json_body())
        return jsonify(self.backend.faults.describe()), 201

    def clear_faults(self) -> Response:
        """Disarm every fault and release notifications held for reordering."""
        self.backend.faults.clear()
        self.backend.dispatcher.release_held()
        return Response(status=204)

    def expire_sync_tokens(self) -> Response:
        """Invalidate sync tokens (Google) or delta tokens (Graph), for one user or all."""
        count = self.backend.expire_sync_tokens(json_body().get("user"))
        return jsonify({"expired": count})

    def expire_access_tokens(self) -> Response:
        """Make access tokens expire now, for one user or all."""
        user = json_body().get("user")
        subject = self.backend.subject(user) if user else None
        return jsonify({"expired": self.backend.tokens.expire_access_tokens(subject)})

    def revoke(self) -> Response:
        """Revoke a refresh token, or every refresh token of a user."""
        body = json_body()
        subject = self.backend.subject(body["user"]) if body.get("user") else None
        count = self.backend.tokens.revoke(refresh_token=body.get("refresh_token"), subject=subject)
        return jsonify({"revoked": count})

    def token_lifetime(self) -> Response:
        """Set the lifetime of access tokens issued from now on."""
        self.backend.tokens.lifetime_seconds = int(json_body()["seconds"])
        return jsonify({"seconds": self.backend.tokens.lifetime_seconds})

    def configure(self) -> Response:
        """Provider-specific settings, e.g. the Meet creation delay."""
        return jsonify(self.backend.configure(json_body()))


def admin_routes() -> list[dict[str, str]]:
    """The app's ``/_admin`` routes: path, one method each, the view's first docstring line."""
    listed: list[dict[str, str]] = []
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith(ADMIN_PREFIX):
            continue
        doc = (current_app.view_functions[rule.endpoint].__doc__ or "").strip()
        summary = doc.splitlines()[0].replace("``", "") if doc else ""
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            listed.append({"method": method, "path": rule.rule, "description": summary})
    return sorted(listed, key=lambda route: (route["path"], route["method"]))


def _options() -> dict[str, Any]:
    return request.args.to_dict()


def _arm_fault(faults: FaultPlan, spec: dict[str, Any]) -> None:
    kind = spec.get("kind")
    try:
        if kind == "status":
            faults.add_status(
                int(spec["status"]),
                count=int(spec.get("count", 1)),
                path=spec.get("path"),
                method=spec.get("method"),
                retry_after=spec.get("retry_after"),
            )
        elif kind == "latency":
            faults.add_latency(
                float(spec["seconds"]),
                count=spec.get("count"),
                path=spec.get("path"),
                after=bool(spec.get("after", False)),
            )
        elif kind == "notifications":
            faults.add_notification_fault(str(spec["mode"]), count=int(spec.get("count", 1)))
        else:
            raise ApiError(400, "invalid", f"unknown fault kind {kind!r}")
    except (KeyError, ValueError) as exc:
        raise ApiError(400, "invalid", f"bad fault specification: {exc}") from None
