"""The console's pure parts: operator sessions, CSRF tokens, filters and the SVG plots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.sql.day_history import LagSample
from ingest.console import charts, letter_filters
from ingest.console.session import Sessions

TOKENS = ("first-operator-token-0001", "second-operator-token-002")
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)  # a pure input: nothing here reads the clock


def test_only_an_operator_token_signs_in_and_the_cookie_cannot_be_altered() -> None:
    sessions = Sessions("secret", TOKENS)
    assert sessions.sign_in("an-account-api-key-xxxxxxxx", "tess") is None
    assert sessions.sign_in(TOKENS[1], "<script>") is None  # the name goes in audit rows
    cookie = sessions.sign_in(TOKENS[1], "tess")
    assert cookie is not None
    session = sessions.session(cookie)
    assert session is not None
    assert session.actor == "console:tess"
    assert sessions.session(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")) is None
    assert Sessions("another secret", TOKENS).session(cookie) is None
    assert Sessions("secret", TOKENS[:1]).session(cookie) is None  # its token was revoked


def test_csrf_tokens_belong_to_one_session() -> None:
    sessions = Sessions("secret", TOKENS)
    token = sessions.csrf_token("session-1")
    assert sessions.csrf_ok("session-1", token)
    assert not sessions.csrf_ok("session-2", token)
    assert not sessions.csrf_ok("session-1", None)
    assert not sessions.csrf_ok("session-1", "é" + token[1:])


def test_filters_read_ages_and_instants_and_refuse_the_rest() -> None:
    query = letter_filters.read(
        {"queue": "sync", "since": "2h", "before": "2026-03-01T11:30Z"}, NOW
    )
    assert query.filters.since == NOW - timedelta(hours=2)
    assert query.filters.before == datetime(2026, 3, 1, 11, 30, tzinfo=UTC)
    assert query.filters.replayed is False  # never replayed, unless asked
    with pytest.raises(letter_filters.BadFilter, match="since"):
        letter_filters.read({"since": "yesterday"}, NOW)


def test_plots_are_svg_of_numbers_and_escaped_labels() -> None:
    bars = charts.parked_bars([0, 3, 1], 'parked <b>"')
    assert bars.count("<rect") == 3
    assert "<b>" not in bars
    samples = [LagSample(NOW - timedelta(minutes=m), 4, 1, 60 * m, 10 * m) for m in (10, 5, 0)]
    lines = charts.lag_lines(samples, NOW - timedelta(hours=24), NOW, "lag")
    assert lines.count("<polyline") == 2
    assert "no samples yet" in charts.lag_lines([], NOW - timedelta(hours=24), NOW, "lag")
