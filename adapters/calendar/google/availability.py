"""Google busy times: ``freebusy.query`` on the user's ``primary`` calendar (PROVIDERS.md A5).

Google's busy intervals already leave out what does not block time (transparent events,
declined invitations); tentative acceptances count as busy, as Google reports them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.calendar.availability import BusyAnswer
from adapters.calendar.errors import ProviderRejected, ProviderUnavailable
from adapters.calendar.google.reads import GoogleReader
from adapters.calendar.google.source import calendar_service
from adapters.calendar.retry import RetryPolicy
from adapters.calendar.source import Credentials
from adapters.calendar.times import parse_instant
from domain.availability import Interval

#: The calendar asked about: the user's default one (R10).
CALENDAR_ID = "primary"

#: ``errors[].reason`` values of a calendar entry that another try may cure.
TRANSIENT_REASONS = frozenset({"internalError", "backendError"})


class GoogleBusyTimes:
    """Busy intervals of users' primary Google calendars.

    Args:
        retry: retries inside one call (defaults to the interactive policy).
        max_cached_users: users whose built service is kept between calls.
    """

    def __init__(self, *, retry: RetryPolicy | None = None, max_cached_users: int = 128) -> None:
        self._reader = GoogleReader(
            calendar_service, retry=retry, max_cached_users=max_cached_users
        )

    def busy(self, credentials: Credentials, start: datetime, end: datetime) -> BusyAnswer:
        """``freebusy.query`` for ``start``..``end`` (see ``BusyTimes.busy``)."""
        body = {
            "timeMin": _rfc3339(start),
            "timeMax": _rfc3339(end),
            "timeZone": "UTC",
            "items": [{"id": CALENDAR_ID}],
        }
        answer, tokens = self._reader.execute(
            credentials, lambda service: service.freebusy().query(body=body), "freebusy.query"
        )
        return BusyAnswer(busy=busy_intervals(answer), tokens=tokens)

    def close(self) -> None:
        """Close every cached service's connections."""
        self._reader.close()


def busy_intervals(answer: dict[str, Any]) -> tuple[Interval, ...]:
    """The busy intervals of ``primary`` in a ``freebusy.query`` answer, aware UTC.

    Raises:
        ProviderRejected: Google reports the calendar as not found (or another lasting error).
        ProviderUnavailable: Google reports an internal error for it, or the answer is
            not the documented shape.
    """
    calendars = answer.get("calendars")
    if not isinstance(calendars, dict):
        raise ProviderUnavailable("Google freebusy.query answered without 'calendars'")
    entry = calendars.get(CALENDAR_ID)
    if entry is None and len(calendars) == 1:
        entry = next(iter(calendars.values()))  # keyed by the address rather than the alias
    if not isinstance(entry, dict):
        raise ProviderUnavailable("Google freebusy.query answered without the primary calendar")
    errors = [e for e in entry.get("errors") or [] if isinstance(e, dict)]
    if errors:
        reason = str(errors[0].get("reason") or "")
        what = f"Google freebusy.query reports {reason or 'an error'} for the primary calendar"
        if reason in TRANSIENT_REASONS:
            raise ProviderUnavailable(what)
        raise ProviderRejected(what, None, reason)
    intervals: list[Interval] = []
    for period in entry.get("busy") or []:
        low = parse_instant(period.get("start")) if isinstance(period, dict) else None
        high = parse_instant(period.get("end")) if isinstance(period, dict) else None
        if low is None or high is None:
            raise ProviderUnavailable(f"Google freebusy.query answered a busy period {period!r}")
        if high > low:
            intervals.append((low.astimezone(UTC), high.astimezone(UTC)))
    return tuple(intervals)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
