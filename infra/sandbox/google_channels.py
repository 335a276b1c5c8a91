"""Push channels: ``events.watch``, ``channels.stop`` and the notifications they cause."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from infra.sandbox.errors import ApiError
from infra.sandbox.google_state import Channel, GoogleCalendar, GoogleState
from infra.sandbox.notifications import Notification
from infra.sandbox.timeutil import epoch_ms, format_rfc1123, from_epoch_ms, utcnow

#: Channel lifetime when the request sets neither ``expiration`` nor ``params.ttl`` (7 days).
DEFAULT_TTL_SECONDS = 604800

#: Hosts allowed over plain http. Google itself accepts only https with a valid
#: certificate; the sandbox relaxes that for webhooks running on this machine.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

#: The user agent Google's push delivery uses.
USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"


def watch(
    state: GoogleState,
    calendar: GoogleCalendar,
    requested_id: str,
    body: dict[str, Any],
    *,
    owner: str,
    api_base: str,
) -> dict[str, Any]:
    """Create a channel on a calendar's events and queue its ``sync`` message.

    Raises:
        ApiError: 400 for a bad or reused channel id, type or address.
    """
    _check_channel_request(state, body)
    channel = Channel(
        id=body["id"],
        resource_id=calendar.resource_id,
        resource_uri=f"{api_base}calendars/{requested_id}/events?alt=json",
        calendar_id=calendar.id,
        address=body["address"],
        token=body.get("token"),
        expiration=_expiration(body),
        owner=owner,
    )
    state.channels[channel.id] = channel
    # The sync message may reach the receiver before this response does, as with Google.
    _send(state, channel, "sync")
    return channel_resource(channel)


def channel_resource(channel: Channel) -> dict[str, Any]:
    """The ``api#channel`` answer to a watch request."""
    resource = {
        "kind": "api#channel",
        "id": channel.id,
        "resourceId": channel.resource_id,
        "resourceUri": channel.resource_uri,
        "expiration": str(epoch_ms(channel.expiration)),
    }
    if channel.token is not None:
        resource["token"] = channel.token
    return resource


def _check_channel_request(state: GoogleState, body: dict[str, Any]) -> None:
    channel_id = body.get("id")
    if not channel_id:
        raise ApiError(400, "required", "Required channel id")
    if len(channel_id) > 64:
        raise ApiError(400, "invalid", "Channel id must be at most 64 characters")
    if channel_id in state.channels:
        raise ApiError(400, "channelIdNotUnique", f"Channel id {channel_id} not unique")
    if body.get("type") not in ("web_hook", "webhook"):
        raise ApiError(400, "invalid", f"Unknown channel type: {body.get('type')}", domain="push")
    if len(body.get("token") or "") > 256:
        raise ApiError(400, "invalid", "Channel token must be at most 256 characters")
    _check_address(body.get("address"))


def _check_address(address: str | None) -> None:
    if not address:
        raise ApiError(400, "required", "Required address", domain="push")
    parts = urlsplit(address)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS):
        return
    raise ApiError(400, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS.", domain="push")


def _expiration(body: dict[str, Any]) -> datetime:
    ttl = int((body.get("params") or {}).get("ttl", DEFAULT_TTL_SECONDS))
    latest = utcnow() + timedelta(seconds=min(ttl, DEFAULT_TTL_SECONDS))
    if body.get("expiration"):
        return min(from_epoch_ms(body["expiration"]), latest)
    return latest


def stop(state: GoogleState, body: dict[str, Any], owner: str | None) -> None:
    """Stop a channel; 404 if the id and resource id do not name one of the caller's."""
    channel = state.channels.get(body.get("id") or "")
    if (
        channel is None
        or channel.resource_id != body.get("resourceId")
        or (owner is not None and channel.owner.lower() != owner.lower())
    ):
        raise ApiError(404, "notFound", f"Channel '{body.get('id')}' not found")
    del state.channels[channel.id]


def notify_change(state: GoogleState, calendar: GoogleCalendar) -> None:
    """Send ``exists`` on every live channel watching ``calendar``; drop expired channels."""
    now = utcnow()
    for channel in list(state.channels.values()):
        if channel.calendar_id != calendar.id:
            continue
        if channel.expiration <= now:
            del state.channels[channel.id]
            continue
        _send(state, channel, "exists")


def _send(state: GoogleState, channel: Channel, resource_state: str) -> None:
    # Message numbers grow but skip values: receivers must not treat them as a cursor.
    step = random.randint(1, 3)  # noqa: S311 - not security related
    channel.message_number = 1 if resource_state == "sync" else channel.message_number + step
    headers = {
        "X-Goog-Channel-ID": channel.id,
        "X-Goog-Channel-Expiration": format_rfc1123(channel.expiration),
        "X-Goog-Resource-ID": channel.resource_id,
        "X-Goog-Resource-URI": channel.resource_uri,
        "X-Goog-Resource-State": resource_state,
        "X-Goog-Message-Number": str(channel.message_number),
        "User-Agent": USER_AGENT,
    }
    if channel.token is not None:
        headers["X-Goog-Channel-Token"] = channel.token
    state.dispatcher.submit(Notification(url=channel.address, headers=headers))
