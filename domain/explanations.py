"""Why an event a sync saw is, or is not, an appointment: a rule and a sentence (R36).

The planner attaches a ``KeptOut`` to every event it keeps out; the store keeps the latest
one per event. A synced event needs nothing stored: its link says which appointment it is.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.eligibility import Ineligible, SyncWindow
from domain.model import EventKind
from domain.participants import Resolution
from domain.zones import load_zone

#: What each kind of entry that is no meeting is, for the sentence (R34).
NOT_MEETINGS: Mapping[EventKind, str] = {
    EventKind.OUT_OF_OFFICE: "it marks the owner out of office",
    EventKind.FOCUS_TIME: "it is focus time",
    EventKind.WORKING_LOCATION: "it only says where the owner works",
    EventKind.BIRTHDAY: "it is a birthday",
}


@dataclass(frozen=True, slots=True)
class KeptOut:
    """The rule that kept an event out (None where no numbered rule says so) and why."""

    rule: str | None
    reason: str


ONLY_COLLEAGUES = KeptOut("R4", "only colleagues besides the owner, and colleagues take no part")
NO_PARTICIPANTS = KeptOut("R7", "no participant besides the owner")
NO_TIME = KeptOut(None, "the event has no time")
_FIXED = {
    Ineligible.ALL_DAY_RECURRING: KeptOut("R8", "a Google all-day recurring event"),
    Ineligible.CANCELLED: KeptOut("R13", "cancelled before it was ever synced"),
    Ineligible.NO_TIME: NO_TIME,
}


@dataclass(frozen=True, slots=True)
class Explanation:
    """The answer to "what became of this event?" as of the last sync that saw it."""

    event_id: str
    synced: bool
    appointment_id: str | None
    rule: str | None
    reason: str
    seen_at: datetime


def why_kept_out(
    ineligible: Ineligible, resolution: Resolution, kind: EventKind, window: SyncWindow
) -> KeptOut:
    """The rule and sentence for an event ``decide_eligibility`` refused.

    No participant besides the owner is R4's doing when colleagues were there and left
    out, else R7's: the user asking why wants to hear which.
    """
    if ineligible is Ineligible.NO_PARTICIPANTS:
        return ONLY_COLLEAGUES if resolution.colleagues else NO_PARTICIPANTS
    if ineligible is Ineligible.NOT_A_MEETING:
        return KeptOut("R34", f"not a meeting: {NOT_MEETINGS.get(kind, 'it only blocks time')}")
    if ineligible is Ineligible.OUTSIDE_WINDOW:
        return KeptOut("R9", f"outside the sync window, {_days(window)}")
    return _FIXED[ineligible]


def explain_link(
    event_id: str, appointment_id: str, *, gone: bool, seen_at: datetime
) -> Explanation:
    """The explanation of an event linked to an appointment (gone once cancelled, R13)."""
    if gone:
        reason = f"cancelled or deleted in the calendar; appointment {appointment_id} stays (R13)"
        return Explanation(event_id, False, appointment_id, None, reason, seen_at)
    reason = f"synced, appointment {appointment_id}"
    return Explanation(event_id, True, appointment_id, None, reason, seen_at)


def explain_kept_out(event_id: str, why: KeptOut, seen_at: datetime) -> Explanation:
    """The explanation of an event a sync kept out."""
    return Explanation(event_id, False, None, why.rule, why.reason, seen_at)


def _days(window: SyncWindow) -> str:
    # The user's own days, as R9 counts them; the end is exclusive, so its day is not in.
    zone = load_zone(window.time_zone)
    first = window.start.astimezone(zone).date()
    last = window.end.astimezone(zone).date() - timedelta(days=1)
    return f"which runs from {first.isoformat()} through {last.isoformat()} ({window.time_zone})"
