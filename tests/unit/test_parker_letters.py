"""The parker makes a letter of whatever reaches the dead-letter queue, and never raises."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from adapters.broker import topology
from adapters.sql.dead_letters import REDUCED
from workers.parker import UNREADABLE, DeadLetterParker, dead_letter_from

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


class HeldMessage:
    """What the parker reads of a delivery, and whether it was given back."""

    body = b"garbage"
    headers: dict[str, object] = {}
    properties: dict[str, object] = {}
    delivery_info = DEAD

    def __init__(self) -> None:
        self.requeued = 0

    def requeue(self) -> None:
        self.requeued += 1

    def ack(self) -> None:
        raise AssertionError("a letter that was not stored must not be acked")


def test_a_store_that_stays_down_doubles_the_pause_up_to_ten_seconds(tmp_path) -> None:
    unreachable = sa.create_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
    parker = DeadLetterParker("memory://", unreachable)
    pauses: list[float] = []

    def pause(seconds: float) -> bool:
        pauses.append(seconds)
        return False

    parker.pause = pause  # type: ignore[method-assign]
    message = HeldMessage()

    for _ in range(6):
        parker.on_delivery(message)  # type: ignore[arg-type]

    assert pauses == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert message.requeued == 6
