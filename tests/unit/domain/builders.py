"""Small builders for domain tests: the article's account, events and times."""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from domain.directory import build_directory
from domain.eligibility import SyncWindow, sync_window
from domain.model import (
    Attendee,
    ContactRecord,
    Directory,
    EventVersion,
    Provider,
    ProviderEvent,
    Timed,
    Timing,
)

#: Karl's username and aliases, word for word from the article.
KARL_EMAILS = ("karl.andersson@exempel.se", "karl@exempel.se", "karl@sthlm.exempel.se")
#: Lucas, the user of scenario 3.
LUCAS_EMAILS = ("lucas@gbg.exempel.se",)
#: Johanna's addresses; she is never a user.
JOHANNA_EMAILS = ("johanna.svennson@exempel.se", "johanna@exempel.se", "johanna@gbg.exempel.se")

CONNECTED_ON = date(2026, 3, 2)
TODAY = date(2026, 3, 10)
STOCKHOLM = "Europe/Stockholm"


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware UTC datetime, short enough to read in a test."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def article_directory(
    *, with_lucas: bool = False, contacts: dict[str, Sequence[ContactRecord]] | None = None
) -> Directory:
    """The article's account: Karl always, Lucas in scenario 3 only, Johanna never."""
    users: dict[str, tuple[str, ...]] = {"karl": KARL_EMAILS}
    if with_lucas:
        users["lucas"] = LUCAS_EMAILS
    return build_directory(users, contacts_by_email=contacts)


def contact(
    contact_id: str,
    company_id: str | None = "acme",
    *,
    active: bool = True,
    updated: datetime | None = None,
) -> ContactRecord:
    """A contact record, updated at noon on 1 January 2026 unless told otherwise."""
    return ContactRecord(contact_id, company_id, active, updated or at(2026, 1, 1, 12))


def meeting_time(day: date = date(2026, 3, 12), hour: int = 10) -> Timed:
    """A one-hour timed meeting, inside the default window."""
    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    return Timed(start, start + timedelta(hours=1), "Europe/Stockholm")


def an_event(
    attendees: Sequence[Attendee] = (),
    organizer: str | None = None,
    *,
    provider: Provider = Provider.GOOGLE,
    event_id: str = "evt1",
    ical_uid: str | None = "uid1@example.com",
    timing: Timing | None = None,
    is_recurring: bool = False,
    instance_start: str | None = None,
    status: str = "confirmed",
) -> ProviderEvent:
    """A provider event with sensible defaults for everything a test does not care about."""
    return ProviderEvent(
        provider=provider,
        event_id=event_id,
        ical_uid=ical_uid,
        version=EventVersion(at(2026, 3, 1)),
        status=status,
        subject="Meeting",
        timing=timing if timing is not None else meeting_time(),
        is_recurring=is_recurring,
        instance_start=instance_start,
        organizer_email=organizer,
        attendees=tuple(attendees),
    )


def karls_window() -> SyncWindow:
    """Karl's window: connected on 2 March 2026, today 10 March 2026, in Stockholm."""
    return sync_window(CONNECTED_ON, STOCKHOLM, TODAY)
