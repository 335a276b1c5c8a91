"""Which provider entries are no meetings (R34): Google's eventType, Graph's lone absences."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.calendar.google.mapping import google_event
from adapters.calendar.graph.mapping import graph_event
from domain.model import EventKind

GOOGLE_TIMES = {
    "start": {"dateTime": "2026-12-02T09:00:00Z"},
    "end": {"dateTime": "2026-12-02T10:00:00Z"},
}
GRAPH_TIMES = {
    "start": {"dateTime": "2026-12-02T09:00:00", "timeZone": "UTC"},
    "end": {"dateTime": "2026-12-02T10:00:00", "timeZone": "UTC"},
}


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("outOfOffice", EventKind.OUT_OF_OFFICE),
        ("focusTime", EventKind.FOCUS_TIME),
        ("workingLocation", EventKind.WORKING_LOCATION),
        ("birthday", EventKind.BIRTHDAY),
        ("default", EventKind.MEETING),
        ("fromGmail", EventKind.MEETING),
        (None, EventKind.MEETING),
    ],
)
def test_google_event_type(event_type: str | None, kind: EventKind) -> None:
    item = {"id": "e1", **GOOGLE_TIMES, "eventType": event_type}

    assert google_event(item).event_kind is kind


def _graph(show_as: str, *attendees: str) -> dict[str, Any]:
    people = [{"emailAddress": {"address": a}, "type": "required"} for a in attendees]
    organizer = {"emailAddress": {"address": "karl@exempel.se"}}
    return {
        "id": "e1",
        **GRAPH_TIMES,
        "showAs": show_as,
        "organizer": organizer,
        "attendees": people,
    }


def test_graph_out_of_office_with_nobody_invited_only_marks_an_absence() -> None:
    assert graph_event(_graph("oof")).event_kind is EventKind.OUT_OF_OFFICE
    assert graph_event(_graph("oof", "karl@exempel.se")).event_kind is EventKind.OUT_OF_OFFICE


def test_graph_a_meeting_shown_as_out_of_office_or_busy_is_a_meeting() -> None:
    assert graph_event(_graph("oof", "eva@kund.se")).event_kind is EventKind.MEETING
    assert graph_event(_graph("busy")).event_kind is EventKind.MEETING
