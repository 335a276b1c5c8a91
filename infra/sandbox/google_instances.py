"""Instances of recurring Google events: expansion, ids and exceptions.

A series is stored once (its ``recurrence`` lines). An instance that was changed or
cancelled is stored as an exception with ``recurringEventId`` and ``originalStartTime``;
every other instance exists only virtually, with an id of the form
``<seriesId>_<YYYYMMDDTHHMMSSZ>`` (``_<YYYYMMDD>`` for all-day series), as Google does.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.sandbox import google_times, recurrence
from infra.sandbox.google_state import GoogleCalendar
from infra.sandbox.timeutil import utcnow

#: How far ahead an open-ended series is expanded when the query has no ``timeMax``.
DEFAULT_HORIZON = timedelta(days=365)


def is_series(resource: dict[str, Any]) -> bool:
    """Whether an event is the parent of a recurring series."""
    return bool(resource.get("recurrence")) and "recurringEventId" not in resource


def instance_id(series_id: str, original_start: dict[str, Any], zone: str) -> str:
    """Google's id for one instance of a series."""
    if google_times.is_all_day(original_start):
        return f"{series_id}_{original_start['date'].replace('-', '')}"
    moment = google_times.instant(original_start, zone).astimezone(UTC)
    return f"{series_id}_{moment:%Y%m%dT%H%M%SZ}"


def expand(
    calendar: GoogleCalendar,
    series: dict[str, Any],
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """The series' instances up to ``until`` (default: a year ahead), exceptions applied."""
    rule = recurrence.parse_google(series.get("recurrence", []))
    if rule is None:
        return []
    start, end = series["start"], series["end"]
    zone = calendar.zone
    first = google_times.instant(start, zone)
    limit = until or max(first, utcnow()) + DEFAULT_HORIZON
    tz_name = start.get("timeZone") or zone
    local_first = first.astimezone(google_times.zone(tz_name)).replace(tzinfo=None)
    local_limit = limit.astimezone(google_times.zone(tz_name)).replace(tzinfo=None)
    instances = []
    for local in recurrence.occurrences(local_first, rule, local_limit):
        delta = local - local_first
        original = google_times.shift(start, delta, zone)
        key = instance_id(series["id"], original, zone)
        stored = calendar.events.get(key)
        if stored is not None:
            instances.append(stored.resource)
        else:
            instances.append(_virtual(series, original, google_times.shift(end, delta, zone), key))
    return instances


def _virtual(
    series: dict[str, Any], start: dict[str, Any], end: dict[str, Any], key: str
) -> dict[str, Any]:
    instance = {k: copy.deepcopy(v) for k, v in series.items() if k != "recurrence"}
    instance.update(
        id=key,
        recurringEventId=series["id"],
        originalStartTime=dict(start),
        start=start,
        end=end,
    )
    return instance


def find_virtual(calendar: GoogleCalendar, event_id: str) -> dict[str, Any] | None:
    """The virtual instance an id names, if its series exists and produces it."""
    series_id, _, suffix = event_id.rpartition("_")
    stored = calendar.events.get(series_id)
    if not series_id or stored is None or not is_series(stored.resource):
        return None
    until = _suffix_moment(suffix)
    if until is None:
        return None
    for instance in expand(calendar, stored.resource, until + timedelta(days=1)):
        if instance["id"] == event_id:
            return instance
    return None


def _suffix_moment(suffix: str) -> datetime | None:
    for pattern in ("%Y%m%dT%H%M%SZ", "%Y%m%d"):
        try:
            return datetime.strptime(suffix, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None
