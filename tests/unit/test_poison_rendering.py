"""Text the broker or the store could not take must still decode and print (issue 15, item 6)."""

from __future__ import annotations

import pytest

from adapters.broker.envelope import Envelope, EnvelopeError
from infra.dlq.render import to_json


def test_json_nested_deeper_than_the_stack_is_an_envelope_error() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(EnvelopeError, match="not JSON"):
        Envelope.from_json(body)


def test_a_lone_surrogate_in_a_parked_body_prints_as_an_escape() -> None:
    shown = to_json({"subject": "M\u00f6te \ud800"})
    assert "M\u00f6te" in shown  # readable text stays as it is
    assert "\\ud800" in shown
    shown.encode("utf-8")  # and the whole of it can be written out
