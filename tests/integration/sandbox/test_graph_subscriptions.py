"""Graph subscriptions through msgraph-sdk: validation handshake, notifications, lifecycle."""

from __future__ import annotations

from typing import Any

import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.subscription import Subscription

from infra.sandbox.client import SandboxAdminClient
from tests.integration.sandbox.graph_client import error_code, in_hours, timed
from tests.integration.sandbox.webhook import WebhookReceiver


def subscribe(graph: Any, run: Any, webhook: WebhookReceiver, **fields: Any) -> Any:
    values: dict[str, Any] = {
        "change_type": "created,updated,deleted",
        "notification_url": f"{webhook.url}/notify?tenant=acme",
        "lifecycle_notification_url": f"{webhook.url}/lifecycle",
        "resource": "me/events",
        "expiration_date_time": in_hours(24),
        "client_state": "s3cret",
    }
    values.update(fields)
    return run(graph.subscriptions.post(Subscription(**values)))


def add_event(graph_admin: SandboxAdminClient, subject: str = "x") -> dict[str, Any]:
    body = timed("2026-05-01T10:00:00", "2026-05-01T11:00:00", subject=subject)
    return graph_admin.create_event("bea@contoso.com", body)


def test_create_validates_both_addresses_before_answering(
    graph: Any, run: Any, bea: dict[str, Any], webhook: WebhookReceiver
) -> None:
    created = subscribe(graph, run, webhook)

    validations = webhook.validations()
    assert [v.path for v in validations] == ["/notify", "/lifecycle"]
    token = validations[0].query["validationToken"]
    assert token.startswith("Validation: Testing client application reachability")
    assert validations[0].query["tenant"] == "acme"
    assert validations[0].headers["Content-Type"].startswith("text/plain")
    assert created.id
    assert created.client_state == "s3cret"
    assert created.change_type == "created,updated,deleted"
    assert created.expiration_date_time > in_hours(23)


@pytest.mark.parametrize("reply", ["wrong token", ""])
def test_failed_validation_creates_nothing(
    graph: Any,
    run: Any,
    webhook: WebhookReceiver,
    graph_admin: SandboxAdminClient,
    reply: str,
) -> None:
    webhook.validation_reply = reply

    with pytest.raises(ODataError) as refused:
        subscribe(graph, run, webhook)

    assert refused.value.response_status_code == 400
    assert error_code(refused.value) == "ValidationError"
    assert graph_admin.subscriptions() == []


def test_changes_are_notified_with_client_state(
    graph: Any,
    run: Any,
    bea: dict[str, Any],
    webhook: WebhookReceiver,
    graph_admin: SandboxAdminClient,
) -> None:
    subscription = subscribe(graph, run, webhook)

    event = add_event(graph_admin)
    graph_admin.update_event("bea@contoso.com", event["id"], {"subject": "y"})
    graph_admin.delete_event("bea@contoso.com", event["id"])
    items = webhook.wait_for_items(3)

    assert [i["changeType"] for i in items] == ["created", "updated", "deleted"]
    first = items[0]
    assert first["subscriptionId"] == subscription.id
    assert first["clientState"] == "s3cret"
    assert first["tenantId"]
    assert first["resource"] == f"Users/{bea['id']}/Events/{event['id']}"
    assert first["resourceData"]["id"] == event["id"]
    assert first["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
    assert {r.path for r in webhook.notifications()} == {"/notify"}
    assert all(r.query == {"tenant": "acme"} for r in webhook.notifications())


def test_notifications_for_one_address_are_batched(
    graph: Any,
    run: Any,
    bea: dict[str, Any],
    webhook: WebhookReceiver,
    graph_admin: SandboxAdminClient,
) -> None:
    subscribe(graph, run, webhook, change_type="created")

    graph_admin.create_events(
        "bea@contoso.com", [timed("2026-05-01T10:00:00", "2026-05-01T11:00:00")] * 5
    )

    received = webhook.settle(0.3)
    assert sum(len(r.json()["value"]) for r in received) == 5
    assert len(received) < 5


def test_change_types_filter_notifications(
    graph: Any,
    run: Any,
    bea: dict[str, Any],
    webhook: WebhookReceiver,
    graph_admin: SandboxAdminClient,
) -> None:
    subscribe(graph, run, webhook, change_type="deleted")

    event = add_event(graph_admin)
    graph_admin.delete_event("bea@contoso.com", event["id"])

    [delivery] = webhook.wait_for(1)
    assert [i["changeType"] for i in delivery.json()["value"]] == ["deleted"]
    assert len(webhook.settle(0.2)) == 1


def test_renew_and_delete(
    graph: Any,
    run: Any,
    bea: dict[str, Any],
    webhook: WebhookReceiver,
    graph_admin: SandboxAdminClient,
) -> None:
    subscription = subscribe(graph, run, webhook)
    item = graph.subscriptions.by_subscription_id(subscription.id)

    renewed = run(item.patch(Subscription(expiration_date_time=in_hours(48))))
    assert renewed.expiration_date_time > in_hours(47)
    run(item.delete())
    add_event(graph_admin)

    assert webhook.settle(0.3) == []
    assert graph_admin.subscriptions() == []
    with pytest.raises(ODataError) as gone:
        run(item.get())
    assert gone.value.response_status_code == 404


def test_expiration_beyond_the_maximum_is_refused(
    graph: Any, run: Any, bea: dict[str, Any], webhook: WebhookReceiver
) -> None:
    with pytest.raises(ODataError) as refused:
        subscribe(graph, run, webhook, expiration_date_time=in_hours(24 * 8))
    assert refused.value.response_status_code == 400


def test_duplicate_subscriptions_conflict(
    graph: Any, run: Any, bea: dict[str, Any], webhook: WebhookReceiver
) -> None:
    subscribe(graph, run, webhook)
    with pytest.raises(ODataError) as conflict:
        subscribe(graph, run, webhook)
    assert conflict.value.response_status_code == 409


@pytest.mark.parametrize("event", ["reauthorizationRequired", "missed", "subscriptionRemoved"])
def test_lifecycle_events_on_demand(
    graph: Any,
    run: Any,
    webhook: WebhookReceiver,
    graph_admin: SandboxAdminClient,
    event: str,
) -> None:
    subscription = subscribe(graph, run, webhook)

    graph_admin.trigger_lifecycle(subscription.id, event)

    [delivery] = webhook.wait_for(1, path="/lifecycle")
    [item] = delivery.json()["value"]
    assert item["lifecycleEvent"] == event
    assert item["subscriptionId"] == subscription.id
    assert item["clientState"] == "s3cret"
    still_there = [s["id"] for s in graph_admin.subscriptions()]
    assert still_there == ([] if event == "subscriptionRemoved" else [subscription.id])


def test_reauthorize(graph: Any, run: Any, bea: dict[str, Any], webhook: WebhookReceiver) -> None:
    subscription = subscribe(graph, run, webhook)
    run(graph.subscriptions.by_subscription_id(subscription.id).reauthorize.post())
