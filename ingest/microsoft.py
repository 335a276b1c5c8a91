"""Microsoft Graph change and lifecycle notifications (PROVIDERS.md §B2-B4).

Both routes answer the subscription handshake first. A notification POST carries a batch
of items, possibly for many subscriptions; each item is checked on its own against its
subscription's ``clientState``, bad items are dropped and counted, and the good ones become
one hint per connection (change notifications) or per lifecycle event.
"""

from __future__ import annotations

import hmac
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from flask import Blueprint, Response, current_app, jsonify, request

from adapters.broker import topology
from adapters.broker.envelope import Envelope, MessageType
from adapters.sql.channels import ChannelRecord, hash_channel_secret
from ingest.errors import ApiError
from ingest.json_body import decode_json_object, require_json_content_type
from ingest.metrics import WEBHOOK_ITEMS_REJECTED
from ingest.ports import IngestPorts
from ingest.publishing import publish, trace_id

bp = Blueprint("microsoft", __name__)
log = structlog.get_logger("calsync.ingest.microsoft")

#: Longest handshake token echoed; Graph's are a few hundred characters at most.
MAX_VALIDATION_TOKEN = 1024
#: ``changeType`` is one word or a comma-separated list of words ("created,updated").
_CHANGE_TYPE = re.compile(r"[A-Za-z]{1,32}(?:,[A-Za-z]{1,32}){0,7}")
#: ``lifecycleEvent``: reauthorizationRequired, subscriptionRemoved, missed, or a newer word.
_LIFECYCLE_EVENT = re.compile(r"[A-Za-z]{1,64}")

#: Dropped items logged one by one per batch; the rest are counted in one line.
MAX_LOGGED_REJECTIONS = 20


@bp.post("/webhooks/microsoft")
def change_notifications() -> Response | tuple[Response, int]:
    """Graph change notifications for calendar events, or the subscription handshake."""
    return _receive("microsoft")


@bp.post("/webhooks/microsoft/lifecycle")
def lifecycle_notifications() -> Response | tuple[Response, int]:
    """Graph lifecycle notifications (reauthorize, removed, missed), or the handshake."""
    return _receive("microsoft_lifecycle")


def _receive(source: str) -> Response | tuple[Response, int]:
    token = request.args.get("validationToken")
    if token is not None:
        # Graph waits at most 10 s for the echo and creates no subscription without it,
        # so nothing (body, database) may stand in its way.
        return _echo(token)
    require_json_content_type()
    batch = decode_json_object(request.get_data(cache=True))
    items = batch.get("value")
    if not isinstance(items, list):
        raise ApiError(400, "invalid_body", "the body must be an object with a 'value' array")
    hints = _collect_hints(items, source)
    for queue, envelope in hints.envelopes():
        publish(envelope, queue)
    return jsonify({"status": "accepted"}), 202


def _echo(token: str) -> Response:
    if len(token) > MAX_VALIDATION_TOKEN:
        raise ApiError(
            400,
            "invalid_validation_token",
            f"validationToken is longer than {MAX_VALIDATION_TOKEN} characters",
        )
    response = Response(token, 200, mimetype="text/plain")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@dataclass
class _Hints:
    """The messages a batch turns into, deduplicated."""

    #: Change notifications: connection id -> (first subscription seen, change types).
    changes: dict[str, tuple[ChannelRecord, set[str]]] = field(default_factory=dict)
    #: Lifecycle events: (subscription id, event) -> subscription.
    lifecycle: dict[tuple[str, str], ChannelRecord] = field(default_factory=dict)

    def add(self, channel: ChannelRecord, item: dict[str, Any]) -> None:
        event = item.get("lifecycleEvent")
        if event is not None:
            self.lifecycle.setdefault((channel.id, event), channel)
            return
        _first, types = self.changes.setdefault(channel.connection_id, (channel, set()))
        types.update(item["changeType"].split(","))

    def envelopes(self) -> list[tuple[topology.WorkQueue, Envelope]]:
        messages = [(topology.SYNC, _change_hint(c, types)) for c, types in self.changes.values()]
        messages += [
            (topology.CONNECTIONS, _lifecycle_hint(channel, event))
            for (_id, event), channel in self.lifecycle.items()
        ]
        return messages


def _collect_hints(items: list[Any], source: str) -> _Hints:
    ports: IngestPorts = current_app.extensions["calsync"]
    # One lookup for the whole batch: it may name thousands of subscriptions.
    channels = ports.channels.find_many(
        {item["subscriptionId"] for item in items if _well_formed(item)}
    )
    hints, rejected = _Hints(), []
    for item in items:
        reason, channel = _check_item(item, channels)
        if channel is None:
            rejected.append((reason, item))
        else:
            hints.add(channel, item)
    _report_rejections(rejected, source)
    return hints


def _check_item(
    item: Any, channels: Mapping[str, ChannelRecord]
) -> tuple[str, ChannelRecord | None]:
    """Return ``("ok", channel)`` for an authentic item, else ``(reason, None)``."""
    if not _well_formed(item):
        return "malformed", None
    channel = channels.get(item["subscriptionId"])
    if channel is None or channel.provider != "microsoft":
        return "unknown_subscription", None
    if channel.stopped_at is not None:
        return "stopped_subscription", None
    client_state = item.get("clientState")
    presented = hash_channel_secret(client_state) if isinstance(client_state, str) else ""
    if not hmac.compare_digest(presented, channel.secret_hash):
        return "client_state_mismatch", None
    return "ok", channel


def _report_rejections(rejected: list[tuple[str, Any]], source: str) -> None:
    """Count every dropped item; log the first few, so a junk batch cannot flood the log."""
    for reason, count in Counter(reason for reason, _item in rejected).items():
        WEBHOOK_ITEMS_REJECTED.labels(source=source, reason=reason).inc(count)
    for reason, item in rejected[:MAX_LOGGED_REJECTIONS]:
        log.warning(
            "notification item dropped",
            source=source,
            reason=reason,
            subscription_id=_subscription_id_for_log(item),
        )
    if len(rejected) > MAX_LOGGED_REJECTIONS:
        log.warning(
            "more notification items dropped",
            source=source,
            count=len(rejected) - MAX_LOGGED_REJECTIONS,
        )


def _well_formed(item: Any) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("subscriptionId"), str):
        return False
    if "lifecycleEvent" in item:
        event = item["lifecycleEvent"]
        return isinstance(event, str) and _LIFECYCLE_EVENT.fullmatch(event) is not None
    change_type = item.get("changeType")
    return isinstance(change_type, str) and _CHANGE_TYPE.fullmatch(change_type) is not None


def _subscription_id_for_log(item: Any) -> str | None:
    value = item.get("subscriptionId") if isinstance(item, dict) else None
    return value[:80] if isinstance(value, str) else None


def _change_hint(channel: ChannelRecord, change_types: set[str]) -> Envelope:
    return Envelope(
        type=MessageType.GRAPH_NOTIFICATION,
        account_id=channel.account_id,
        connection_id=channel.connection_id,
        trace_id=trace_id(),
        payload={
            "provider": "microsoft",
            "subscription_id": channel.id,
            "change_types": sorted(change_types),
        },
    )


def _lifecycle_hint(channel: ChannelRecord, event: str) -> Envelope:
    return Envelope(
        type=MessageType.GRAPH_LIFECYCLE,
        account_id=channel.account_id,
        connection_id=channel.connection_id,
        trace_id=trace_id(),
        payload={"subscription_id": channel.id, "lifecycle_event": event},
    )
