"""R36: how far behind a connection is, from its oldest sync request not yet done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.connection_lag import lag_seconds

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_r36_lag_counts_whole_seconds_since_the_oldest_pending_request() -> None:
    assert lag_seconds("active", NOW - timedelta(minutes=2, seconds=5.9), NOW) == 125


def test_r36_a_connection_with_nothing_pending_is_not_behind() -> None:
    assert lag_seconds("active", None, NOW) == 0


def test_r36_failing_and_reconnect_connections_keep_falling_behind() -> None:
    since = NOW - timedelta(hours=3)
    assert lag_seconds("failing", since, NOW) == 3 * 3600
    assert lag_seconds("needs_reconnect", since, NOW) == 3 * 3600


def test_r36_a_disconnected_connection_has_no_lag() -> None:
    assert lag_seconds("disconnected", NOW - timedelta(hours=3), NOW) is None


def test_r36_a_request_stamped_after_now_by_a_skewed_clock_is_no_negative_lag() -> None:
    assert lag_seconds("active", NOW + timedelta(seconds=3), NOW) == 0
