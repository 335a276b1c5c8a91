"""Test data shared across suites: the help article's people, as a directory document."""

from __future__ import annotations

from typing import Any

from adapters.broker.envelope import Envelope, MessageType, message_id_for


def article_directory(*, with_lucas: bool = False, account_id: str = "exempel") -> dict[str, Any]:
    """Karl is a user with two aliases; Johanna is not a user; Lucas only in scenario 3."""
    users: list[dict[str, Any]] = [
        {
            "id": "karl",
            "name": "Karl Andersson",
            "email": "karl.andersson@exempel.se",
            "aliases": ["karl@exempel.se", "karl@sthlm.exempel.se"],
            "time_zone": "Europe/Stockholm",
        }
    ]
    if with_lucas:
        users.append(
            {
                "id": "lucas",
                "name": "Lucas",
                "email": "lucas@gbg.exempel.se",
                "time_zone": "Europe/Stockholm",
            }
        )
    return {
        "accounts": [
            {
                "id": account_id,
                "name": "Exempel AB",
                "extra_colleague_domains": [],
                "users": users,
                "companies": [{"id": "kund", "name": "Kund AB"}],
                "contacts": [
                    {
                        "id": "eva",
                        "name": "Eva Kund",
                        "emails": ["eva@kund.se"],
                        "company_id": "kund",
                    }
                ],
            }
        ]
    }


def bulk_directory(account_id: str, contacts: int, users: int = 0) -> dict[str, Any]:
    """A large account: ``contacts`` contacts over ``contacts // 10`` companies."""
    return {
        "accounts": [
            {
                "id": account_id,
                "name": account_id,
                "users": [
                    {
                        "id": f"u{i}",
                        "email": f"user{i}@seller.example",
                        "aliases": [f"u{i}@sales.seller.example"],
                    }
                    for i in range(users)
                ],
                "companies": [
                    {"id": f"c{i}", "name": f"Company {i}"} for i in range(max(1, contacts // 10))
                ],
                "contacts": [
                    {
                        "id": f"p{i}",
                        "name": f"Person {i}",
                        "emails": [f"person{i}@customer{i // 10}.example"],
                        "company_id": f"c{i // 10}",
                    }
                    for i in range(contacts)
                ],
            }
        ]
    }


def crm_event(
    account_id: str, event_id: str, kind: str, data: dict[str, Any], occurred_at: str
) -> Envelope:
    """The envelope ingest makes of a CRM event (``POST /crm/events``) for the crm queue."""
    return Envelope(
        id=message_id_for(account_id, event_id),
        type=MessageType.CRM_EVENT,
        account_id=account_id,
        payload={
            "id": event_id,
            "type": kind,
            "account_id": account_id,
            "occurred_at": occurred_at,
            "data": data,
        },
    )
