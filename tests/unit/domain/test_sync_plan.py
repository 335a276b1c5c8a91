"""Planning a page of provider changes: which rule decides each event (R7-R19)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

from domain.meetings import EventLink
from domain.model import (
    Attendee,
    EventVersion,
    Participant,
    ParticipantKind,
    Provider,
    ProviderEvent,
    Response,
)
from domain.participants import resolve_attendees
from domain.sync_plan import (
    CalendarOwner,
    CrmSaved,
    EventPlan,
    PlanKind,
    StoredAppointment,
    plan_page,
)
from domain.timing import Timed
from domain.writeback import event_body
from tests.unit.domain.builders import (
    STOCKHOLM,
    an_event,
    article_directory,
    at,
    contact,
    karls_window,
    meeting_time,
)

KARL = CalendarOwner("karl", "karl@exempel.se", Provider.GOOGLE, STOCKHOLM, "type-meeting")
LUCAS = CalendarOwner("lucas", "lucas@gbg.exempel.se", Provider.GOOGLE, STOCKHOLM)
NOW = at(2026, 3, 10, 9)
EVA = Attendee("eva@kund.se", response=Response.ACCEPTED)


def plan(
    events: list[ProviderEvent],
    *,
    owner: CalendarOwner = KARL,
    links: tuple[EventLink, ...] = (),
    stored: dict[str, StoredAppointment] | None = None,
) -> list[EventPlan]:
    directory = article_directory(
        with_lucas=True, contacts={"eva@kund.se": [contact("eva", "kund")]}
    )
    resolutions = {
        e.event_id: resolve_attendees(e.attendees, e.organizer_email, directory)
        for e in events
        if not e.is_cancelled
    }
    ids = (f"appt-{n}" for n in itertools.count(1))
    return plan_page(
        events,
        resolutions=resolutions,
        owner=owner,
        window=karls_window(),
        links=links,
        stored=stored or {},
        now=NOW,
        new_id=lambda: next(ids),
    )


def link_for(event: ProviderEvent, owner: CalendarOwner, appointment_id: str) -> EventLink:
    return EventLink(
        appointment_id,
        owner.provider,
        owner.user_id,
        event.event_id,
        event.ical_uid,
        event.instance_start,
        event.version,
    )


def stored(appointment_id: str, owners: dict[str, str], **fields: object) -> StoredAppointment:
    values: dict[str, object] = {
        "timing": meeting_time(),
        "time_zone": STOCKHOLM,
        "company_id": None,
        "company_set_by_hand": False,
        "latest_version": EventVersion(at(2026, 3, 1)),
    }
    values.update(fields)
    return StoredAppointment(appointment_id, owners=owners, **values)  # type: ignore[arg-type]


def test_new_meeting_with_a_contact_creates_an_appointment_with_the_connection_type() -> None:
    event = an_event([Attendee("karl@exempel.se"), EVA], organizer="karl@exempel.se")

    (result,) = plan([event])

    assert result.kind is PlanKind.CREATE
    assert result.appointment_id == "appt-1"
    assert result.content is not None
    assert [p.email for p in result.content.participants] == ["karl@exempel.se", "eva@kund.se"]
    assert result.content.company_id == "kund"  # R18
    assert result.link == link_for(event, KARL, "appt-1")


def test_r7_meeting_with_only_colleagues_is_skipped() -> None:
    event = an_event(
        [Attendee("karl@exempel.se"), Attendee("johanna@exempel.se")], organizer="karl@exempel.se"
    )

    (result,) = plan([event])

    assert (result.kind, result.reason) == (PlanKind.SKIP, "no_participants")


def test_r16_same_version_twice_is_a_duplicate_and_older_is_stale() -> None:
    event = an_event([EVA], organizer="karl@exempel.se")
    link = link_for(event, KARL, "appt-9")
    older = replace(event, version=EventVersion(at(2026, 2, 1)))

    duplicate, stale = plan([event, older], links=(link,), stored={"appt-9": stored("appt-9", {})})

    assert (duplicate.kind, duplicate.reason) == (PlanKind.SKIP, "skip_duplicate")
    assert (stale.kind, stale.reason) == (PlanKind.SKIP, "skip_stale")


def test_r16_newer_version_updates_the_linked_appointment() -> None:
    event = an_event([EVA], organizer="karl@exempel.se")
    newer = replace(event, version=EventVersion(at(2026, 3, 5)), subject="Moved")

    (result,) = plan(
        [newer],
        links=(link_for(event, KARL, "appt-9"),),
        stored={"appt-9": stored("appt-9", {"karl": "karl@exempel.se"})},
    )

    assert (result.kind, result.appointment_id) == (PlanKind.UPDATE, "appt-9")
    assert result.content is not None
    assert result.content.subject == "Moved"


def test_r15_the_same_meeting_in_lucas_calendar_joins_karls_appointment() -> None:
    karls = an_event(
        [Attendee("karl@exempel.se"), Attendee("lucas@gbg.exempel.se"), EVA],
        organizer="karl@exempel.se",
        event_id="karl-evt",
    )
    lucas_copy = replace(karls, event_id="lucas-evt", version=EventVersion(at(2026, 3, 2)))
    appointment = stored("appt-9", {"karl": "karl@exempel.se"})

    (result,) = plan(
        [lucas_copy],
        owner=LUCAS,
        links=(link_for(karls, KARL, "appt-9"),),
        stored={"appt-9": appointment},
    )

    assert (result.kind, result.appointment_id) == (PlanKind.JOIN, "appt-9")
    assert result.content is not None
    users = {p.user_id for p in result.content.participants if p.user_id}
    assert users == {"karl", "lucas"}
    assert result.link is not None
    assert result.link.calendar_owner_user_id == "lucas"


def test_r15_an_older_copy_joins_without_rewriting_the_content() -> None:
    karls = an_event([EVA], organizer="karl@exempel.se", event_id="karl-evt")
    stale_copy = replace(karls, event_id="lucas-evt", version=EventVersion(at(2026, 2, 1)))

    (result,) = plan(
        [stale_copy],
        owner=LUCAS,
        links=(link_for(karls, KARL, "appt-9"),),
        stored={"appt-9": stored("appt-9", {"karl": "karl@exempel.se"})},
    )

    assert (result.kind, result.content) == (PlanKind.JOIN, None)


def test_r19_a_copied_meeting_in_the_same_calendar_is_a_new_appointment() -> None:
    original = an_event([EVA], organizer="karl@exempel.se", event_id="orig")
    copy = replace(original, event_id="copy", timing=meeting_time(hour=14))

    (result,) = plan(
        [copy],
        links=(link_for(original, KARL, "appt-9"),),
        stored={"appt-9": stored("appt-9", {"karl": "karl@exempel.se"})},
    )

    assert (result.kind, result.appointment_id) == (PlanKind.CREATE, "appt-1")
    assert result.reason == "copy of a meeting in this calendar (R19)"


def test_two_events_of_one_page_see_each_other() -> None:
    first = an_event([EVA], organizer="karl@exempel.se", event_id="a")
    again = replace(first, version=EventVersion(at(2026, 3, 3)), subject="Edited")

    created, updated = plan([first, again])

    assert created.kind is PlanKind.CREATE
    assert (updated.kind, updated.appointment_id) == (PlanKind.UPDATE, created.appointment_id)


def test_r13_cancelled_linked_event_marks_the_link_gone_and_keeps_the_appointment() -> None:
    event = an_event([EVA], organizer="karl@exempel.se")
    cancelled = ProviderEvent(
        Provider.GOOGLE, event.event_id, None, EventVersion(at(2026, 3, 4)), status="cancelled"
    )

    (result,) = plan(
        [cancelled],
        links=(link_for(event, KARL, "appt-9"),),
        stored={"appt-9": stored("appt-9", {})},
    )

    assert (result.kind, result.appointment_id) == (PlanKind.MARK_GONE, "appt-9")
    assert result.link is not None
    assert result.link.gone


def test_r13_cancelled_unknown_event_is_skipped() -> None:
    cancelled = ProviderEvent(
        Provider.GOOGLE, "never-seen", None, EventVersion(at(2026, 3, 4)), status="cancelled"
    )

    (result,) = plan([cancelled])

    assert result.kind is PlanKind.SKIP


def test_r14_a_past_appointment_keeps_its_time_but_takes_other_changes() -> None:
    past = Timed(at(2026, 3, 9, 9), at(2026, 3, 9, 10), STOCKHOLM)
    event = an_event([EVA], organizer="karl@exempel.se", timing=past)
    moved = replace(
        event,
        version=EventVersion(at(2026, 3, 10)),
        subject="Renamed",
        timing=Timed(past.start + timedelta(days=7), past.end + timedelta(days=7), STOCKHOLM),
    )

    (result,) = plan(
        [moved],
        links=(link_for(event, KARL, "appt-9"),),
        stored={"appt-9": stored("appt-9", {}, timing=past)},
    )

    assert result.content is not None
    assert (result.content.timing, result.content.subject) == (past, "Renamed")


def test_r18_a_company_set_by_hand_survives_a_sync() -> None:
    event = an_event([EVA], organizer="karl@exempel.se")
    newer = replace(event, version=EventVersion(at(2026, 3, 5)))

    (result,) = plan(
        [newer],
        links=(link_for(event, KARL, "appt-9"),),
        stored={"appt-9": stored("appt-9", {}, company_id="by-hand", company_set_by_hand=True)},
    )

    assert result.content is not None
    assert result.content.company_id == "by-hand"


# -- events our write-back wrote (R21, R25) ---------------------------------------------------

CRM_PEOPLE = (
    Participant(ParticipantKind.USER, "karl@exempel.se", Response.ORGANIZER, user_id="karl"),
    Participant(
        ParticipantKind.CONTACT,
        "eva@kund.se",
        Response.NEEDS_ACTION,
        contact_id="eva",
        company_id="kund",
    ),
)


def crm_saved(description: str = "Offer", agenda: str = "1. Prices") -> CrmSaved:
    return CrmSaved(description, agenda, CRM_PEOPLE)


def test_r25_our_event_read_before_its_link_is_stored_joins_the_crm_appointment() -> None:
    # Given the CRM's appointment, written to Karl's calendar without attendees (R21), and
    # the sync reads the event before the write-back stored its link
    event = replace(
        an_event([], organizer="karl@exempel.se"),
        origin_appointment_id="crm-appt",
        description=event_body("Offer", "1. Prices"),
    )
    appointment = stored("crm-appt", {}, latest_version=None, crm=crm_saved())

    (result,) = plan([event], stored={"crm-appt": appointment})

    # Then it joins that appointment (no second one), keeps the CRM's people and texts
    assert result.kind is PlanKind.JOIN
    assert result.appointment_id == "crm-appt"
    assert result.content is not None
    assert result.content.description == "Offer"
    assert [p.email for p in result.content.participants] == ["karl@exempel.se", "eva@kund.se"]
    assert result.link == link_for(event, KARL, "crm-appt")


def test_r25_a_tag_naming_an_unknown_or_non_crm_appointment_is_an_ordinary_new_event() -> None:
    event = replace(an_event([EVA], organizer="karl@exempel.se"), origin_appointment_id="other")
    synced_only = stored("other", {}, latest_version=None)  # never saved in the CRM

    assert plan([event])[0].kind is PlanKind.CREATE
    assert plan([event], stored={"other": synced_only})[0].kind is PlanKind.CREATE


def test_r19_a_copy_of_our_event_in_the_same_calendar_is_a_new_appointment() -> None:
    # The copy carries our tag too, but Karl's calendar already shows the appointment
    event = replace(an_event([EVA], organizer="karl@exempel.se"), origin_appointment_id="crm-appt")
    appointment = stored("crm-appt", {"karl": "karl@exempel.se"}, crm=crm_saved())

    (result,) = plan([event], stored={"crm-appt": appointment})

    assert result.kind is PlanKind.CREATE
    assert result.appointment_id != "crm-appt"


def test_r21_a_calendar_edit_of_a_crm_appointment_keeps_the_crms_participants() -> None:
    # Given a CRM appointment whose event lists nobody (saved without inviting on Graph)
    event = replace(an_event([], organizer="karl@exempel.se"), subject="Moved in Outlook")
    appointment = stored("crm-appt", {"karl": "karl@exempel.se"}, crm=crm_saved())
    link = replace(link_for(event, KARL, "crm-appt"), version=EventVersion(at(2026, 3, 1)))

    # When the event was edited in the calendar, with a text of its own
    edited = replace(
        event, description="New text from Outlook", version=EventVersion(at(2026, 3, 5))
    )
    (result,) = plan([edited], links=(link,), stored={"crm-appt": appointment})

    # Then the edit applies, and the CRM's participants stay
    assert result.kind is PlanKind.UPDATE
    assert result.content is not None
    assert result.content.subject == "Moved in Outlook"
    assert result.content.description == "New text from Outlook"
    assert {p.email for p in result.content.participants} == {"karl@exempel.se", "eva@kund.se"}
