"""Whether a provider event becomes an appointment at all (R7-R9, R13, R34)."""

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from domain.model import (
    AllDay,
    EventKind,
    Participant,
    ParticipantKind,
    Provider,
    ProviderEvent,
)
from domain.participants import Resolution
from domain.timing import Timing, utc_range
from domain.zones import load_zone, midnight_utc, require_aware

#: How far ahead of today events are synced (R9).
WINDOW_MONTHS = 3


class Ineligible(StrEnum):
    """Why an event does not become an appointment."""

    CANCELLED = "cancelled"  # R13: a cancelled event never creates an appointment
    NO_TIME = "no_time"  # providers send no times only for cancelled events
    ALL_DAY_RECURRING = "all_day_recurring"  # R8
    OUTSIDE_WINDOW = "outside_window"  # R9
    NO_PARTICIPANTS = "no_participants"  # R7 (R4 when colleagues were left out)
    NOT_A_MEETING = "not_a_meeting"  # R34


@dataclass(frozen=True)
class SyncWindow:
    """The instants between which events are synced, ``start`` inclusive, ``end`` exclusive.

    ``time_zone`` is the user's zone; all-day events are read in it (see ``overlaps_window``).
    """

    start: datetime
    end: datetime
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        require_aware(self.start, "start")
        require_aware(self.end, "end")
        if self.end <= self.start:
            raise ValueError(f"sync window ends ({self.end}) before it starts ({self.start})")


def add_months(day: date, months: int) -> date:
    """Return ``day`` moved by whole calendar months, clamped to the month's last day.

    30 November plus three months is 28 February, or 29 February in a leap year.
    """
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def sync_window(connected_on: date, time_zone: str, today: date) -> SyncWindow:
    """Return the sync window of a connection on ``today`` (R9).

    It starts at 00:00 of the day the connection was made and ends at 00:00 of the day after
    ``today`` plus three calendar months, both in the user's ``time_zone``, so the last day
    is synced whole and the end moves forward every day. Month ends clamp (see
    ``add_months``).

    Raises:
        UnknownTimeZoneError: ``time_zone`` is not an IANA zone.
        ValueError: ``connected_on`` is more than three months after ``today``.
    """
    zone = load_zone(time_zone)
    last_day = add_months(today, WINDOW_MONTHS)
    return SyncWindow(
        start=midnight_utc(connected_on, zone),
        end=midnight_utc(last_day + timedelta(days=1), zone),
        time_zone=time_zone,
    )


def overlaps_window(timing: Timing, window: SyncWindow) -> bool:
    """Return True if any part of ``timing`` falls inside ``window`` (R9).

    All-day dates are read as midnights in the window's zone, the user's own, so an all-day
    event on the day of connection is inside whatever the user's offset from UTC. A
    zero-length meeting counts when its instant is inside the window.
    """
    start, end = utc_range(timing, window.time_zone)
    if start == end:
        return window.start <= start < window.end
    return start < window.end and end > window.start


def has_participant_besides(participants: Sequence[Participant], owner_user_id: str) -> bool:
    """Return True if anyone other than the calendar's owner takes part (R7)."""
    return any(
        participant.kind is not ParticipantKind.USER or participant.user_id != owner_user_id
        for participant in participants
    )


def decide_eligibility(
    event: ProviderEvent, resolution: Resolution, owner_user_id: str, window: SyncWindow
) -> Ineligible | None:
    """Return why a new event of ``owner_user_id``'s calendar is not synced, or None if it is.

    The checks run from the cheapest to the dearest. A cancelled event creates nothing;
    for an event already linked to an appointment the caller records it gone instead (R13).
    Google all-day recurring events are not synced (R8): the article names Google only, so
    Microsoft's are. Out-of-office, focus-time and similar entries are no meetings,
    whatever they list (R34). An event needs a participant besides the owner, after
    colleagues are left out (R7).
    """
    if event.is_cancelled:
        return Ineligible.CANCELLED
    if event.timing is None:
        return Ineligible.NO_TIME
    refused = _refused_kind(event)
    if refused is not None:
        return refused
    if not overlaps_window(event.timing, window):
        return Ineligible.OUTSIDE_WINDOW
    if not has_participant_besides(resolution.participants, owner_user_id):
        return Ineligible.NO_PARTICIPANTS
    return None


def _refused_kind(event: ProviderEvent) -> Ineligible | None:
    """Whether the kind of entry alone keeps it out, whatever it lists (R34, R8)."""
    if event.event_kind is not EventKind.MEETING:
        return Ineligible.NOT_A_MEETING
    if _is_google_all_day_series(event):
        return Ineligible.ALL_DAY_RECURRING
    return None


def _is_google_all_day_series(event: ProviderEvent) -> bool:
    return (
        event.provider is Provider.GOOGLE
        and event.is_recurring
        and isinstance(event.timing, AllDay)
    )
