"""Ordering event versions, so that a stale or repeated version never wins (R16)."""

from datetime import UTC, datetime
from enum import StrEnum

from domain.model import EventVersion


class UpsertDecision(StrEnum):
    """What to do with an incoming version of an event already seen, or not."""

    APPLY = "apply"
    SKIP_DUPLICATE = "skip_duplicate"
    SKIP_STALE = "skip_stale"


def version_key(version: EventVersion) -> tuple[datetime, int, str]:
    """Return the key that totally orders versions of one event.

    Modification time first (as a UTC instant, so offsets do not matter), then the iCalendar
    sequence, then the change key. A change key carries no order of its own; comparing it
    as a string only makes ties deterministic, so every worker picks the same winner.
    """
    return version.updated.astimezone(UTC), version.sequence, version.change_key


def is_newer(incoming: EventVersion, existing: EventVersion | None) -> bool:
    """Return True if ``incoming`` is strictly newer than ``existing`` (anything beats None)."""
    return existing is None or version_key(incoming) > version_key(existing)


def decide_upsert(existing: EventVersion | None, incoming: EventVersion) -> UpsertDecision:
    """Decide whether ``incoming`` replaces the stored ``existing`` version (R16).

    Applying the winner of every decision, in any order and with any repeats, always ends
    on the newest version.
    """
    if is_newer(incoming, existing):
        return UpsertDecision.APPLY
    if existing is not None and version_key(incoming) == version_key(existing):
        return UpsertDecision.SKIP_DUPLICATE
    return UpsertDecision.SKIP_STALE
