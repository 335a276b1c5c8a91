"""Which invitation, update and cancellation mail Google sends for a change (``sendUpdates``)."""

from __future__ import annotations

from typing import Any

from infra.sandbox.google_events import guest_emails
from infra.sandbox.google_state import GoogleState


def for_new(state: GoogleState, event: dict[str, Any], send_updates: str | None) -> None:
    """Invitations to every guest of a new event."""
    _send(state, event, "invitation", guest_emails(event), send_updates)


def for_change(
    state: GoogleState, previous: dict[str, Any], changed: dict[str, Any], send_updates: str | None
) -> None:
    """Invitations to added guests, updates to kept ones, cancellations to removed ones."""
    if changed.get("status") == "cancelled" and previous.get("status") != "cancelled":
        for_cancellation(state, changed, send_updates)
        return
    before = {email.lower() for email in guest_emails(previous)}
    after = guest_emails(changed)
    after_lower = {email.lower() for email in after}
    added = [email for email in after if email.lower() not in before]
    kept = [email for email in after if email.lower() in before]
    removed = [email for email in guest_emails(previous) if email.lower() not in after_lower]
    _send(state, changed, "invitation", added, send_updates)
    _send(state, changed, "update", kept, send_updates)
    _send(state, previous, "cancellation", removed, send_updates)


def for_cancellation(state: GoogleState, event: dict[str, Any], send_updates: str | None) -> None:
    """Cancellations to every guest of a deleted or cancelled event."""
    _send(state, event, "cancellation", guest_emails(event), send_updates)


def _send(
    state: GoogleState,
    event: dict[str, Any],
    kind: str,
    recipients: list[str],
    send_updates: str | None,
) -> None:
    # Without sendUpdates (or with "none") Google sends nothing; "externalOnly" skips
    # guests who use Google Calendar, which in the sandbox means its own users and rooms.
    if send_updates == "externalOnly":
        recipients = [r for r in recipients if not _uses_google_calendar(state, r)]
    elif send_updates != "all":
        return
    if recipients:
        state.invitations.record(
            kind,
            recipients,
            organizer=event["organizer"]["email"],
            event_id=event["id"],
            ical_uid=event.get("iCalUID", ""),
            subject=event.get("summary", ""),
        )


def _uses_google_calendar(state: GoogleState, email: str) -> bool:
    directory = state.directory
    return directory.find_user(email) is not None or directory.find_room(email) is not None
