"""R3 colleague domains and R5 choosing among contacts that share an address."""

from domain.directory import build_directory, choose_contact, colleague_domains
from tests.unit.domain.builders import KARL_EMAILS, LUCAS_EMAILS, at, contact


def test_r3_colleague_domains_are_the_domains_of_usernames_and_aliases() -> None:
    assert colleague_domains(KARL_EMAILS, ()) == {"exempel.se", "sthlm.exempel.se"}


def test_r3_domains_match_exactly_so_a_subdomain_is_not_included() -> None:
    # Given only Karl, When the colleague domains are computed
    domains = colleague_domains(KARL_EMAILS, ())
    # Then gbg.exempel.se is not one: nobody has an address there (scenario 2)
    assert "gbg.exempel.se" not in domains


def test_r3_a_user_at_a_subdomain_makes_it_a_colleague_domain() -> None:
    assert "gbg.exempel.se" in colleague_domains((*KARL_EMAILS, *LUCAS_EMAILS), ())


def test_r3_admin_added_domains_are_normalised_and_included() -> None:
    domains = colleague_domains(
        ["Karl <Karl@Exempel.se>"], ["@Bücher.de", "GBG.exempel.se", "nonsense"]
    )
    assert domains == {"exempel.se", "xn--bcher-kva.de", "gbg.exempel.se"}


def test_r5_several_contacts_pick_the_most_recently_updated_active_one() -> None:
    records = [
        contact("old", updated=at(2025, 1, 1)),
        contact("newest-but-inactive", active=False, updated=at(2026, 6, 1)),
        contact("recent", updated=at(2026, 2, 1)),
    ]
    chosen = choose_contact(records)
    assert chosen is not None
    assert chosen.contact_id == "recent"


def test_r5_equal_update_times_break_ties_by_contact_id_whatever_the_order() -> None:
    records = [contact("c2"), contact("c1"), contact("c3")]

    forwards, backwards = choose_contact(records), choose_contact(records[::-1])

    assert forwards == backwards == contact("c1")


def test_r5_no_active_contact_means_no_contact() -> None:
    assert choose_contact([contact("c1", active=False)]) is None
    assert choose_contact([]) is None


def test_r1_build_directory_normalises_every_address() -> None:
    directory = build_directory(
        {"karl": ["Karl <KARL@Exempel.se>", "not an address"]},
        contacts_by_email={"Anna@Kund.SE": [contact("c1")], "anna@kund.se": [contact("c2")]},
    )
    assert directory.user_by_email == {"karl@exempel.se": "karl"}
    assert directory.colleague_domains == {"exempel.se"}
    assert [r.contact_id for r in directory.contacts_by_email["anna@kund.se"]] == ["c1", "c2"]


def test_r2_an_address_claimed_by_two_users_goes_to_the_first() -> None:
    directory = build_directory({"karl": ["shared@exempel.se"], "lucas": ["shared@exempel.se"]})
    assert directory.user_by_email["shared@exempel.se"] == "karl"
