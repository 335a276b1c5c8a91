"""Why an event is kept out: the planner's rule and sentence for each (R4, R7, R9, R34, R36)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from domain.eligibility import Ineligible, decide_eligibility
from domain.explanations import KeptOut, explain_kept_out, explain_link
from domain.model import Attendee, EventKind
from domain.participants import resolve_attendees
from domain.timing import AllDay
from tests.unit.domain.builders import an_event, article_directory, at, karls_window
from tests.unit.domain.test_sync_plan import EVA, plan

SEEN = at(2026, 3, 10, 9)


def test_r7_an_event_with_nobody_but_the_owner() -> None:
    (result,) = plan([an_event([Attendee("karl@exempel.se")], "karl@exempel.se")])

    assert result.kept_out == KeptOut("R7", "no participant besides the owner")


def test_r4_an_event_with_only_colleagues_names_the_colleague_rule() -> None:
    attendees = [Attendee("karl@exempel.se"), Attendee("johanna@exempel.se")]

    (result,) = plan([an_event(attendees, "karl@exempel.se")])

    assert result.kept_out is not None
    assert result.kept_out.rule == "R4"
    assert result.kept_out.reason.startswith("only colleagues besides the owner")


def test_r9_an_event_outside_the_window_says_which_days_the_window_holds() -> None:
    before = AllDay(date(2026, 2, 1), date(2026, 2, 2))

    (result,) = plan([an_event([EVA], "karl@exempel.se", timing=before)])

    # Karl connected on 2 March 2026 and it is 10 March: three months on, 10 June is the last.
    assert result.kept_out == KeptOut(
        "R9",
        "outside the sync window, which runs from 2026-03-02 through 2026-06-10 (Europe/Stockholm)",
    )


@pytest.mark.parametrize(
    ("kind", "sentence"),
    [
        (EventKind.OUT_OF_OFFICE, "it marks the owner out of office"),
        (EventKind.FOCUS_TIME, "it is focus time"),
        (EventKind.WORKING_LOCATION, "it only says where the owner works"),
        (EventKind.BIRTHDAY, "it is a birthday"),
    ],
)
def test_r34_an_entry_that_is_no_meeting_is_kept_out_whatever_it_lists(
    kind: EventKind, sentence: str
) -> None:
    event = replace(an_event([EVA], "karl@exempel.se"), event_kind=kind)

    (result,) = plan([event])

    assert result.content is None
    assert result.kept_out == KeptOut("R34", f"not a meeting: {sentence}")


def test_r34_is_decided_before_the_window_and_the_participants() -> None:
    event = replace(an_event([], None), event_kind=EventKind.FOCUS_TIME)
    resolution = resolve_attendees(event.attendees, None, article_directory())

    assert decide_eligibility(event, resolution, "karl", karls_window()) is (
        Ineligible.NOT_A_MEETING
    )


def test_synced_cancelled_and_updated_events_carry_no_reason() -> None:
    created, cancelled = plan(
        [
            an_event([EVA], "karl@exempel.se"),
            an_event(event_id="evt2", ical_uid="uid2@example.com", status="cancelled"),
        ]
    )

    assert (created.kept_out, cancelled.kept_out) == (None, None)


def test_the_explanations_of_a_link_and_of_a_kept_out_event() -> None:
    assert explain_link("e1", "a1", gone=False, seen_at=SEEN).reason == "synced, appointment a1"
    gone = explain_link("e1", "a1", gone=True, seen_at=SEEN)
    assert (gone.synced, gone.appointment_id, gone.rule) == (False, "a1", None)
    kept = explain_kept_out("e2", KeptOut("R7", "no participant besides the owner"), SEEN)
    assert (kept.synced, kept.appointment_id, kept.rule, kept.seen_at) == (
        False,
        None,
        "R7",
        SEEN,
    )
