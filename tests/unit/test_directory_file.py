"""The directory file: validated, normalised, and every error names its record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.directory_file import DirectoryFileError, parse_directory, read_directory_file
from tests.factories import article_directory


def test_article_directory_parses_with_normalised_addresses() -> None:
    document = article_directory()
    document["accounts"][0]["users"][0]["aliases"].append("  Karl <KARL@Exempel.SE> ")

    (account,) = parse_directory(document)

    karl = account.users[0]
    assert karl.email == "karl.andersson@exempel.se"
    # R1: the duplicate alias in another spelling collapses into the one address.
    assert karl.aliases == ("karl@exempel.se", "karl@sthlm.exempel.se")
    assert account.contacts[0].emails == ("eva@kund.se",)


def test_bad_email_is_reported_with_account_user_and_field() -> None:
    document = article_directory()
    document["accounts"][0]["users"][0]["aliases"] = ["not an address"]

    with pytest.raises(DirectoryFileError) as caught:
        parse_directory(document)

    assert str(caught.value) == (
        "accounts[0] (exempel).users[0] (karl).aliases: 'not an address' is not an e-mail address"
    )


def test_structural_error_names_the_record_and_the_field() -> None:
    document = article_directory()
    del document["accounts"][0]["contacts"][0]["id"]
    document["accounts"][0]["users"][0]["email"] = 42

    with pytest.raises(DirectoryFileError) as caught:
        parse_directory(document)

    messages = sorted(caught.value.errors)
    assert messages == [
        "accounts[0] (exempel).contacts[0]: 'id' is a required property",
        "accounts[0] (exempel).users[0] (karl).email: 42 is not of type 'string'",
    ]


def test_r2_an_address_may_belong_to_one_user_only() -> None:
    document = article_directory(with_lucas=True)
    document["accounts"][0]["users"][1]["aliases"] = ["karl@exempel.se"]

    with pytest.raises(DirectoryFileError) as caught:
        parse_directory(document)

    assert "karl@exempel.se belongs to user 'karl' too" in str(caught.value)


def test_duplicate_ids_and_unknown_time_zone_are_all_reported() -> None:
    document = article_directory()
    account = document["accounts"][0]
    account["contacts"].append(dict(account["contacts"][0]))
    account["users"][0]["time_zone"] = "Mars/Olympus"

    with pytest.raises(DirectoryFileError) as caught:
        parse_directory(document)

    assert set(caught.value.errors) == {
        "accounts[0] (exempel).users[0] (karl).time_zone: 'Mars/Olympus' is not an IANA time zone",
        "accounts[0] (exempel).contacts: id 'eva' appears twice",
    }


def test_extra_colleague_domains_are_normalised_and_validated() -> None:
    document = article_directory()
    document["accounts"][0]["extra_colleague_domains"] = ["GBG.Exempel.se", "bücher.de"]
    (account,) = parse_directory(document)
    assert account.extra_colleague_domains == ("gbg.exempel.se", "xn--bcher-kva.de")

    document["accounts"][0]["extra_colleague_domains"] = ["not a domain"]
    with pytest.raises(DirectoryFileError, match="'not a domain' is not a domain"):
        parse_directory(document)


def test_unreadable_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "directory.json"
    path.write_text('{"accounts": [')

    with pytest.raises(DirectoryFileError, match="not readable JSON"):
        read_directory_file(path)


def test_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "directory.json"
    path.write_text(json.dumps({"accounts": [], "acounts": []}))

    with pytest.raises(DirectoryFileError, match="Additional properties are not allowed"):
        read_directory_file(path)
