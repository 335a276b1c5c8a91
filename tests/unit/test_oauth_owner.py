"""Whose calendar a Graph user is, from the fields ``/me`` answers (R37)."""

from __future__ import annotations

from msgraph.generated.models.user import User

from adapters.oauth_owner import graph_user_addresses


def test_a_graph_user_goes_by_mail_upn_and_smtp_proxy_addresses() -> None:
    me = User(
        mail="Karl.Andersson@exempel.se",
        user_principal_name="karl.andersson@exempel.onmicrosoft.com",
        proxy_addresses=[
            "SMTP:karl.andersson@exempel.se",
            "smtp:karl@sthlm.exempel.se",
            "SIP:karl@exempel.se",
            "X500:/o=ExchangeLabs/ou=Exchange/cn=Recipients/cn=karl",
        ],
    )

    assert graph_user_addresses(me) == {
        "karl.andersson@exempel.se",
        "karl.andersson@exempel.onmicrosoft.com",
        "karl@sthlm.exempel.se",
    }


def test_a_graph_user_without_addresses_names_nobody() -> None:
    assert graph_user_addresses(User()) == frozenset()
    assert graph_user_addresses(None) == frozenset()
