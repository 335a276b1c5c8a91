"""The overview: ``calsync status``'s report (the same ``gather`` call) and two plots."""

from __future__ import annotations

from flask import Response

from domain.connection_state import ACTIVE, DISCONNECTED, FAILING, NEEDS_RECONNECT
from ingest.console import charts, web

#: Every shown status, listed even at 0, as ``calsync status`` lists them.
STATUSES = (ACTIVE, FAILING, NEEDS_RECONNECT, DISCONNECTED)
#: Seconds between reloads while auto-refresh is on.
REFRESH_SECONDS = 30


@web.bp.get("/")
def overview() -> Response:
    ports = web.ports()
    report = ports.status()
    start, end = charts.day_window(report.at)
    parked = charts.parked_bars(
        ports.history.parked_per_hour(24), "Dead letters parked per hour, last 24 hours"
    )
    lag = charts.lag_lines(
        ports.history.lag_samples(24), start, end, "Sync lag (max and average), last 24 hours"
    )
    oldest = report.oldest_unsynced
    return web.page(
        "overview.html",
        report=report,
        statuses=STATUSES,
        parked_chart=parked,
        lag_chart=lag,
        oldest=[
            ("sync request (calendar to CRM)", oldest.sync_request),
            ("outbox row not published (CRM to calendar)", oldest.outbox_row),
            ("calendar write pending", oldest.pending_write),
        ],
        refresh_seconds=REFRESH_SECONDS,
    )
