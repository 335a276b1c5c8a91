"""Background delivery of change notifications to registered webhook addresses.

Google sends one POST with an empty body per message; Graph batches its notification
items for one address into a single ``{"value": [...]}`` body. Both shapes go through
:class:`NotificationDispatcher`, which also applies the notification fault knobs and
keeps a log of every attempt. Failures are logged, never raised.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from infra.sandbox.faults import FaultPlan
from infra.sandbox.outbound import OutboundHttp
from infra.sandbox.timeutil import format_rfc3339, utcnow

log = logging.getLogger(__name__)

#: Pause after the first due item so that others for the same address join its batch.
BATCH_WINDOW_SECONDS = 0.05

#: Delays before the second and third attempt of a failed delivery.
RETRY_DELAYS_SECONDS = (0.2, 0.5)

RetryPolicy = Callable[[int | None], bool]


def google_should_retry(status: int | None) -> bool:
    """Google retries on 500/502/503/504 and on no answer at all."""
    return status is None or status in (500, 502, 503, 504)


def graph_should_retry(status: int | None) -> bool:
    """Graph retries anything that is not a 2xx within the timeout."""
    return status is None or not 200 <= status < 300


@dataclass
class Notification:
    """One message for one address. ``item`` is a Graph ``value[]`` entry; ``None`` for Google."""

    url: str
    headers: dict[str, str]
    item: dict[str, Any] | None = None
    attempt: int = 1
    due: float = field(default_factory=time.monotonic)
    generation: int = 0


class NotificationDispatcher:
    """Queues notifications and posts them from a daemon thread."""

    def __init__(
        self, faults: FaultPlan, should_retry: RetryPolicy, timeout: float, http: OutboundHttp
    ) -> None:
        self._faults = faults
        self._http = http
        self._should_retry = should_retry
        self._timeout = timeout
        self._cond = threading.Condition()
        self._pending: list[Notification] = []
        self._held: list[Notification] = []
        self._log: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Bumped by reset(): a delivery already in flight then leaves no trace and no retry.
        self._generation = 0

    def start(self) -> None:
        """Start the delivery thread."""
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sandbox-notify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the delivery thread; undelivered messages are discarded."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread:
            self._thread.join(timeout=5)

    def reset(self) -> None:
        """Discard pending and held messages and the delivery log."""
        with self._cond:
            self._generation += 1
            self._pending.clear()
            self._held.clear()
            self._log.clear()

    def submit(self, notification: Notification) -> None:
        """Queue a message, applying any armed drop/duplicate/reorder fault."""
        notification.generation = self._generation
        fault = self._faults.take_notification_fault()
        if fault is None:
            self._enqueue([notification])
            return
        mode, last = fault
        if mode == "drop":
            self._record(notification, outcome="dropped")
        elif mode == "duplicate":
            self._enqueue([notification, replace(notification)])
        else:
            self._hold(notification, release=last)

    def release_held(self) -> None:
        """Deliver messages held for reordering, newest first."""
        with self._cond:
            held, self._held = self._held, []
        self._enqueue(list(reversed(held)))

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery attempt so far, oldest first."""
        with self._cond:
            return list(self._log)

    def _hold(self, notification: Notification, release: bool) -> None:
        with self._cond:
            self._held.append(notification)
        if release:
            self.release_held()

    def _enqueue(self, notifications: list[Notification]) -> None:
        now = time.monotonic()
        with self._cond:
            for notification in notifications:
                if notification.attempt == 1:
                    notification.due = now
                self._pending.append(notification)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            due = self._take_due()
            if due is None:
                return
            for group in _group_by_address(due):
                self._deliver(group)

    def _take_due(self) -> list[Notification] | None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if any(n.due <= now for n in self._pending):
                    break
                next_due = min((n.due for n in self._pending), default=now + 0.5)
                self._cond.wait(timeout=max(0.005, next_due - now))
            if self._stopping:
                return None
            if any(n.item is not None for n in self._pending):
                self._cond.wait(timeout=BATCH_WINDOW_SECONDS)
            now = time.monotonic()
            due = [n for n in self._pending if n.due <= now]
            self._pending = [n for n in self._pending if n.due > now]
            return due

    def _deliver(self, group: list[Notification]) -> None:
        first = group[0]
        items = [n.item for n in group if n.item is not None]
        body = json.dumps({"value": items}).encode() if items else b""
        status, error = self._post(first.url, first.headers, body)
        outcome = "delivered" if status is not None and 200 <= status < 300 else "failed"
        for notification in group:
            self._record(notification, outcome=outcome, status=status, error=error)
        if outcome == "failed" and self._should_retry(status):
            self._schedule_retry(group)

    def _current(self, notification: Notification) -> bool:
        return notification.generation == self._generation

    def _post(
        self, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int | None, str | None]:
        try:
            response = self._http.post(url, content=body, headers=headers, timeout=self._timeout)
        except httpx.HTTPError as exc:
            log.info("notification to %s failed: %s", url, exc)
            return None, str(exc)
        return response.status_code, None

    def _schedule_retry(self, group: list[Notification]) -> None:
        attempt = group[0].attempt
        if attempt > len(RETRY_DELAYS_SECONDS) or not self._current(group[0]):
            return
        due = time.monotonic() + RETRY_DELAYS_SECONDS[attempt - 1]
        self._enqueue([replace(n, attempt=attempt + 1, due=due) for n in group])

    def _record(
        self,
        notification: Notification,
        *,
        outcome: str,
        status: int | None = None,
        error: str | None = None,
    ) -> None:
        entry = {
            "url": notification.url,
            "headers": dict(notification.headers),
            "item": notification.item,
            "attempt": notification.attempt,
            "outcome": outcome,
            "status": status,
            "error": error,
            "at": format_rfc3339(utcnow()),
        }
        with self._cond:
            if self._current(notification):
                self._log.append(entry)


def _group_by_address(due: list[Notification]) -> list[list[Notification]]:
    """Batch Graph items per address (keeping order); Google messages go alone."""
    groups: list[list[Notification]] = []
    batches: dict[str, list[Notification]] = {}
    for notification in due:
        if notification.item is None:
            groups.append([notification])
        elif notification.url in batches:
            batches[notification.url].append(notification)
        else:
            batches[notification.url] = [notification]
            groups.append(batches[notification.url])
    return groups
