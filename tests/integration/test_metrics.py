"""Every metric moves when the thing it counts happens, and ``/metrics`` shows them.

Worker metrics (consumed, acked, retried, dead-lettered, processing time) are asserted in
``test_worker_base``; sync runs, events applied and provider errors in ``test_calendar_sync``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from prometheus_client import REGISTRY

from adapters.sql.dead_letters import DeadLetter, park
from adapters.sql.gauges import expose_store_gauges
from tests.fakes import FailingPublisher, RecordingPublisher
from tests.integration.test_ingest_support import build_app, seed_connection

CHANNEL, TOKEN = "metrics-channel", "metrics-channel-token"


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _push() -> dict[str, str]:
    return {
        "X-Goog-Channel-ID": CHANNEL,
        "X-Goog-Channel-Token": TOKEN,
        "X-Goog-Resource-ID": "res-1",
        "X-Goog-Resource-State": "exists",
        "X-Goog-Message-Number": "7",
    }


def test_requests_are_counted_by_route_template_and_status(store: sa.Engine) -> None:
    # Given the ingest app
    app, _channels = build_app(store, RecordingPublisher())
    client = app.test_client()
    route = "/api/v1/appointments/<appointment_id>"
    before = _metric("calsync_http_requests_total", route=route, method="GET", status="401")
    timed = _metric("calsync_http_request_seconds_count", route=route)
    unmatched = _metric(
        "calsync_http_requests_total", route="unmatched", method="GET", status="404"
    )

    # When requests come in, one to a route with an id, one to no route at all
    assert client.get("/api/v1/appointments/some-id").status_code == 401
    assert client.get("/no/such/route").status_code == 404

    # Then they are counted under the route's template (never the raw path) and timed
    assert _metric("calsync_http_requests_total", route=route, method="GET", status="401") == (
        before + 1
    )
    assert _metric("calsync_http_request_seconds_count", route=route) == timed + 1
    assert (
        _metric("calsync_http_requests_total", route="unmatched", method="GET", status="404")
        == unmatched + 1
    )


def _request_series() -> set[tuple[tuple[str, str], ...]]:
    return {
        tuple(sorted(sample.labels.items()))
        for family in REGISTRY.collect()
        if family.name == "calsync_http_requests"
        for sample in family.samples
    }


def test_invented_methods_and_paths_share_one_label_each(store: sa.Engine) -> None:
    # Given the ingest app, and one request with an invented method already counted
    app, _channels = build_app(store, RecordingPublisher())
    client = app.test_client()
    client.open("/healthz", method="FOOBARBAZ0")
    client.open("/no/such/route/0", method="FOOBARBAZ0")
    series = _request_series()
    other = _metric("calsync_http_requests_total", route="unmatched", method="other", status="405")

    # When clients send 40 more invented methods to a route and to paths that match none
    for n in range(1, 21):
        assert client.open("/healthz", method=f"FOOBARBAZ{n}").status_code == 405
        client.open(f"/no/such/route/{n}", method=f"INVENTED{n}")

    # Then no new time series appears: they are all method="other", route="unmatched"
    assert _request_series() == series
    assert all(dict(labels)["method"] != "FOOBARBAZ0" for labels in series)
    assert (
        _metric("calsync_http_requests_total", route="unmatched", method="other", status="405")
        == other + 20
    )


def test_publish_confirm_latency_is_observed_for_confirms_and_failures(store: sa.Engine) -> None:
    # Given a Google channel, and the app once with a working broker and once with a failing one
    seed_connection(store, "conn-karl", "google")
    working, channels = build_app(store, RecordingPublisher())
    channels.register(CHANNEL, "conn-karl", "google", TOKEN, resource_id="res-1")
    failing, _ = build_app(store, FailingPublisher())
    confirmed = _metric("calsync_publish_confirm_seconds_count", queue="sync", outcome="confirmed")
    failed = _metric("calsync_publish_confirm_seconds_count", queue="sync", outcome="failed")

    # When a push arrives at each
    assert working.test_client().post("/webhooks/google", headers=_push()).status_code == 200
    assert failing.test_client().post("/webhooks/google", headers=_push()).status_code == 503

    # Then each publish is timed, under its outcome
    assert (
        _metric("calsync_publish_confirm_seconds_count", queue="sync", outcome="confirmed")
        == confirmed + 1
    )
    assert (
        _metric("calsync_publish_confirm_seconds_count", queue="sync", outcome="failed")
        == failed + 1
    )


def test_metrics_page_shows_connections_by_status_and_dead_letters(store: sa.Engine) -> None:
    # Given a connection needing reconnection, and a dead letter two hours old
    seed_connection(store, "conn-karl", "google")
    with store.begin() as conn:
        conn.execute(
            sa.text("UPDATE calendar_connections SET status = 'needs_reconnect' WHERE id = :id"),
            {"id": "conn-karl"},
        )
        failed_at = datetime.now(UTC) - timedelta(hours=2)
        park(
            conn,
            DeadLetter(
                message_id="m-1",
                queue="sync",
                exchange="",
                routing_key="sync",
                headers={},
                body=b"{}",
                reason="retries_exhausted",
                error_class="ProviderUnavailable",
                error_message="Google answered 503",
                attempts=6,
                first_failed_at=failed_at,
                last_failed_at=failed_at,
                parked_at=failed_at,
                account_id="acme",
                trace_id="t-1",
            ),
        )
    app, _channels = build_app(store, RecordingPublisher())
    expose_store_gauges(store)

    # When Prometheus scrapes
    page = app.test_client().get("/metrics")

    # Then the store's gauges are there with the ingest counters
    assert page.status_code == 200
    assert page.content_type.startswith("text/plain")
    lines = page.get_data(as_text=True).splitlines()
    assert 'calsync_connections{status="needs_reconnect"} 1.0' in lines
    assert not any(line.startswith('calsync_connections{status="active"}') for line in lines)
    assert 'calsync_dead_letters{queue="sync"} 1.0' in lines
    (age_line,) = [
        line
        for line in lines
        if line.startswith('calsync_dead_letter_oldest_age_seconds{queue="sync"}')
    ]
    assert 7_100 < float(age_line.split()[-1]) < 7_400
    assert any(line.startswith("calsync_http_requests_total{") for line in lines)
