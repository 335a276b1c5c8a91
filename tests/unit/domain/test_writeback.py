"""R20, R21, R24, R25, R27: what goes out to a calendar."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest

from domain.errors import NaiveDatetimeError
from domain.model import Provider, Response
from domain.writeback import (
    InvitePlan,
    attendees_for_write,
    description_read_back,
    event_body,
    merge_writeback_attendees,
    merge_writeback_rooms,
    needs_write,
    plan_invitations,
    writeback_fingerprint,
)
from tests.unit.domain.builders import at


def test_r24_attendees_added_in_the_calendar_are_kept() -> None:
    merged = merge_writeback_attendees(
        crm_emails=["anna@kund.se"],
        provider_emails=["anna@kund.se", "Bo <Bo@Annan.se>"],
        previously_written=["anna@kund.se"],
    )
    assert merged == ("anna@kund.se", "bo@annan.se")


def test_r23_r24_a_room_booked_in_the_calendar_stays_and_one_we_booked_is_released() -> None:
    # Given we booked the boardroom, then someone added the small room in the calendar,
    # and the CRM now lists the lab instead of the boardroom
    rooms = merge_writeback_rooms(
        crm_rooms=["Lab@rooms.exempel.se"],
        provider_rooms=["boardroom@rooms.exempel.se", "small@rooms.exempel.se"],
        rooms_written=["boardroom@rooms.exempel.se"],
    )
    assert rooms == ("lab@rooms.exempel.se", "small@rooms.exempel.se")


def test_r23_rooms_of_a_write_made_before_rooms_were_recorded_are_the_crms() -> None:
    # Which of the event's rooms were ours is unknown: keep none the CRM does not list
    rooms = merge_writeback_rooms(
        crm_rooms=["lab@rooms.exempel.se"],
        provider_rooms=["boardroom@rooms.exempel.se"],
        rooms_written=None,
    )
    assert rooms == ("lab@rooms.exempel.se",)


def test_r24_attendees_we_wrote_and_the_crm_removed_are_dropped() -> None:
    merged = merge_writeback_attendees(
        crm_emails=["anna@kund.se"],
        provider_emails=["anna@kund.se", "cecilia@kund.se"],
        previously_written=["ANNA@kund.se", "Cecilia@Kund.se"],
    )
    assert merged == ("anna@kund.se",)


def test_r24_crm_comes_first_then_calendar_additions_each_once() -> None:
    merged = merge_writeback_attendees(
        crm_emails=["b@kund.se", "a@kund.se", "B@KUND.SE", "broken"],
        provider_emails=["z@kund.se", "a@kund.se", "y@kund.se", "z@kund.se"],
        previously_written=[],
    )
    assert merged == ("b@kund.se", "a@kund.se", "z@kund.se", "y@kund.se")


def test_r27_appointment_created_before_the_connection_is_written_without_attendees() -> None:
    assert attendees_for_write(at(2026, 2, 1), at(2026, 3, 2), ["anna@kund.se"]) == ()


def test_r27_appointment_created_after_the_connection_keeps_its_attendees() -> None:
    assert attendees_for_write(at(2026, 3, 3), at(2026, 3, 2), ["anna@kund.se"]) == (
        "anna@kund.se",
    )


def test_r27_times_must_be_instants() -> None:
    with pytest.raises(NaiveDatetimeError):
        attendees_for_write(datetime(2026, 3, 3), at(2026, 3, 2), [])


def test_r20_google_save_and_invite_sends_updates_to_all() -> None:
    assert plan_invitations(Provider.GOOGLE, invite=True) == InvitePlan(
        "all", attach_attendees=True
    )


def test_r21_google_save_without_inviting_keeps_attendees_and_sends_nothing() -> None:
    assert plan_invitations(Provider.GOOGLE, invite=False) == InvitePlan(
        "none", attach_attendees=True
    )


def test_r21_microsoft_save_without_inviting_leaves_attendees_off() -> None:
    # Graph mails every attendee it is given, so the only way not to invite is not to attach them
    assert plan_invitations(Provider.MICROSOFT, invite=False).attach_attendees is False
    assert plan_invitations(Provider.MICROSOFT, invite=True).attach_attendees is True


FIELDS = {
    "subject": "Möte",
    "start": at(2026, 3, 12, 9),
    "end": at(2026, 3, 12, 10),
    "all_day": None,
    "attendees": ["anna@kund.se"],
}


def test_r25_a_save_that_changes_nothing_writes_nothing() -> None:
    assert not needs_write(writeback_fingerprint(FIELDS), dict(FIELDS))


def test_r25_first_write_and_real_changes_are_written() -> None:
    assert needs_write(None, FIELDS)
    assert needs_write(writeback_fingerprint(FIELDS), {**FIELDS, "subject": "Nytt möte"})


def test_r25_fingerprint_ignores_key_order_and_utc_offsets() -> None:
    plus_one = timezone(timedelta(hours=1))
    reordered = {key: FIELDS[key] for key in reversed(list(FIELDS))}
    reordered["start"] = at(2026, 3, 12, 9).astimezone(plus_one)
    assert writeback_fingerprint(reordered) == writeback_fingerprint(FIELDS)


def test_r25_fingerprint_handles_dates_enums_sets_and_dataclasses() -> None:
    @dataclass(frozen=True)
    class Room:
        email: str

    fields = {
        "day": date(2026, 3, 12),
        "response": Response.ACCEPTED,
        "rooms": {"b", "a"},
        "room": Room("r@x.se"),
    }
    same = {
        "day": date(2026, 3, 12),
        "response": "accepted",
        "rooms": ["a", "b"],
        "room": {"email": "r@x.se"},
    }
    assert writeback_fingerprint(fields) == writeback_fingerprint(same)
    assert len(writeback_fingerprint(fields)) == 64


def test_r25_fingerprint_refuses_what_it_cannot_make_canonical() -> None:
    with pytest.raises(NaiveDatetimeError):
        writeback_fingerprint({"start": datetime(2026, 3, 12, 9)})
    with pytest.raises(TypeError):
        writeback_fingerprint({"blob": object()})


def test_r20_the_agenda_goes_under_its_heading_after_the_description() -> None:
    assert event_body("Walk through the offer.", "1. Prices") == (
        "Walk through the offer.\n\nAgenda:\n1. Prices"
    )
    assert event_body("", " 1. Prices ") == "Agenda:\n1. Prices"
    assert event_body(" Only text ", "") == "Only text"


def test_r25_our_own_text_read_back_changes_nothing_even_as_html_with_additions() -> None:
    as_outlook_shows_it = (
        '<html><body><div id="calsync-body">Walk through the offer.<br><br>Agenda:<br>'
        "1. Prices &amp; terms</div><p>Join the Teams meeting</p></body></html>"
    )

    assert description_read_back(
        as_outlook_shows_it, "Walk through the offer.", "1. Prices & terms"
    ) == ("Walk through the offer.", "1. Prices & terms")


def test_r26_a_text_edited_in_the_calendar_becomes_the_description() -> None:
    assert description_read_back("Moved to the lab.", "Walk through the offer.", "1. Prices") == (
        "Moved to the lab.",
        "1. Prices",
    )
