"""Which company an imported appointment belongs to (R18)."""

from collections.abc import Sequence

from domain.model import Participant, ParticipantKind


def choose_company(
    participants: Sequence[Participant], current_company_id: str | None, set_by_hand: bool
) -> str | None:
    """Return the company an appointment should have after a sync (R18).

    A company set by hand in the CRM is never overwritten. Otherwise it is the company of
    the first contact, in attendee order, that has one, or None when no contact has one.
    """
    if set_by_hand:
        return current_company_id
    return next(
        (
            participant.company_id
            for participant in participants
            if participant.kind is ParticipantKind.CONTACT and participant.company_id
        ),
        None,
    )
