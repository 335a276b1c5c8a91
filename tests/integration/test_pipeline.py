"""The whole path: notification -> ingest -> RabbitMQ -> sync worker -> store -> read API.

Every test runs on the Google and the Microsoft sandbox, reached through the real
google-api-python-client and msgraph-sdk; what it checks is what the read API answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from domain.model import Provider
from infra.sandbox.server import SandboxServer
from tests.conftest import empty_store
from tests.support.pipeline import MEETING_START, Pipeline

#: The provider call that lists a calendar's changes (a regex of its path).
LIST_CHANGES = {Provider.GOOGLE: "/calendars/primary/events$", Provider.MICROSOFT: "/delta"}


@pytest.fixture
def pipeline(
    provider: Provider, tmp_path: Path, broker_url: str, sandbox: SandboxServer
) -> Iterator[Pipeline]:
    made = Pipeline(tmp_path, broker_url, sandbox, provider)
    yield made
    made.close()


@pytest.fixture
def pipeline_with_lucas(
    provider: Provider, tmp_path: Path, broker_url: str, sandbox: SandboxServer
) -> Iterator[Pipeline]:
    """The article's directory with Lucas as a user at gbg.exempel.se (scenario 3, R15)."""
    made = Pipeline(tmp_path, broker_url, sandbox, provider, with_lucas=True)
    yield made
    made.close()


def kinds(appointment: dict[str, Any]) -> dict[str, str]:
    """Each participant's e-mail and kind."""
    return {p["email"]: p["kind"] for p in appointment["participants"]}


def by_email(appointment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each participant's JSON by e-mail."""
    return {p["email"]: p for p in appointment["participants"]}


def test_scenario_1_from_notification_to_the_read_api(pipeline: Pipeline) -> None:
    # Given an invitation from outside to Karl and his colleague Johanna
    pipeline.book(
        "Offer review",
        ("karl@exempel.se", "johanna.svennson@exempel.se", "boss@kund.se"),
        organizer="boss@kund.se",
    )

    # When the provider notifies us
    assert pipeline.notify() in {200, 202}

    # Then Karl's CRM calendar shows it, without Johanna (R4), with the inviter (R5)
    (appointment,) = pipeline.calendar()
    assert appointment["subject"] == "Offer review"
    assert kinds(appointment) == {
        "karl@exempel.se": "user",
        "boss@kund.se": "external",
    }
    assert appointment["links"][0]["provider"] == pipeline.provider.value
    assert appointment["start"] == MEETING_START.isoformat()


def test_scenario_2_karl_books_johanna_at_gbg_who_is_external(pipeline: Pipeline) -> None:
    # Given Karl books a meeting in his calendar with Johanna, mailed to johanna@gbg.exempel.se,
    # and no user of the account has an address at gbg.exempel.se
    pipeline.book("Lunch with Johanna", ("johanna@gbg.exempel.se",))

    # When the provider notifies us
    assert pipeline.notify() in {200, 202}

    # Then it is in Karl's CRM calendar (R7) with Johanna as an external participant,
    # not a colleague: gbg.exempel.se is not exempel.se (R3, R5); no contact, no company
    (appointment,) = pipeline.calendar()
    assert appointment["subject"] == "Lunch with Johanna"
    people = by_email(appointment)
    assert kinds(appointment) == {
        "karl.andersson@exempel.se": "user",
        "johanna@gbg.exempel.se": "external",
    }
    assert people["karl.andersson@exempel.se"]["user_id"] == "karl"
    assert "contact_id" not in people["johanna@gbg.exempel.se"]
    assert appointment["company_id"] is None
    assert appointment["organizer"]["kind"] == "user"
    assert appointment["organizer"]["user_id"] == "karl"
    assert [(link["provider"], link["user_id"]) for link in appointment["links"]] == [
        (pipeline.provider.value, "karl")
    ]
    assert appointment["start"] == MEETING_START.isoformat()


def test_scenario_3_lucas_at_gbg_makes_johanna_a_colleague_so_nothing_syncs(
    pipeline_with_lucas: Pipeline,
) -> None:
    pipeline = pipeline_with_lucas
    # Given Lucas is a user at gbg.exempel.se, and Karl books the same meeting as in
    # scenario 2 with Johanna at johanna@gbg.exempel.se
    pipeline.book("Lunch with Johanna", ("johanna@gbg.exempel.se",))

    # When the provider notifies us and the worker has synced Karl's calendar
    assert pipeline.notify() in {200, 202}
    pipeline.synced("karl")

    # Then gbg.exempel.se is a colleague domain, Johanna a colleague (R3, R4), nobody is
    # left but Karl, and the meeting is in no CRM calendar (R7)
    assert pipeline.appointments(user="karl") == []
    assert pipeline.appointments(user="lucas") == []
    assert pipeline.appointments() == []


def test_r17_an_invitation_from_a_stranger_shows_in_the_users_calendar(
    pipeline: Pipeline,
) -> None:
    # Given someone nobody in the CRM knows invites Karl, at one of his aliases
    stranger = "ceo@unknown-startup.example"
    pipeline.book("Partnership?", ("karl@sthlm.exempel.se", stranger), organizer=stranger)

    # When the provider notifies us
    assert pipeline.notify() in {200, 202}

    # Then the invitation is in Karl's CRM calendar like his own meetings (R17, R2): the
    # stranger is an external participant and the organizer, with no contact or company (R5)
    (appointment,) = pipeline.calendar()
    assert appointment["subject"] == "Partnership?"
    assert kinds(appointment) == {"karl@sthlm.exempel.se": "user", stranger: "external"}
    people = by_email(appointment)
    assert people["karl@sthlm.exempel.se"]["user_id"] == "karl"
    assert set(people[stranger]) == {"kind", "email", "response"}
    assert appointment["organizer"] == {"kind": "external", "email": stranger}
    assert appointment["company_id"] is None
    assert [(link["user_id"], link["gone"]) for link in appointment["links"]] == [("karl", False)]
    # and the single appointment answers the same
    assert pipeline.appointment(appointment["id"]) == appointment


def test_r15_one_meeting_in_two_users_calendars_is_one_appointment(
    pipeline_with_lucas: Pipeline,
) -> None:
    pipeline = pipeline_with_lucas
    # Given Karl and Lucas, each with their own connected calendar and push channel, both
    # invited by the contact Eva to one meeting: a copy in each calendar, one iCalUID
    pipeline.connect("lucas", "lucas@gbg.exempel.se")
    shared = "board-meeting-2026-12@kund.se"
    attendees = ("karl@exempel.se", "lucas@gbg.exempel.se", "eva@kund.se")
    karls = pipeline.book("Board", attendees, organizer="eva@kund.se", ical_uid=shared)
    lucas = pipeline.book(
        "Board", attendees, organizer="eva@kund.se", calendar="lucas", ical_uid=shared
    )

    # When each calendar's provider notifies us
    assert pipeline.notify("karl") in {200, 202}
    assert pipeline.notify("lucas") in {200, 202}
    pipeline.synced("karl", "lucas")

    # Then the account has one appointment listing both users, the contact and her company
    (appointment,) = pipeline.appointments()
    assert appointment["subject"] == "Board"
    assert kinds(appointment) == {
        "karl@exempel.se": "user",
        "lucas@gbg.exempel.se": "user",
        "eva@kund.se": "contact",
    }
    people = by_email(appointment)
    assert people["karl@exempel.se"]["user_id"] == "karl"
    assert people["lucas@gbg.exempel.se"]["user_id"] == "lucas"
    assert people["eva@kund.se"]["contact_id"] == "eva"
    assert people["eva@kund.se"]["company_id"] == "kund"
    assert appointment["company_id"] == "kund"  # R18
    assert appointment["organizer"]["email"] == "eva@kund.se"
    # linked to both calendars' events
    assert sorted(
        (link["user_id"], link["event_id"], link["ical_uid"]) for link in appointment["links"]
    ) == sorted([("karl", karls["id"], shared), ("lucas", lucas["id"], shared)])
    # and it is that same appointment in each user's CRM calendar
    assert [a["id"] for a in pipeline.appointments(user="karl")] == [appointment["id"]]
    assert [a["id"] for a in pipeline.appointments(user="lucas")] == [appointment["id"]]


def test_r15_two_sync_workers_on_postgresql_make_one_appointment(
    provider: Provider,
    tmp_path: Path,
    broker_url: str,
    sandbox: SandboxServer,
    postgres_engine: sa.Engine,
) -> None:
    # Given the store on PostgreSQL and two sync consumers, as two `calsync worker`
    # processes would run, and the meeting of the R15 test in Karl's and Lucas's calendars
    url = postgres_engine.url.render_as_string(hide_password=False)
    pipeline = Pipeline(
        tmp_path, broker_url, sandbox, provider, with_lucas=True, database_url=url, sync_workers=2
    )
    try:
        pipeline.connect("lucas", "lucas@gbg.exempel.se")
        shared = "board-meeting-2026-12@kund.se"
        attendees = ("karl@exempel.se", "lucas@gbg.exempel.se", "eva@kund.se")
        pipeline.book("Board", attendees, organizer="eva@kund.se", ical_uid=shared)
        pipeline.book(
            "Board", attendees, organizer="eva@kund.se", calendar="lucas", ical_uid=shared
        )

        # When both calendars notify at once, each worker takes one hint, and the provider
        # answers both change listings slowly, so that the two syncs apply side by side
        pipeline.admin.add_latency(0.3, path=LIST_CHANGES[provider])
        assert pipeline.notify("karl") in {200, 202}
        assert pipeline.notify("lucas") in {200, 202}
        pipeline.synced("karl", "lucas")

        # Then it is still one appointment with both users and both links
        appointments = pipeline.appointments()
        assert [a["subject"] for a in appointments] == ["Board"]
        (appointment,) = appointments
        assert {p["user_id"] for p in appointment["participants"] if p["kind"] == "user"} == {
            "karl",
            "lucas",
        }
        assert sorted(link["user_id"] for link in appointment["links"]) == ["karl", "lucas"]
    finally:
        pipeline.close()
        empty_store(postgres_engine)


def test_r16_duplicate_notifications_make_one_appointment(pipeline: Pipeline) -> None:
    # Given a meeting with a contact in Karl's calendar
    pipeline.book("Demo", ("karl@exempel.se", "eva@kund.se"))

    # When the provider notifies us five times (R16)
    for _ in range(5):
        assert pipeline.notify() in {200, 202}
    pipeline.synced("karl")

    # Then every hint has been synced and there is one appointment, with Eva's company
    (appointment,) = pipeline.appointments()
    assert kinds(appointment) == {"karl@exempel.se": "user", "eva@kund.se": "contact"}
    assert appointment["company_id"] == "kund"
    assert len(appointment["links"]) == 1


def test_a_crm_event_for_an_account_that_does_not_exist_is_404_and_queues_nothing(
    pipeline: Pipeline,
) -> None:
    # Given the app as the composition root builds it for calsync serve and run
    # When the CRM deletes an appointment of an account nobody created
    _, response = pipeline.post_crm_event(
        "appointment.deleted", {"id": "crm-x"}, account_id="no-such-account"
    )

    # Then it is refused at once with the JSON error body, not dead-lettered later
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "unknown_account"
