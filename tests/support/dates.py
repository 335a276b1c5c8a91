"""Dates for tests that meet the real clock: always built from today, never written in.

A test whose dates are compared with "now" (the sync window, R9; past appointments, R14)
takes them from here, so it passes on any day it runs: under ``faketime`` 400 days ahead too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.clock import system_clock


def days_ahead(days: int, hour: int = 9, minute: int = 0) -> datetime:
    """``hour:minute`` UTC, ``days`` days after today (by the one clock)."""
    today = system_clock().replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days, hours=hour, minutes=minute)


def rfc3339(moment: datetime) -> str:
    """``moment`` as the providers write it: ``2027-01-05T09:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def naive_utc(moment: datetime) -> str:
    """``moment`` as a wall time without offset (Graph's ``dateTime`` beside ``timeZone``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
