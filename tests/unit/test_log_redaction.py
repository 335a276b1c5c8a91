"""Secrets never reach a log line, whether as a field, nested, or inside free text."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from infra.log import bound_trace, configure_logging


@pytest.fixture
def json_logs():
    stream = io.StringIO()
    configure_logging("json", "DEBUG", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line]
    logging.getLogger().handlers.clear()


def test_secret_fields_are_redacted_at_any_depth(json_logs) -> None:
    log = structlog.get_logger("test")
    log.info(
        "connected",
        refresh_token="1//refresh-abc",
        client_state="cs-123",
        oauth={"access_token": "ya29.xyz", "expiry": 3600},
        credentials="opaque",
        headers={"Authorization": "Bearer ya29.xyz", "X-Goog-Channel-Token": "chan-secret"},
    )

    (line,) = json_logs()
    text = json.dumps(line)
    for secret in ("1//refresh-abc", "cs-123", "ya29.xyz", "chan-secret"):
        assert secret not in text
    assert line["oauth"]["expiry"] == 3600
    assert line["credentials"] == "[redacted]"


def test_secrets_inside_messages_are_redacted(json_logs) -> None:
    logging.getLogger("thirdparty").warning(
        "POST https://oauth2/token?refresh_token=1//abc&client_secret=xyz failed: Bearer ya29.q"
    )

    (line,) = json_logs()
    assert "1//abc" not in line["event"]
    assert "xyz" not in line["event"]
    assert "ya29.q" not in line["event"]
    assert "refresh_token=[redacted]" in line["event"]


def test_trace_id_is_bound_inside_the_block_only(json_logs) -> None:
    log = structlog.get_logger("test")
    with bound_trace("trace-1", queue="sync"):
        log.info("inside")
    log.info("outside")

    inside, outside = json_logs()
    assert (inside["trace_id"], inside["queue"]) == ("trace-1", "sync")
    assert "trace_id" not in outside


def test_passwords_in_urls_and_json_pairs_are_redacted(json_logs) -> None:
    logging.getLogger("thirdparty").error(
        'connect to amqp://calsync:hunter2@mq.internal:5672// failed; body {"client_secret": "s3"}'
    )

    (line,) = json_logs()
    assert "hunter2" not in line["event"]
    assert "s3" not in line["event"].split("client_secret")[1]
    assert "amqp://calsync:[redacted]@mq.internal" in line["event"]
