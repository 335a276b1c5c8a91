"""Fault injection: error statuses, latency, and misbehaving notification delivery.

Status and latency faults apply to provider API calls (never to ``/_admin``). Without a
``path`` pattern they skip the token endpoints, so a fault meant for an API call is not
consumed by a token refresh; give a pattern such as ``token`` to target those.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

#: Notification fault modes: lose a message, send it twice, or hold a group and reverse it.
NOTIFICATION_MODES = ("drop", "duplicate", "reorder")


@dataclass
class StatusFault:
    """Answer the next ``remaining`` matching requests with ``status``."""

    status: int
    remaining: int
    path: re.Pattern[str] | None = None
    method: str | None = None
    retry_after: int | None = None

    def matches(self, method: str, path: str, is_api: bool) -> bool:
        """Whether this fault applies to a request."""
        if self.method and self.method.upper() != method.upper():
            return False
        return bool(self.path.search(path)) if self.path else is_api


@dataclass
class LatencyFault:
    """Delay matching requests by ``seconds``; ``remaining=None`` means until cleared.

    ``after``: hold the answer back once the request has taken effect, instead of delaying
    it before; a caller killed while it waits leaves the change made but never answered.
    """

    seconds: float
    remaining: int | None = None
    path: re.Pattern[str] | None = None
    after: bool = False


@dataclass
class NotificationFault:
    """Apply ``mode`` to the next ``remaining`` notifications."""

    mode: str
    remaining: int


class FaultPlan:
    """The faults currently armed on one sandbox; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: list[StatusFault] = []
        self._latency: list[LatencyFault] = []
        self._notifications: list[NotificationFault] = []

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._status.clear()
            self._latency.clear()
            self._notifications.clear()

    def add_status(
        self,
        status: int,
        count: int = 1,
        path: str | None = None,
        method: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Fail the next ``count`` requests (matching ``path``, a regex) with ``status``."""
        pattern = re.compile(path) if path else None
        with self._lock:
            self._status.append(StatusFault(status, count, pattern, method, retry_after))

    def add_latency(
        self,
        seconds: float,
        count: int | None = None,
        path: str | None = None,
        *,
        after: bool = False,
    ) -> None:
        """Delay matching requests by ``seconds``, before handling them or (``after``) their
        answer."""
        pattern = re.compile(path) if path else None
        with self._lock:
            self._latency.append(LatencyFault(seconds, count, pattern, after))

    def add_notification_fault(self, mode: str, count: int = 1) -> None:
        """Drop, duplicate or reorder the next ``count`` notifications."""
        if mode not in NOTIFICATION_MODES:
            raise ValueError(f"unknown notification fault {mode!r}")
        with self._lock:
            self._notifications.append(NotificationFault(mode, count))

    def take_status(self, method: str, path: str, is_api: bool) -> StatusFault | None:
        """Consume and return the first status fault that matches a request."""
        with self._lock:
            for fault in self._status:
                if fault.remaining > 0 and fault.matches(method, path, is_api):
                    fault.remaining -= 1
                    return fault
        return None

    def take_latency(self, path: str, is_api: bool, *, after: bool = False) -> float:
        """Consume the latency faults of one phase (before handling a request, or ``after``)
        that match it; returns the total delay."""
        delay = 0.0
        with self._lock:
            for fault in self._latency:
                if fault.after is not after:
                    continue
                applies = bool(fault.path.search(path)) if fault.path else is_api
                if applies and (fault.remaining is None or fault.remaining > 0):
                    delay += fault.seconds
                    if fault.remaining is not None:
                        fault.remaining -= 1
        return delay

    def take_notification_fault(self) -> tuple[str, bool] | None:
        """Consume one notification fault, if any is armed.

        Returns:
            The mode, and whether this was the fault's last message (which releases a
            held reorder group); ``None`` when no notification fault is armed.
        """
        with self._lock:
            for fault in self._notifications:
                if fault.remaining > 0:
                    fault.remaining -= 1
                    return fault.mode, fault.remaining == 0
        return None

    def describe(self) -> dict[str, list[dict[str, object]]]:
        """The armed faults, for the admin API."""
        with self._lock:
            return {
                "status": [_status_dict(f) for f in self._status if f.remaining > 0],
                "latency": [
                    {
                        "seconds": f.seconds,
                        "remaining": f.remaining,
                        "path": _pattern(f.path),
                        "after": f.after,
                    }
                    for f in self._latency
                    if f.remaining is None or f.remaining > 0
                ],
                "notifications": [
                    {"mode": f.mode, "remaining": f.remaining}
                    for f in self._notifications
                    if f.remaining > 0
                ],
            }


def _pattern(pattern: re.Pattern[str] | None) -> str | None:
    return pattern.pattern if pattern else None


def _status_dict(fault: StatusFault) -> dict[str, object]:
    return {
        "status": fault.status,
        "remaining": fault.remaining,
        "path": _pattern(fault.path),
        "method": fault.method,
        "retry_after": fault.retry_after,
    }
