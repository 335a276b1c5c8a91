"""R15 one meeting, one appointment; R19 a copied meeting is a new one."""

from domain.meetings import EventLink, MatchKind, match_event, participants_with_calendar_owners
from domain.model import EventVersion, Participant, ParticipantKind, Provider, Response
from tests.unit.domain.builders import an_event, at

UID = "uid1@example.com"
VERSION = EventVersion(at(2026, 3, 1))


def link(
    appointment_id: str,
    owner: str,
    event_id: str,
    *,
    provider: Provider = Provider.GOOGLE,
    ical_uid: str | None = UID,
    instance_start: str | None = None,
) -> EventLink:
    return EventLink(appointment_id, provider, owner, event_id, ical_uid, instance_start, VERSION)


def test_r16_the_same_event_updates_its_appointment_and_hands_back_the_stored_version() -> None:
    stored = link("appt-1", "karl", "evt1")
    match = match_event(an_event(event_id="evt1"), "karl", [stored])
    assert (match.kind, match.appointment_id, match.link) == (
        MatchKind.SAME_EVENT,
        "appt-1",
        stored,
    )


def test_r15_same_meeting_in_another_users_calendar_joins_its_appointment() -> None:
    # Given Lucas's copy of the meeting is linked to appt-1
    links = [link("appt-1", "lucas", "lucas-evt")]
    # When Karl's calendar shows the same meeting under its own event id
    match = match_event(an_event(event_id="karl-evt"), "karl", links)
    # Then Karl's event joins appt-1 rather than making a second appointment
    assert (match.kind, match.appointment_id) == (MatchKind.SAME_MEETING, "appt-1")


def test_r15_same_meeting_across_providers_is_still_one_appointment() -> None:
    links = [link("appt-1", "lucas", "graph-evt", provider=Provider.MICROSOFT)]
    match = match_event(an_event(event_id="google-evt"), "karl", links)
    assert (match.kind, match.appointment_id) == (MatchKind.SAME_MEETING, "appt-1")


def test_r15_a_deleted_copy_elsewhere_still_identifies_the_meeting() -> None:
    gone = EventLink("appt-1", Provider.GOOGLE, "lucas", "lucas-evt", UID, None, VERSION, gone=True)
    assert match_event(an_event(event_id="karl-evt"), "karl", [gone]).appointment_id == "appt-1"


def test_r19_a_new_event_id_with_a_uid_already_in_this_calendar_is_a_copy() -> None:
    original = link("appt-1", "karl", "evt-original")
    match = match_event(an_event(event_id="evt-copy"), "karl", [original])
    assert (match.kind, match.appointment_id, match.link) == (MatchKind.COPY, None, original)


def test_r19_copy_in_this_calendar_wins_over_the_meeting_elsewhere() -> None:
    links = [link("appt-1", "lucas", "lucas-evt"), link("appt-1", "karl", "evt-original")]
    assert match_event(an_event(event_id="evt-copy"), "karl", links).kind is MatchKind.COPY


def test_r19_instances_of_one_recurring_series_are_not_copies() -> None:
    # Given the Monday instance of a weekly series is linked in Karl's calendar
    monday = link("appt-mon", "karl", "series_20260309", instance_start="2026-03-09T09:00:00+00:00")
    # When next week's instance arrives with the same iCalUID but its own original start
    next_monday = an_event(
        event_id="series_20260316", is_recurring=True, instance_start="2026-03-16T09:00:00+00:00"
    )
    # Then it is a meeting of its own, not a copy of the first
    assert match_event(next_monday, "karl", [monday]).kind is MatchKind.NEW


def test_r15_an_instance_joins_the_same_instance_in_another_calendar_only() -> None:
    links = [
        link("appt-9th", "lucas", "l-9", instance_start="2026-03-09T09:00:00+00:00"),
        link("appt-16th", "lucas", "l-16", instance_start="2026-03-16T09:00:00+00:00"),
    ]
    event = an_event(event_id="k-16", is_recurring=True, instance_start="2026-03-16T09:00:00+00:00")
    assert match_event(event, "karl", links).appointment_id == "appt-16th"


def test_r19_the_same_uid_at_another_provider_of_the_same_user_is_not_a_copy() -> None:
    # Karl moved from Google to Microsoft: the old calendar's link is another calendar.
    old_calendar = link("appt-1", "karl", "google-evt", provider=Provider.GOOGLE)
    event = an_event(event_id="graph-evt", provider=Provider.MICROSOFT)
    assert match_event(event, "karl", [old_calendar]).kind is MatchKind.SAME_MEETING


def test_an_event_without_uid_matches_only_by_event_id() -> None:
    links = [link("appt-1", "lucas", "other", ical_uid=None)]
    assert (
        match_event(an_event(event_id="evt1", ical_uid=None), "karl", links).kind is MatchKind.NEW
    )


def test_r15_an_unknown_meeting_is_new() -> None:
    assert match_event(an_event(), "karl", []).kind is MatchKind.NEW


def test_r15_every_calendar_owner_is_a_user_participant_once() -> None:
    karl = Participant(ParticipantKind.USER, "karl@exempel.se", Response.ORGANIZER, user_id="karl")
    anna = Participant(ParticipantKind.EXTERNAL, "anna@kund.se", Response.ACCEPTED)

    merged = participants_with_calendar_owners(
        [karl, anna],
        {"karl": Response.ACCEPTED, "lucas": Response.TENTATIVE},
        owner_emails={"lucas": "lucas@gbg.exempel.se"},
    )

    assert merged == (
        karl,
        anna,
        Participant(
            ParticipantKind.USER, "lucas@gbg.exempel.se", Response.TENTATIVE, user_id="lucas"
        ),
    )
