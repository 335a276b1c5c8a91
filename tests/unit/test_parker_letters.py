"""The parker makes a letter of whatever reaches the dead-letter queue, and never raises."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.broker import topology
from adapters.sql.dead_letters import REDUCED
from workers.parker import UNREADABLE, dead_letter_from

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
DEAD = {"routing_key": topology.DEAD_LETTER_QUEUE, "exchange": topology.DEAD_LETTER_EXCHANGE}


def test_headers_no_one_foresaw_make_a_bare_letter_with_the_body() -> None:
    # RabbitMQ's x-death never has a number for routing keys; a foreign publisher may
    headers = {"x-death": [{"queue": "crm", "reason": "rejected", "routing-keys": 5}], "k": "\x00"}

    letter = dead_letter_from(b"body", headers, {"message_id": "m-1"}, DEAD, now=NOW)

    assert (letter.reason, letter.body, letter.message_id) == (UNREADABLE, b"body", "m-1")
    assert letter.queue == topology.DEAD_LETTER_QUEUE
    assert letter.headers[REDUCED].startswith("TypeError: ")
    assert "'routing-keys': 5" in letter.headers["headers"]
    assert "\x00" not in letter.headers["headers"]  # repr escapes it
    assert letter.parked_at == letter.last_failed_at == NOW


def test_json_nested_deeper_than_the_stack_is_undecodable() -> None:
    body = b"[" * 100_000

    letter = dead_letter_from(body, {}, {}, DEAD, now=NOW)

    assert (letter.reason, letter.body) == ("undecodable", body)
