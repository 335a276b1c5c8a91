"""What one page of provider changes does to the CRM, decided without I/O (R7-R19).

The sync worker loads what the store knows about a page's events (their links and the
appointments those links point at), asks ``plan_page`` what to do, and writes the plans in
one transaction. Every rule lives in the functions this module composes; this module only
decides, in order, which of them applies to each event.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from domain.company import choose_company
from domain.crm_save import merge_participants
from domain.eligibility import SyncWindow, decide_eligibility
from domain.explanations import NO_TIME, KeptOut, why_kept_out
from domain.meetings import EventLink, MatchKind, match_event, participants_with_calendar_owners
from domain.model import EventVersion, Participant, Provider, ProviderEvent, Response, Room
from domain.participants import Resolution
from domain.schedule import reconcile_inbound_timing
from domain.timing import Timed, Timing
from domain.versions import UpsertDecision, decide_upsert, is_newer
from domain.writeback import description_read_back


@dataclass(frozen=True)
class CalendarOwner:
    """The connected calendar a page comes from."""

    user_id: str
    email: str
    provider: Provider
    time_zone: str
    appointment_type_id: str | None = None


@dataclass(frozen=True)
class CrmSaved:
    """What the CRM saved of an appointment, which the calendar's copy never takes away.

    The calendar may hold fewer people than the CRM (saved without inviting on Graph, R21,
    or made before the connection, R27) and shows the agenda inside the description (R20):
    an event read back adds the people it lists but keeps the CRM's, and its description
    only replaces the CRM's when it was edited in the calendar.
    """

    description: str
    agenda: str
    participants: tuple[Participant, ...]


@dataclass(frozen=True)
class StoredAppointment:
    """What the store knows of an appointment a page's event may update or join.

    Attributes:
        owners: user id of every calendar still showing the meeting, to that user's address.
        latest_version: the newest version among all its links; a copy of the meeting in
            another calendar only rewrites the content when it is newer still (R16).
        crm: what the CRM saved, for appointments it saved; None for the others.
    """

    appointment_id: str
    timing: Timing | None
    time_zone: str | None
    company_id: str | None
    company_set_by_hand: bool
    owners: Mapping[str, str] = field(default_factory=dict)
    latest_version: EventVersion | None = None
    crm: CrmSaved | None = None


@dataclass(frozen=True)
class AppointmentContent:
    """The provider-owned part of an appointment, as the event shows it (R12)."""

    subject: str
    description: str
    location: str
    timing: Timing
    time_zone: str
    organizer: Participant | None
    participants: tuple[Participant, ...]
    rooms: tuple[Room, ...]
    company_id: str | None
    video_url: str | None


class PlanKind(StrEnum):
    CREATE = "create"  # a new appointment (NEW or COPY, R19)
    UPDATE = "update"  # the linked appointment takes the event's newer content
    JOIN = "join"  # another calendar shows a known meeting: link it, list the owner (R15)
    MARK_GONE = "mark_gone"  # the event was cancelled or deleted; the appointment stays (R13)
    SKIP = "skip"


@dataclass(frozen=True)
class EventPlan:
    """The decision for one event.

    Attributes:
        content: what to write for CREATE and UPDATE, and for JOIN when this copy is the
            newest; None for a JOIN that only adds the link and the owner.
        link: the link to store (new version, or ``gone``); None for SKIP.
        reason: why an event was skipped, for the log.
        kept_out: for an event that does not become an appointment, the rule and sentence
            its explanation keeps (R36); None for every other plan.
    """

    kind: PlanKind
    event: ProviderEvent
    appointment_id: str | None = None
    content: AppointmentContent | None = None
    link: EventLink | None = None
    reason: str | None = None
    kept_out: KeptOut | None = None


def plan_page(
    events: Sequence[ProviderEvent],
    *,
    resolutions: Mapping[str, Resolution],
    owner: CalendarOwner,
    window: SyncWindow,
    links: Sequence[EventLink],
    stored: Mapping[str, StoredAppointment],
    now: datetime,
    new_id: Callable[[], str],
) -> list[EventPlan]:
    """Plan every event of a page, in order; later events see the links earlier ones made.

    Args:
        events: the page, as the provider returned it.
        resolutions: event id to its resolved attendees (R1-R6); cancelled events need none.
        owner: whose calendar the page comes from.
        window: the connection's sync window (R9).
        links: the account's links carrying any of the page's event ids or iCalUIDs.
        stored: appointment id to what the store knows of it, for every link's appointment.
        now: the present, for R14.
        new_id: makes the id of a new appointment.
    """
    known = _KnownLinks(links)
    plans = []
    for event in events:
        plan = plan_event(
            event,
            resolution=resolutions.get(event.event_id),
            owner=owner,
            window=window,
            links=known.bearing(event),
            stored=stored,
            now=now,
            new_id=new_id,
        )
        if plan.link is not None:
            known.put(plan.link)
        plans.append(plan)
    return plans


class _KnownLinks:
    """The links a page can match, indexed by event id and iCalUID, in the order they came.

    ``match_event`` only looks at links carrying the event's id or iCalUID, and the first
    one wins, so giving it just those, in order, keeps a page's planning linear in its size.
    A link put again (the same calendar's event) moves to the end, as a newer one.
    """

    def __init__(self, links: Sequence[EventLink]) -> None:
        self._order = 0
        self._by_key: dict[tuple[str, str, str], tuple[int, EventLink]] = {}
        self._by_event_id: dict[str, set[tuple[str, str, str]]] = {}
        self._by_ical_uid: dict[str, set[tuple[str, str, str]]] = {}
        for link in links:
            self.put(link)

    def put(self, link: EventLink) -> None:
        key = _link_key(link)
        old = self._by_key.pop(key, None)
        if old is not None:
            self._by_event_id[old[1].event_id].discard(key)
            if old[1].ical_uid:
                self._by_ical_uid[old[1].ical_uid].discard(key)
        self._order += 1
        self._by_key[key] = (self._order, link)
        self._by_event_id.setdefault(link.event_id, set()).add(key)
        if link.ical_uid:
            self._by_ical_uid.setdefault(link.ical_uid, set()).add(key)

    def bearing(self, event: ProviderEvent) -> list[EventLink]:
        keys = set(self._by_event_id.get(event.event_id, ()))
        if event.ical_uid:
            keys |= self._by_ical_uid.get(event.ical_uid, set())
        return [link for _order, link in sorted(self._by_key[key] for key in keys)]


def plan_event(
    event: ProviderEvent,
    *,
    resolution: Resolution | None,
    owner: CalendarOwner,
    window: SyncWindow,
    links: Sequence[EventLink],
    stored: Mapping[str, StoredAppointment],
    now: datetime,
    new_id: Callable[[], str],
) -> EventPlan:
    """Decide what one event does; see ``plan_page`` for the arguments."""
    match = match_event(event, owner.user_id, links)
    if event.is_cancelled:
        return _plan_cancellation(event, match.link if match.kind is MatchKind.SAME_EVENT else None)
    if resolution is None or event.timing is None:
        return EventPlan(
            PlanKind.SKIP,
            event,
            reason="no attendees resolved or no time",
            kept_out=NO_TIME if event.timing is None else None,
        )
    if match.kind is MatchKind.SAME_EVENT and match.link is not None:
        return _plan_update(
            event, resolution=resolution, owner=owner, link=match.link, stored=stored, now=now
        )
    joined = (
        stored.get(match.appointment_id or "") if match.kind is MatchKind.SAME_MEETING else None
    )
    if match.kind is MatchKind.NEW and event.origin_appointment_id:
        joined = _written_by_us(event.origin_appointment_id, owner, stored)
    if joined is not None:
        return _plan_join(event, resolution, owner, joined, now)
    ineligible = decide_eligibility(event, resolution, owner.user_id, window)
    if ineligible is not None:
        why = why_kept_out(ineligible, resolution, event.event_kind, window)
        return EventPlan(PlanKind.SKIP, event, reason=ineligible.value, kept_out=why)
    appointment_id = new_id()
    return EventPlan(
        PlanKind.CREATE,
        event,
        appointment_id=appointment_id,
        content=_content(
            event, resolution=resolution, owner=owner, appointment=None, other_owners={}, now=now
        ),
        link=_link(event, owner, appointment_id),
        reason="copy of a meeting in this calendar (R19)" if match.kind is MatchKind.COPY else None,
    )


def _written_by_us(
    appointment_id: str, owner: CalendarOwner, stored: Mapping[str, StoredAppointment]
) -> StoredAppointment | None:
    """The appointment our write-back created this event for, when its link is not stored yet.

    The notification of our own write can be synced before the write's commit stores the
    link; the event's tag names the appointment, so it joins it instead of making a second
    one (R25). Only an appointment the CRM saved counts (the caller loads it within the
    account only), and not once this calendar already shows it: a copy of our event made
    in the calendar carries the tag too, and is a new meeting (R19).
    """
    appointment = stored.get(appointment_id)
    if appointment is None or appointment.crm is None or owner.user_id in appointment.owners:
        return None
    return appointment


def _plan_cancellation(event: ProviderEvent, link: EventLink | None) -> EventPlan:
    # A deletion notice may carry nothing but the id, so it cannot be ordered by version;
    # ids are never reused for another meeting, so a linked cancellation always applies.
    if link is None:
        return EventPlan(PlanKind.SKIP, event, reason="cancelled, never synced")
    if link.gone:
        return EventPlan(PlanKind.SKIP, event, reason="already gone")
    return EventPlan(
        PlanKind.MARK_GONE, event, appointment_id=link.appointment_id, link=replace(link, gone=True)
    )


def _plan_update(
    event: ProviderEvent,
    *,
    resolution: Resolution,
    owner: CalendarOwner,
    link: EventLink,
    stored: Mapping[str, StoredAppointment],
    now: datetime,
) -> EventPlan:
    decision = decide_upsert(None if link.gone else link.version, event.version)
    if decision is not UpsertDecision.APPLY:
        return EventPlan(
            PlanKind.SKIP, event, appointment_id=link.appointment_id, reason=decision.value
        )
    appointment = stored.get(link.appointment_id)
    return EventPlan(
        PlanKind.UPDATE,
        event,
        appointment_id=link.appointment_id,
        content=_content(
            event,
            resolution=resolution,
            owner=owner,
            appointment=appointment,
            other_owners=appointment.owners if appointment else {},
            now=now,
        ),
        link=_link(event, owner, link.appointment_id),
    )


def _plan_join(
    event: ProviderEvent,
    resolution: Resolution,
    owner: CalendarOwner,
    appointment: StoredAppointment,
    now: datetime,
) -> EventPlan:
    newest = is_newer(event.version, appointment.latest_version)
    content = (
        _content(
            event,
            resolution=resolution,
            owner=owner,
            appointment=appointment,
            other_owners=appointment.owners,
            now=now,
        )
        if newest
        else None
    )
    return EventPlan(
        PlanKind.JOIN,
        event,
        appointment_id=appointment.appointment_id,
        content=content,
        link=_link(event, owner, appointment.appointment_id),
    )


def _content(
    event: ProviderEvent,
    *,
    resolution: Resolution,
    owner: CalendarOwner,
    appointment: StoredAppointment | None,
    other_owners: Mapping[str, str],
    now: datetime,
) -> AppointmentContent:
    assert event.timing is not None  # callers skip events without a time
    time_zone = _time_zone(event.timing, owner)
    owners = {**other_owners, owner.user_id: owner.email}
    participants = participants_with_calendar_owners(
        resolution.participants, dict.fromkeys(owners, Response.NEEDS_ACTION), owners
    )
    timing = reconcile_inbound_timing(
        appointment.timing if appointment else None,
        event.timing,
        now,
        (appointment.time_zone if appointment else None) or time_zone,
    )
    description = event.description
    crm = appointment.crm if appointment else None
    if crm is not None:
        description, _agenda = description_read_back(description, crm.description, crm.agenda)
        participants = merge_participants((participants, crm.participants))
    return AppointmentContent(
        subject=event.subject,
        description=description,
        location=event.location,
        timing=timing,
        time_zone=time_zone,
        organizer=resolution.organizer,
        participants=participants,
        rooms=resolution.rooms,
        company_id=choose_company(
            participants,
            appointment.company_id if appointment else None,
            appointment.company_set_by_hand if appointment else False,
        ),
        video_url=event.video_url,
    )


def _time_zone(timing: Timing, owner: CalendarOwner) -> str:
    if isinstance(timing, Timed) and timing.time_zone:
        return timing.time_zone
    return owner.time_zone


def _link(event: ProviderEvent, owner: CalendarOwner, appointment_id: str) -> EventLink:
    return EventLink(
        appointment_id=appointment_id,
        provider=owner.provider,
        calendar_owner_user_id=owner.user_id,
        event_id=event.event_id,
        ical_uid=event.ical_uid,
        instance_start=event.instance_start,
        version=event.version,
    )


def _link_key(link: EventLink) -> tuple[str, str, str]:
    return (link.provider, link.calendar_owner_user_id, link.event_id)
