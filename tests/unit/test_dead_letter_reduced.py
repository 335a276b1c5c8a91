"""The reduced form of a dead letter the store refused as it came: every store takes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from adapters.sql.dead_letters import REDUCED, DeadLetter, printable, reduced

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def letter(**changes: object) -> DeadLetter:
    fields: dict[str, object] = {
        "queue": "crm",
        "reason": "permanent",
        "headers": {},
        "body": b'{"account_id": "a\\u0000b"}',
        "attempts": 1,
        "first_failed_at": WHEN,
        "last_failed_at": WHEN,
        "parked_at": WHEN,
        **changes,
    }
    return DeadLetter(**fields)  # type: ignore[arg-type]


def test_nul_and_lone_surrogates_become_visible_escapes() -> None:
    assert printable("a\x00b\ud800c\U0001f600") == "a\\u0000b\\ud800c\U0001f600"


def test_text_is_escaped_the_body_kept_and_the_reason_recorded() -> None:
    original = letter(account_id="acme\x00", message_id="m\ud800", trace_id="t")

    stored = reduced(original, "sqlalchemy.exc.DataError: NUL")

    assert (stored.account_id, stored.message_id, stored.trace_id) == (
        "acme\\u0000",
        "m\\ud800",
        "t",
    )
    assert stored.body == original.body
    assert stored.headers == {REDUCED: "sqlalchemy.exc.DataError: NUL"}


def test_headers_become_json_postgresql_takes() -> None:
    headers = {"k\x00": ["v\ud800", {"n": float("nan"), "i": float("inf"), "x": 1.5}], "ok": 7}

    stored = reduced(letter(headers=headers, attempts=10**12), "why")

    assert stored.headers["k\\u0000"] == ["v\\ud800", {"n": "nan", "i": "inf", "x": 1.5}]
    assert stored.headers["ok"] == 7
    json.dumps(stored.headers, allow_nan=False).encode()  # strict JSON, valid UTF-8
    assert stored.attempts == 2**31 - 1
