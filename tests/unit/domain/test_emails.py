"""R1: every e-mail is normalised before it is compared."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.emails import email_domain, normalise_domain, normalise_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("karl@exempel.se", "karl@exempel.se"),
        ("  Karl@Exempel.SE \n", "karl@exempel.se"),
        ("Karl Andersson <Karl@Exempel.se>", "karl@exempel.se"),
        ('"Andersson, Karl" <karl@exempel.se>', "karl@exempel.se"),
        ("<karl@exempel.se>", "karl@exempel.se"),
        ("mailto:Karl@Exempel.se", "karl@exempel.se"),
        ("MAILTO:karl@exempel.se?subject=Hej", "karl@exempel.se"),
        ("Karl <mailto:karl@exempel.se>", "karl@exempel.se"),
        ("karl@exempel.se.", "karl@exempel.se"),
        ("first.last+tag@sub.exempel.se", "first.last+tag@sub.exempel.se"),
    ],
)
def test_r1_accepted_forms_normalise_to_one_address(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


def test_r1_domain_is_idna_encoded_label_by_label() -> None:
    assert normalise_email("Info@Bücher.de") == "info@xn--bcher-kva.de"
    assert normalise_email("anna@shop.bücher.de") == "anna@shop.xn--bcher-kva.de"


def test_r1_unicode_and_encoded_domains_compare_equal() -> None:
    assert normalise_email("a@bücher.de") == normalise_email("A@XN--BCHER-KVA.DE")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "karl",
        "karl@",
        "@exempel.se",
        "karl andersson@exempel.se",
        "karl@exem pel.se",
        "karl@localhost",
        "karl@exempel..se",
        "karl@-exempel.se",
        "karl@exempel_x.se",
        "karl@1.2.3.4",
        "karl@[192.168.0.1]",
        ".karl@exempel.se",
        "karl.@exempel.se",
        "ka..rl@exempel.se",
        '"karl"@exempel.se',
        "Karl <karl@exempel.se",
        "mailto:",
        "karl@exempel.se\x00",
    ],
)
def test_r1_anything_still_not_an_email_is_none(raw: str) -> None:
    assert normalise_email(raw) is None


def test_r1_addresses_over_254_characters_are_rejected() -> None:
    # Given a domain of valid labels long enough to push the address past 254 characters
    domain = ".".join(["a" * 60] * 4) + ".se"
    assert normalise_email(f"k@{domain}") is not None

    # When the local part makes it too long, Then it is not an address
    assert normalise_email(f"{'k' * 10}@{domain}") is None


def test_r1_local_part_over_64_characters_is_rejected() -> None:
    assert normalise_email(f"{'k' * 64}@exempel.se") is not None
    assert normalise_email(f"{'k' * 65}@exempel.se") is None


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
def test_r1_never_raises_and_is_idempotent_on_any_text(raw: str) -> None:
    # Given any string at all, surrogates and control characters included
    # When it is normalised
    once = normalise_email(raw)
    # Then it did not raise, and normalising the result again changes nothing
    if once is not None:
        assert normalise_email(once) == once
        assert once == once.lower()


@settings(max_examples=100)
@given(st.emails())
def test_r1_every_rfc_address_is_accepted_and_stable(raw: str) -> None:
    normalised = normalise_email(raw)
    assert normalised is not None
    assert normalise_email(normalised) == normalised


@settings(max_examples=100)
@given(st.emails(), st.text(alphabet=st.characters(exclude_characters="<>"), max_size=20))
def test_r1_display_name_never_changes_the_address(raw: str, name: str) -> None:
    assert normalise_email(f"{name} <{raw}>") == normalise_email(raw)


def test_email_domain_returns_the_part_after_the_at() -> None:
    assert email_domain("karl@sthlm.exempel.se") == "sthlm.exempel.se"


def test_email_domain_refuses_a_string_without_at() -> None:
    with pytest.raises(ValueError, match="not a normalised e-mail"):
        email_domain("exempel.se")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Exempel.SE", "exempel.se"),
        ("@gbg.exempel.se", "gbg.exempel.se"),
        (" bücher.de ", "xn--bcher-kva.de"),
        ("exempel", None),
        ("exempel..se", None),
        ("", None),
    ],
)
def test_r1_domains_normalise_like_email_domains(raw: str, expected: str | None) -> None:
    assert normalise_domain(raw) == expected


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=80))
@settings(max_examples=500)
def test_r1_fast_path_agrees_with_the_full_path(raw: str) -> None:
    # The plain-address shortcut must never decide differently from the full normaliser.
    from domain import emails

    fast = emails._plain_address(raw)
    if fast is not None:
        assert fast == emails._full_normalise(raw)


@given(
    st.from_regex(
        r"[A-Za-z0-9._%+-]{1,20}@[A-Za-z0-9-]{1,15}(\.[A-Za-z]{2,6}){1,2}", fullmatch=True
    )
)
@settings(max_examples=300)
def test_r1_plain_addresses_take_the_fast_path_with_the_same_result(raw: str) -> None:
    from domain import emails

    assert emails.normalise_email(raw) == emails._full_normalise(raw)
