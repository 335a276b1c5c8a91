"""``calsync crm send`` fills in relative dates, an id and ``occurred_at`` before signing."""

from __future__ import annotations

from datetime import UTC, datetime

from infra.cli_crm import fill_in

#: A pure input: fill_in takes the time it is given and never reads the clock.
NOW = datetime(2031, 12, 30, 8, 15, 0, tzinfo=UTC)


def test_today_placeholders_become_dates_counted_from_now() -> None:
    event = {
        "id": "e1",
        "occurred_at": "2031-12-30T08:00:00Z",
        "data": {
            "start": "{{today+2}}T10:00:00Z",
            "end": "{{ today + 2 }}T11:00:00Z",
            "notes": ["{{today}}", "no placeholder", 7],
        },
    }

    filled = fill_in(event, now=NOW)

    assert filled["data"] == {
        "start": "2032-01-01T10:00:00Z",
        "end": "2032-01-01T11:00:00Z",
        "notes": ["2031-12-30", "no placeholder", 7],
    }
    assert filled["id"] == "e1"
    assert filled["occurred_at"] == "2031-12-30T08:00:00Z"
    assert event["data"]["start"] == "{{today+2}}T10:00:00Z"  # the file's event is not changed


def test_a_missing_id_and_occurred_at_are_made() -> None:
    first = fill_in({"type": "company.saved"}, now=NOW)
    second = fill_in({"type": "company.saved"}, now=NOW)

    assert first["occurred_at"] == "2031-12-30T08:15:00Z"
    assert first["id"].startswith("crm-send-")
    assert first["id"] != second["id"]
