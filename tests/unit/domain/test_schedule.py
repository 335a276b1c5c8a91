"""R14: once an appointment has ended, its date and time no longer change."""

from datetime import date, datetime, timedelta

import pytest

from domain.errors import NaiveDatetimeError
from domain.model import AllDay, Timed
from domain.schedule import check_crm_reschedule, has_ended, reconcile_inbound_timing
from tests.unit.domain.builders import at

PAST = Timed(at(2026, 3, 2, 9), at(2026, 3, 2, 10), "Europe/Stockholm")
FUTURE = Timed(at(2026, 3, 20, 9), at(2026, 3, 20, 10), "Europe/Stockholm")
NOW = at(2026, 3, 10, 12)


def test_r14_an_appointment_has_ended_once_its_end_has_passed() -> None:
    assert has_ended(PAST, NOW)
    assert not has_ended(FUTURE, NOW)
    assert has_ended(PAST, PAST.end)  # ending exactly now counts as ended
    assert not has_ended(PAST, PAST.end - timedelta(seconds=1))


def test_r14_an_all_day_appointment_ends_at_midnight_in_its_zone() -> None:
    day = AllDay(date(2026, 3, 10), date(2026, 3, 11))
    # Stockholm's midnight is 23:00 UTC in March
    assert not has_ended(day, at(2026, 3, 10, 22, 59), "Europe/Stockholm")
    assert has_ended(day, at(2026, 3, 10, 23), "Europe/Stockholm")


def test_r14_now_must_be_an_instant() -> None:
    with pytest.raises(NaiveDatetimeError):
        has_ended(PAST, datetime(2026, 3, 10, 12))


def test_r14_provider_cannot_move_a_past_appointment() -> None:
    moved = Timed(at(2026, 3, 3, 9), at(2026, 3, 3, 10))
    assert reconcile_inbound_timing(PAST, moved, NOW) == PAST


def test_r14_provider_moves_a_future_appointment() -> None:
    moved = Timed(at(2026, 3, 21, 9), at(2026, 3, 21, 10))
    assert reconcile_inbound_timing(FUTURE, moved, NOW) == moved


def test_r14_a_new_appointment_takes_the_providers_time_even_in_the_past() -> None:
    assert reconcile_inbound_timing(None, PAST, NOW) == PAST


def test_r14_crm_request_to_move_a_past_appointment_is_refused_with_advice() -> None:
    refused = check_crm_reschedule(PAST, Timed(at(2026, 3, 12, 9), at(2026, 3, 12, 10)), NOW)

    assert refused is not None
    assert refused.rule == "R14"
    assert '"Not completed"' in refused.message
    assert "follow-up appointment" in refused.message


def test_r14_crm_may_move_a_future_appointment() -> None:
    assert check_crm_reschedule(FUTURE, Timed(at(2026, 3, 21, 9), at(2026, 3, 21, 10)), NOW) is None


def test_r14_saving_a_past_appointment_without_moving_it_is_not_refused() -> None:
    # Given the same instants relabelled to another zone, When saved, Then nothing is refused
    same_instants = Timed(PAST.start, PAST.end, "UTC")
    assert check_crm_reschedule(PAST, same_instants, NOW) is None


def test_r14_turning_a_past_timed_appointment_into_all_day_is_a_move() -> None:
    all_day = AllDay(date(2026, 3, 2), date(2026, 3, 3))
    assert check_crm_reschedule(PAST, all_day, NOW) is not None
