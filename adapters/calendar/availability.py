"""Busy times of a user's calendar, live from the provider (R28): the port.

Google: ``freebusy.query`` on the user's ``primary`` calendar (PROVIDERS.md A5).
Graph: ``POST /users/{user}/calendar/getSchedule`` for the user's own address (B7).
What is free is decided elsewhere (``domain.availability.free_slots``); an adapter only
reports when the provider says the user is busy. Nothing is cached: every call asks.

``adapters.calendar.factory`` makes the adapters; this module imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from adapters.calendar.source import Credentials, RefreshedTokens
from domain.availability import Interval


@dataclass(frozen=True)
class BusyAnswer:
    """What the provider said about a period.

    Attributes:
        busy: intervals the user is busy (or tentative, or out of office), aware UTC, in
            any order, possibly overlapping.
        tokens: tokens the caller does not have yet (persist them), else None; see
            ``adapters.calendar.source``.
    """

    busy: tuple[Interval, ...]
    tokens: RefreshedTokens | None = None


class BusyTimes(Protocol):
    """Reads when a user is busy, from their default calendar (R10, R28)."""

    def busy(self, credentials: Credentials, start: datetime, end: datetime) -> BusyAnswer:
        """The busy intervals of the user of ``credentials`` overlapping ``start``..``end``.

        Raises:
            AuthorizationRevoked: the user must reconnect.
            ProviderUnavailable: the provider is throttling, failing or unreachable.
            ProviderRejected: a permanent refusal (e.g. the calendar is not found).
            ValueError: ``credentials`` are for another provider (a caller's mistake).
        """
        ...

    def close(self) -> None:
        """Release cached clients and threads; the object must not be used afterwards."""
        ...
