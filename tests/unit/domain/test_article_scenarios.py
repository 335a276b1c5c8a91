"""The help article's three scenarios, word for word, through R2-R7 and R17.

Karl has the username karl.andersson@exempel.se and the aliases karl@exempel.se and
karl@sthlm.exempel.se. Johanna (johanna.svennson@exempel.se, johanna@exempel.se,
johanna@gbg.exempel.se) has no licence. In scenario 3, Lucas (lucas@gbg.exempel.se) is a user.
"""

from domain.eligibility import Ineligible, decide_eligibility
from domain.model import Attendee, Directory, ParticipantKind, Response
from domain.participants import Resolution, resolve_attendees
from tests.unit.domain.builders import an_event, article_directory, karls_window

EXTERNAL_INVITER = "Eva Extern <eva@kundforetaget.se>"


def sync_to_karl(
    attendees: list[Attendee], organizer: str, directory: Directory
) -> tuple[Resolution, Ineligible | None]:
    """Resolve an event in Karl's calendar and decide whether it becomes an appointment."""
    event = an_event(attendees, organizer)
    resolution = resolve_attendees(event.attendees, event.organizer_email, directory)
    return resolution, decide_eligibility(event, resolution, "karl", karls_window())


def test_scenario_1_external_invites_karl_and_johanna_synced_to_karl_without_johanna() -> None:
    # Given an external participant invites karl@exempel.se and johanna.svennson@exempel.se
    attendees = [
        Attendee(EXTERNAL_INVITER, is_organizer=True, response=Response.ACCEPTED),
        Attendee("karl@exempel.se"),
        Attendee("johanna.svennson@exempel.se"),
    ]

    # When the event arrives in Karl's calendar
    resolution, ineligible = sync_to_karl(attendees, EXTERNAL_INVITER, article_directory())

    # Then it is synced to Karl (R2, R17)
    assert ineligible is None
    # And Johanna is not a participant: same domain, a colleague, not a user (R4)
    assert "johanna.svennson@exempel.se" not in {p.email for p in resolution.participants}
    assert resolution.colleagues == ("johanna.svennson@exempel.se",)
    # And the external person is, as organizer (R5)
    assert [(p.kind, p.email, p.response) for p in resolution.participants] == [
        (ParticipantKind.EXTERNAL, "eva@kundforetaget.se", Response.ORGANIZER),
        (ParticipantKind.USER, "karl@exempel.se", Response.NEEDS_ACTION),
    ]


def test_scenario_2_karl_books_johanna_at_gbg_she_is_external_and_it_syncs() -> None:
    # Given no user has an address at gbg.exempel.se
    directory = article_directory()
    assert "gbg.exempel.se" not in directory.colleague_domains

    # When Karl books a meeting with johanna@gbg.exempel.se
    resolution, ineligible = sync_to_karl(
        [Attendee("karl@exempel.se"), Attendee("johanna@gbg.exempel.se")],
        "karl@exempel.se",
        directory,
    )

    # Then it is synced and Johanna is an external participant (R3, R5)
    assert ineligible is None
    johanna = next(p for p in resolution.participants if p.email == "johanna@gbg.exempel.se")
    assert (johanna.kind, johanna.contact_id, johanna.company_id) == (
        ParticipantKind.EXTERNAL,
        None,
        None,
    )


def test_scenario_3_with_lucas_at_gbg_johanna_is_a_colleague_and_nothing_syncs() -> None:
    # Given Lucas is a user at gbg.exempel.se, which makes it a colleague domain
    directory = article_directory(with_lucas=True)
    assert "gbg.exempel.se" in directory.colleague_domains

    # When Karl books the same meeting with johanna@gbg.exempel.se
    resolution, ineligible = sync_to_karl(
        [Attendee("karl@exempel.se"), Attendee("johanna@gbg.exempel.se")],
        "karl@exempel.se",
        directory,
    )

    # Then Johanna is a colleague, only Karl is left, and it is not synced (R3, R4, R7)
    assert resolution.colleagues == ("johanna@gbg.exempel.se",)
    assert [p.user_id for p in resolution.participants] == ["karl"]
    assert ineligible is Ineligible.NO_PARTICIPANTS


def test_karl_at_sthlm_resolves_to_karl() -> None:
    resolution = resolve_attendees([Attendee("karl@sthlm.exempel.se")], None, article_directory())
    assert [(p.kind, p.user_id) for p in resolution.participants] == [
        (ParticipantKind.USER, "karl")
    ]
