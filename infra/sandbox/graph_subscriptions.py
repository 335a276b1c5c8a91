"""Graph change-notification subscriptions: create (with validation), renew, delete, notify."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from infra.sandbox import graph_times, webhook_validation
from infra.sandbox.errors import ApiError
from infra.sandbox.graph_state import GraphState, Mailbox, Subscription
from infra.sandbox.ids import guid
from infra.sandbox.notifications import Notification
from infra.sandbox.timeutil import utcnow
from infra.sandbox.tokens import AccessToken

#: Longest lifetime Graph grants an Outlook event subscription (just under 7 days).
MAX_LIFETIME = timedelta(minutes=10080)

#: Longest ``clientState`` Graph accepts.
MAX_CLIENT_STATE = 128

CHANGE_TYPES = ("created", "updated", "deleted")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")

#: Hosts allowed over plain http. Graph itself requires https; the sandbox relaxes that
#: for receivers running on this machine.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

_RESOURCE = re.compile(r"^/?(me|users/([^/]+))/(?:calendar/)?events/?$", re.IGNORECASE)


def prepare(state: GraphState, body: dict[str, Any], token: AccessToken) -> Subscription:
    """Check a create request and build the subscription (not yet validated or stored).

    Raises:
        ApiError: 400 for bad fields, 403/404 for a mailbox the caller cannot reach,
            409 when the app already subscribes to the same resource and change types.
    """
    for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
        if not body.get(name):
            raise ApiError(400, "InvalidRequest", f"The property '{name}' is required.")
    change_types = _change_types(body["changeType"])
    mailbox = _mailbox(state, body["resource"], token.subject)
    subscription = Subscription(
        id=guid(),
        resource=body["resource"],
        mailbox_id=mailbox.owner.id,
        change_types=change_types,
        notification_url=_url(body["notificationUrl"]),
        lifecycle_url=_url(body["lifecycleNotificationUrl"])
        if body.get("lifecycleNotificationUrl")
        else None,
        client_state=_client_state(body.get("clientState")),
        expiration=_expiration(body["expirationDateTime"]),
        client_id=token.client_id,
        creator=token.subject,
        tls_version=body.get("latestSupportedTlsVersion") or "v1_2",
    )
    _check_unique(state, subscription)
    return subscription


def _change_types(value: str) -> list[str]:
    types = [t.strip() for t in value.split(",") if t.strip()]
    if not types or any(t not in CHANGE_TYPES for t in types):
        raise ApiError(400, "InvalidRequest", f"Invalid changeType: {value}")
    return types


def _mailbox(state: GraphState, resource: str, actor: str | None) -> Mailbox:
    match = _RESOURCE.match(resource)
    if match is None:
        raise ApiError(400, "InvalidRequest", f"Resource '{resource}' is not supported.")
    return state.mailbox(match.group(2) or "me", actor)


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS):
        return value
    raise ApiError(400, "ValidationError", "The Notification Url must use https.")


def _client_state(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_CLIENT_STATE:
        raise ApiError(400, "InvalidRequest", "clientState must be at most 128 characters.")
    return value


def _expiration(value: str) -> datetime:
    try:
        moment = graph_times.parse({"dateTime": value, "timeZone": "UTC"}, "expiration")
    except ApiError:
        raise ApiError(400, "InvalidRequest", f"Invalid expirationDateTime: {value}") from None
    now = utcnow()
    if moment <= now:
        raise ApiError(400, "ExtensionError", "Subscription expiration must be in the future.")
    if moment > now + MAX_LIFETIME:
        raise ApiError(
            400,
            "ExtensionError",
            "Subscription expiration can only be 10080 minutes in the future.",
        )
    return moment


def _check_unique(state: GraphState, new: Subscription) -> None:
    for old in live(state):
        if (old.client_id, old.mailbox_id, sorted(old.change_types)) == (
            new.client_id,
            new.mailbox_id,
            sorted(new.change_types),
        ):
            raise ApiError(
                409,
                "Conflict",
                f"Subscription Id {old.id} already exists for the requested combination",
            )


def validate_endpoints(state: GraphState, subscription: Subscription) -> None:
    """The ``validationToken`` handshake with each address; call without holding the lock."""
    urls = [subscription.notification_url]
    if subscription.lifecycle_url:
        urls.append(subscription.lifecycle_url)
    for url in urls:
        webhook_validation.validate(url, state.outbound)


def live(state: GraphState) -> list[Subscription]:
    """Subscriptions that have not expired (expired ones are forgotten)."""
    now = utcnow()
    for expired in [s for s in state.subscriptions.values() if s.expiration <= now]:
        del state.subscriptions[expired.id]
    return list(state.subscriptions.values())


def find(state: GraphState, subscription_id: str, token: AccessToken) -> Subscription:
    """A live subscription of the calling app; 404 otherwise."""
    found = next((s for s in live(state) if s.id == subscription_id), None)
    if found is None or found.client_id != token.client_id:
        raise ApiError(404, "ResourceNotFound", "The object was not found.")
    return found


def renew(state: GraphState, subscription: Subscription, body: dict[str, Any]) -> None:
    """PATCH: a new ``expirationDateTime`` (and possibly ``notificationUrl``, validated)."""
    if body.get("expirationDateTime"):
        subscription.expiration = _expiration(body["expirationDateTime"])
    if body.get("notificationUrl"):
        subscription.notification_url = _url(body["notificationUrl"])


def resource_view(subscription: Subscription, base_url: str) -> dict[str, Any]:
    """The subscription as the API returns it."""
    return {
        "@odata.context": f"{base_url}$metadata#subscriptions/$entity",
        "id": subscription.id,
        "resource": subscription.resource,
        "applicationId": subscription.client_id,
        "changeType": ",".join(subscription.change_types),
        "clientState": subscription.client_state,
        "notificationUrl": subscription.notification_url,
        "notificationQueryOptions": None,
        "lifecycleNotificationUrl": subscription.lifecycle_url,
        "expirationDateTime": graph_times.utc_stamp(subscription.expiration),
        "creatorId": subscription.creator,
        "includeResourceData": False,
        "latestSupportedTlsVersion": subscription.tls_version,
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationUrlAppId": None,
    }


def notify_change(
    state: GraphState, mailbox: Mailbox, event_id: str, change_type: str, etag: str | None
) -> None:
    """Queue a change notification for each live subscription on ``mailbox``."""
    for subscription in live(state):
        if (
            subscription.mailbox_id != mailbox.owner.id
            or change_type not in subscription.change_types
        ):
            continue
        path = f"Users/{mailbox.owner.id}/Events/{event_id}"
        resource_data = {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": path, "id": event_id}
        if etag:
            resource_data["@odata.etag"] = etag
        item = {
            **_common(state, subscription),
            "changeType": change_type,
            "resource": path,
            "resourceData": resource_data,
        }
        _submit(state, subscription.notification_url, item)


def send_lifecycle(state: GraphState, subscription: Subscription, event: str) -> None:
    """Send a lifecycle notification; ``subscriptionRemoved`` also removes the subscription.

    Raises:
        ApiError: 400 for an unknown event or a subscription without a lifecycle address.
    """
    if event not in LIFECYCLE_EVENTS:
        raise ApiError(400, "InvalidRequest", f"Unknown lifecycle event {event}")
    if subscription.lifecycle_url is None:
        raise ApiError(400, "InvalidRequest", "The subscription has no lifecycleNotificationUrl.")
    _submit(
        state, subscription.lifecycle_url, {**_common(state, subscription), "lifecycleEvent": event}
    )
    if event == "subscriptionRemoved":
        state.subscriptions.pop(subscription.id, None)


def _common(state: GraphState, subscription: Subscription) -> dict[str, Any]:
    return {
        "id": guid(),
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": graph_times.utc_stamp(subscription.expiration),
        "clientState": subscription.client_state,
        "tenantId": state.tenant_id,
    }


def _submit(state: GraphState, url: str, item: dict[str, Any]) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    state.dispatcher.submit(Notification(url=url, headers=headers, item=item))
