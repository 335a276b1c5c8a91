"""A small recurrence expander shared by both sandboxes.

Supports what calendar apps create day to day: daily, weekly (with weekdays), monthly
and yearly rules with an interval, a count or an end, and excluded dates. Google's RRULE
lines and Graph's ``patternedRecurrence`` are both parsed into a :class:`Rule`.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

#: Upper bound on instances produced for one series (Google stops expanding too).
MAX_INSTANCES = 730

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
GRAPH_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
GRAPH_FREQUENCIES = {
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "absoluteMonthly": "MONTHLY",
    "absoluteYearly": "YEARLY",
}


@dataclass(frozen=True)
class Rule:
    """A recurrence rule in local wall-clock terms."""

    freq: str
    interval: int = 1
    count: int | None = None
    until: date | None = None
    weekdays: tuple[int, ...] = ()
    excluded: frozenset[date] = field(default_factory=frozenset)


class UnsupportedRule(ValueError):
    """The rule uses a feature the sandbox does not expand."""


SUPPORTED_FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")


def parse_google(lines: list[str]) -> Rule | None:
    """Parse Google ``recurrence[]`` lines (RRULE and EXDATE); ``None`` if there is no RRULE.

    Raises:
        UnsupportedRule: a frequency or weekday the sandbox does not expand.
    """
    parts: dict[str, str] = {}
    excluded: set[date] = set()
    for line in lines:
        name, _, value = line.partition(":")
        if name.upper() == "RRULE":
            parts = dict(item.split("=", 1) for item in value.split(";") if "=" in item)
        elif name.upper().startswith("EXDATE"):
            excluded.update(_ical_date(item) for item in value.split(","))
    if not parts:
        return None
    if parts.get("FREQ") not in SUPPORTED_FREQUENCIES:
        raise UnsupportedRule(f"FREQ={parts.get('FREQ')}")
    if any(day[-2:] not in WEEKDAYS for day in parts.get("BYDAY", "").split(",") if day):
        raise UnsupportedRule(f"BYDAY={parts['BYDAY']}")
    return Rule(
        freq=parts["FREQ"],
        interval=int(parts.get("INTERVAL", "1")),
        count=int(parts["COUNT"]) if "COUNT" in parts else None,
        until=_ical_date(parts["UNTIL"]) if "UNTIL" in parts else None,
        weekdays=tuple(
            WEEKDAYS.index(day[-2:]) for day in parts.get("BYDAY", "").split(",") if day
        ),
        excluded=frozenset(excluded),
    )


def parse_graph(recurrence: dict[str, Any]) -> Rule:
    """Parse a Graph ``patternedRecurrence``."""
    pattern = recurrence.get("pattern") or {}
    span = recurrence.get("range") or {}
    freq = GRAPH_FREQUENCIES.get(str(pattern.get("type")))
    if freq is None:
        raise UnsupportedRule(f"recurrence pattern {pattern.get('type')!r}")
    days = pattern.get("daysOfWeek") or []
    return Rule(
        freq=freq,
        interval=int(pattern.get("interval") or 1),
        count=int(span["numberOfOccurrences"]) if span.get("type") == "numbered" else None,
        until=date.fromisoformat(str(span["endDate"])) if span.get("type") == "endDate" else None,
        weekdays=tuple(GRAPH_WEEKDAYS.index(str(d).lower()) for d in days),
    )


def occurrences(first: datetime, rule: Rule, until: datetime) -> Iterator[datetime]:
    """Local start times of a series beginning at ``first``, up to ``until`` (both naive)."""
    if rule.freq not in SUPPORTED_FREQUENCIES:
        raise UnsupportedRule(f"FREQ={rule.freq}")
    for produced, candidate in enumerate(_candidates(first, rule), start=1):
        if candidate > until or produced > MAX_INSTANCES:
            return
        if rule.until and candidate.date() > rule.until:
            return
        if candidate.date() not in rule.excluded:
            yield candidate
        if rule.count and produced >= rule.count:
            return


def _candidates(first: datetime, rule: Rule) -> Iterator[datetime]:
    step = 0
    while True:
        if rule.freq == "DAILY":
            yield first + timedelta(days=step * rule.interval)
        elif rule.freq == "WEEKLY":
            yield from _week(first, rule, step)
        else:
            moved = _add_months(first, step * rule.interval * (12 if rule.freq == "YEARLY" else 1))
            if moved is not None:
                yield moved
        step += 1


def _week(first: datetime, rule: Rule, step: int) -> Iterator[datetime]:
    week_start = first - timedelta(days=first.weekday()) + timedelta(weeks=step * rule.interval)
    for weekday in sorted(rule.weekdays or (first.weekday(),)):
        candidate = week_start + timedelta(days=weekday)
        if candidate >= first:
            yield candidate


def _add_months(first: datetime, months: int) -> datetime | None:
    """``first`` moved by whole months; ``None`` when that month lacks the day (RFC 5545)."""
    year, month = divmod(first.month - 1 + months, 12)
    year += first.year
    if first.day > calendar.monthrange(year, month + 1)[1]:
        return None
    return first.replace(year=year, month=month + 1)


def _ical_date(value: str) -> date:
    """The calendar date of an iCalendar DATE or DATE-TIME value."""
    digits = value.strip()[:8]
    return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
