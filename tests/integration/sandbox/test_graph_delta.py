"""Graph calendarView/delta through msgraph-sdk: paging, changes, @removed and 410."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.integration.sandbox.graph_client import delta_query, error_code, prefer, timed

WINDOW = ("2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z")
UTC_PREFS = ('outlook.timezone="UTC"', 'IdType="ImmutableId"')


def delta_round(
    graph: Any, run: Any, link: str | None = None, page_size: int | None = None
) -> tuple[list[Any], str]:
    """Follow a delta round to its end; returns every entry and the deltaLink."""
    preferences = [*UTC_PREFS, *([f"odata.maxpagesize={page_size}"] if page_size else [])]
    builder = graph.me.calendar_view.delta
    if link is None:
        page = run(
            builder.get(request_configuration=prefer(*preferences, query=delta_query(*WINDOW)))
        )
    else:
        page = run(builder.with_url(link).get(request_configuration=prefer(*preferences)))
    entries = list(page.value)
    while page.odata_next_link:
        page = run(
            builder.with_url(page.odata_next_link).get(request_configuration=prefer(*preferences))
        )
        entries += page.value
    assert page.odata_delta_link
    return entries, page.odata_delta_link


def add(graph_admin: SandboxAdminClient, day: int, subject: str = "x") -> dict[str, Any]:
    body = timed(f"2026-05-{day:02d}T10:00:00", f"2026-05-{day:02d}T11:00:00", subject=subject)
    return graph_admin.create_event("bea@contoso.com", body)


def removed(entry: Any) -> bool:
    return "@removed" in (entry.additional_data or {})


def test_first_round_pages_through_the_window(
    graph: Any,
    run: Any,
    bea: dict[str, Any],
    graph_admin: SandboxAdminClient,
    sandbox: SandboxServer,
) -> None:
    ids = [add(graph_admin, day)["id"] for day in range(1, 6)]
    add(graph_admin, 1)["id"]  # same day, also in
    outside = graph_admin.create_event(
        "bea@contoso.com", timed("2026-07-01T10:00:00", "2026-07-01T11:00:00")
    )

    first = run(
        graph.users.by_user_id(bea["id"]).calendar_view.delta.get(
            request_configuration=prefer(
                *UTC_PREFS, "odata.maxpagesize=2", query=delta_query(*WINDOW)
            )
        )
    )
    entries, delta_link = delta_round(graph, run, page_size=2)

    assert first.odata_next_link.startswith(f"{sandbox.graph_api_url}/users/{bea['id']}/")
    assert "$skiptoken=" in httpx.URL(first.odata_next_link).query.decode()
    assert "$deltatoken=" in httpx.URL(delta_link).query.decode()
    assert len(entries) == 6
    assert set(ids) <= {e.id for e in entries}
    assert outside["id"] not in {e.id for e in entries}
    assert entries[0].start.time_zone == "UTC"


def test_next_round_returns_changes_and_removals(
    graph: Any, run: Any, bea: dict[str, Any], graph_admin: SandboxAdminClient
) -> None:
    kept, changed, deleted, moved_out = (add(graph_admin, day)["id"] for day in (1, 2, 3, 4))
    _, delta_link = delta_round(graph, run)
    graph_admin.update_event("bea@contoso.com", changed, {"subject": "changed"})
    graph_admin.delete_event("bea@contoso.com", deleted)
    graph_admin.update_event(
        "bea@contoso.com", moved_out, timed("2026-08-01T10:00:00", "2026-08-01T11:00:00")
    )
    added = add(graph_admin, 9)["id"]

    entries, next_link = delta_round(graph, run, delta_link)

    by_id = {e.id: e for e in entries}
    assert set(by_id) == {changed, deleted, moved_out, added}
    assert kept not in by_id
    assert by_id[changed].subject == "changed"
    assert removed(by_id[deleted])
    assert by_id[deleted].additional_data["@removed"] == {"reason": "deleted"}
    assert removed(by_id[moved_out])
    assert not removed(by_id[added])
    assert delta_round(graph, run, next_link)[0] == []


def test_delta_is_routed_with_and_without_parentheses(
    sandbox: SandboxServer,
    bea: dict[str, Any],
    graph_admin: SandboxAdminClient,
    bea_tokens: Any,
    run: Any,
) -> None:
    add(graph_admin, 1)
    token = run(bea_tokens.get_authorization_token(""))
    headers = {"Authorization": f"Bearer {token}", "Prefer": 'outlook.timezone="UTC"'}
    params = {"startDateTime": WINDOW[0], "endDateTime": WINDOW[1]}

    for path in ("calendarView/delta", "calendarView/delta()"):
        url = f"{sandbox.graph_api_url}/users/{bea['id']}/{path}"
        response = httpx.get(url, params=params, headers=headers)
        answer = response.json()
        assert len(answer["value"]) == 1
        assert answer["@odata.deltaLink"].startswith(url + "?")
        assert response.headers["Preference-Applied"] == 'outlook.timezone="UTC"'


def test_first_call_needs_a_window(graph: Any, run: Any, bea: dict[str, Any]) -> None:
    with pytest.raises(ODataError) as refused:
        run(graph.me.calendar_view.delta.get())
    assert refused.value.response_status_code == 400


def test_expired_delta_tokens_get_410_sync_state_not_found(
    graph: Any,
    run: Any,
    bea: dict[str, Any],
    graph_admin: SandboxAdminClient,
    sandbox: SandboxServer,
) -> None:
    add(graph_admin, 1)
    _, delta_link = delta_round(graph, run)
    graph_admin.expire_sync_tokens("bea@contoso.com")

    with pytest.raises(ODataError) as gone:
        delta_round(graph, run, delta_link)

    assert gone.value.response_status_code == 410
    assert error_code(gone.value) == "syncStateNotFound"
    token = run(
        graph.request_adapter._authentication_provider.access_token_provider.get_authorization_token(
            ""
        )
    )
    raw = httpx.get(delta_link, headers={"Authorization": f"Bearer {token}"})
    assert raw.headers["Location"].startswith(f"{sandbox.graph_api_url}/me/calendarView/delta")
    assert len(delta_round(graph, run)[0]) == 1


def test_a_thousand_events_per_page(
    graph: Any, run: Any, bea: dict[str, Any], graph_admin: SandboxAdminClient
) -> None:
    bodies = [
        timed(
            f"2026-05-{1 + n % 28:02d}T10:00:00",
            f"2026-05-{1 + n % 28:02d}T11:00:00",
            subject=f"e{n}",
        )
        for n in range(1100)
    ]
    graph_admin.create_events("bea@contoso.com", bodies)
    config = prefer(*UTC_PREFS, "odata.maxpagesize=1000", query=delta_query(*WINDOW))
    builder = graph.me.calendar_view.delta

    # Through the SDK's request pipeline (auth, middleware) but without its model parsing:
    # msgraph-sdk spends several milliseconds per Event building models, which is its cost,
    # not the sandbox's.
    first = json.loads(raw_get(graph, run, builder.to_get_request_information(config)))
    follow = builder.with_url(first["@odata.nextLink"]).to_get_request_information()
    rest = json.loads(raw_get(graph, run, follow))

    assert (len(first["value"]), len(rest["value"])) == (1000, 100)
    assert "@odata.deltaLink" in rest
    served = [r for r in graph_admin.requests() if "calendarView" in r["path"]]
    assert all(r["finished"] - r["started"] < 1.0 for r in served)


def raw_get(graph: Any, run: Any, request: Any) -> bytes:
    """Send a request through the Graph client's adapter and return the raw body."""
    return run(graph.request_adapter.send_primitive_async(request, "bytes", {}))


def test_series_show_as_occurrences_and_deleted_occurrences_as_removed(
    graph: Any, run: Any, bea: dict[str, Any], graph_admin: SandboxAdminClient
) -> None:
    series = graph_admin.create_event(
        "bea@contoso.com",
        {
            "subject": "Daily",
            "start": {"dateTime": "2026-05-04T09:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-05-04T09:15:00", "timeZone": "Europe/Berlin"},
            "recurrence": {
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2026-05-04", "numberOfOccurrences": 3},
            },
        },
    )
    entries, delta_link = delta_round(graph, run)
    assert [(e.type.value, e.series_master_id) for e in entries] == [
        ("occurrence", series["id"])
    ] * 3
    assert [e.start.date_time for e in entries] == [
        "2026-05-04T07:00:00.0000000",
        "2026-05-05T07:00:00.0000000",
        "2026-05-06T07:00:00.0000000",
    ]

    graph_admin.delete_event("bea@contoso.com", entries[1].id)
    changes, _ = delta_round(graph, run, delta_link)

    assert [(e.id, removed(e)) for e in changes] == [(entries[1].id, True)]
