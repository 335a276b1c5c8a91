"""Invitation, update and cancellation mail the providers would have sent, by recipient."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from infra.sandbox.timeutil import format_rfc3339, utcnow


@dataclass
class SentInvitation:
    """One message to one recipient. ``kind`` is invitation, update or cancellation."""

    kind: str
    recipient: str
    organizer: str
    event_id: str
    ical_uid: str
    subject: str
    sent_at: str


class InvitationLog:
    """Thread-safe record of every message "sent"."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[SentInvitation] = []

    def clear(self) -> None:
        """Forget all sent messages."""
        with self._lock:
            self._sent.clear()

    def record(
        self,
        kind: str,
        recipients: list[str],
        *,
        organizer: str,
        event_id: str,
        ical_uid: str,
        subject: str,
    ) -> None:
        """Record one message of ``kind`` to each recipient."""
        sent_at = format_rfc3339(utcnow())
        with self._lock:
            for recipient in recipients:
                self._sent.append(
                    SentInvitation(kind, recipient, organizer, event_id, ical_uid, subject, sent_at)
                )

    def as_dicts(self, recipient: str | None = None) -> list[dict[str, Any]]:
        """Sent messages in order, optionally only those to ``recipient`` (case-insensitive)."""
        wanted = recipient.lower() if recipient else None
        with self._lock:
            return [
                asdict(sent)
                for sent in self._sent
                if wanted is None or sent.recipient.lower() == wanted
            ]
