"""``POST /webhooks/google``: Google Calendar push notifications (PROVIDERS.md §A1).

A push says only "something changed on this channel"; the view checks who sent it and
queues a sync hint for the channel's connection. The body is always empty and ignored.
"""

from __future__ import annotations

import hmac
import re

from flask import Blueprint, Response, current_app, request

from adapters.broker import topology
from adapters.broker.envelope import Envelope, MessageType
from adapters.sql.channels import ChannelRecord, hash_channel_secret
from ingest.errors import ApiError
from ingest.json_body import refuse_oversized_body
from ingest.ports import IngestPorts
from ingest.publishing import publish, trace_id

bp = Blueprint("google", __name__)

#: Header formats. Channel ids are ours (Google's own rule for them, max 64 characters);
#: resource ids are Google's opaque printable strings; message numbers are integers.
HEADER_FORMATS = {
    "X-Goog-Channel-ID": re.compile(r"[A-Za-z0-9_+/=-]{1,64}"),
    "X-Goog-Resource-ID": re.compile(r"[\x21-\x7e]{1,255}"),
    "X-Goog-Resource-State": re.compile(r"[a-z_]{1,32}"),
    "X-Goog-Message-Number": re.compile(r"[0-9]{1,19}"),
}
#: States Calendar sends: ``sync`` when a channel starts, ``exists`` on any change.
RESOURCE_STATES = frozenset({"sync", "exists", "not_exists"})
#: The answer once queued, encoded once (what ``jsonify({"status": "accepted"})`` sends).
ACCEPTED_BODY = b'{"status":"accepted"}\n'


@bp.post("/webhooks/google")
def google_notification() -> Response:
    """Queue a sync hint for the notified channel's connection, then answer 200."""
    refuse_oversized_body()
    headers = _required_headers()
    channel = _authentic_channel(headers["X-Goog-Channel-ID"])
    envelope = Envelope(
        type=MessageType.GOOGLE_NOTIFICATION,
        account_id=channel.account_id,
        connection_id=channel.connection_id,
        trace_id=trace_id(),
        payload={
            "provider": "google",
            "channel_id": channel.id,
            "resource_state": headers["X-Goog-Resource-State"],
            "message_number": int(headers["X-Goog-Message-Number"]),
        },
    )
    publish(envelope, topology.SYNC)
    return current_app.response_class(ACCEPTED_BODY, mimetype="application/json")


def _required_headers() -> dict[str, str]:
    values: dict[str, str] = {}
    for name, pattern in HEADER_FORMATS.items():
        value = request.headers.get(name)
        if value is None:
            raise ApiError(400, "missing_header", f"header {name} is required")
        if not pattern.fullmatch(value):
            raise ApiError(400, "invalid_header", f"header {name} is malformed")
        values[name] = value
    state = values["X-Goog-Resource-State"]
    if state not in RESOURCE_STATES:
        raise ApiError(
            400,
            "invalid_header",
            f"header X-Goog-Resource-State must be sync, exists or not_exists, not {state!r}",
        )
    return values


def _authentic_channel(channel_id: str) -> ChannelRecord:
    ports: IngestPorts = current_app.extensions["calsync"]
    channel = ports.channels.find(channel_id)
    if channel is None or channel.provider != "google" or channel.stopped_at is not None:
        # A stopped channel is answered like an unknown one: Google stops retrying a 404.
        raise ApiError(404, "unknown_channel", f"no active channel {channel_id!r}")
    token = request.headers.get("X-Goog-Channel-Token")
    presented = hash_channel_secret(token) if token is not None else ""
    if not hmac.compare_digest(presented, channel.secret_hash):
        raise ApiError(401, "invalid_token", "X-Goog-Channel-Token does not match the channel")
    return channel
