"""R18: the company of an imported appointment."""

from domain.company import choose_company
from domain.model import Participant, ParticipantKind, Response

KARL = Participant(ParticipantKind.USER, "karl@exempel.se", Response.ORGANIZER, user_id="karl")
STRANGER = Participant(ParticipantKind.EXTERNAL, "x@okand.se", Response.ACCEPTED)
NO_COMPANY = Participant(ParticipantKind.CONTACT, "p@privat.se", Response.ACCEPTED, contact_id="c0")
ANNA = Participant(
    ParticipantKind.CONTACT,
    "anna@kund.se",
    Response.ACCEPTED,
    contact_id="c1",
    company_id="kund-ab",
)
BO = Participant(
    ParticipantKind.CONTACT,
    "bo@annan.se",
    Response.ACCEPTED,
    contact_id="c2",
    company_id="annan-ab",
)


def test_r18_company_of_the_first_contact_in_attendee_order() -> None:
    assert (
        choose_company([KARL, STRANGER, NO_COMPANY, ANNA, BO], None, set_by_hand=False) == "kund-ab"
    )
    assert choose_company([BO, ANNA], None, set_by_hand=False) == "annan-ab"


def test_r18_company_set_by_hand_is_never_overwritten() -> None:
    assert choose_company([ANNA], "chosen-ab", set_by_hand=True) == "chosen-ab"


def test_r18_a_company_synced_earlier_follows_the_participants() -> None:
    assert choose_company([BO], "kund-ab", set_by_hand=False) == "annan-ab"


def test_r18_no_contact_with_a_company_means_no_company() -> None:
    assert choose_company([KARL, STRANGER, NO_COMPANY], "kund-ab", set_by_hand=False) is None
