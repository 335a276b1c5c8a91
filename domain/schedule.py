"""Past appointments keep their date and time, whichever side asks to move them (R14)."""

from dataclasses import dataclass
from datetime import datetime

from domain.timing import AllDay, Timed, Timing, utc_range
from domain.zones import to_utc

#: What a user is told when the CRM refuses to move a past appointment (R14).
PAST_RESCHEDULE_MESSAGE = (
    "This appointment has already taken place, so its date and time can no longer be "
    'changed. Mark its outcome as "Not completed" and book a follow-up appointment '
    "at the new time."
)


@dataclass(frozen=True)
class RescheduleRefused:
    """A CRM request to move an appointment, refused; ``message`` is for the user."""

    message: str = PAST_RESCHEDULE_MESSAGE
    rule: str = "R14"


def has_ended(timing: Timing, now: datetime, time_zone: str = "UTC") -> bool:
    """Return True once the appointment's end is at or before ``now``.

    Args:
        timing: the appointment's time.
        now: the current instant; must be aware.
        time_zone: the appointment's zone, whose midnight ends an all-day appointment.

    Raises:
        NaiveDatetimeError: ``now`` is naive.
    """
    _, end = utc_range(timing, time_zone)
    return end <= to_utc(now, "now")


def reconcile_inbound_timing(
    existing: Timing | None, incoming: Timing, now: datetime, time_zone: str = "UTC"
) -> Timing:
    """Return the time an appointment should have after a provider update (R14).

    An appointment that has ended keeps its own time; otherwise the provider's wins. The
    other fields of the update still sync, but they are not this function's business.
    """
    if existing is not None and has_ended(existing, now, time_zone):
        return existing
    return incoming


def check_crm_reschedule(
    existing: Timing, requested: Timing, now: datetime, time_zone: str = "UTC"
) -> RescheduleRefused | None:
    """Refuse a CRM request that moves an appointment which has ended (R14).

    Returns None when the move is allowed or moves nothing (relabelling the time zone of the
    same instants is not a move).
    """
    if same_time(existing, requested) or not has_ended(existing, now, time_zone):
        return None
    return RescheduleRefused()


def same_time(first: Timing, second: Timing) -> bool:
    """Return True if both timings are the same instants, or the same whole days."""
    if isinstance(first, Timed) and isinstance(second, Timed):
        return utc_range(first) == utc_range(second)
    if isinstance(first, AllDay) and isinstance(second, AllDay):
        return first == second
    return False
