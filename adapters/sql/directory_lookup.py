"""The batched lookup of addresses in an account's directory: one query for a page of
addresses that answers colleague domains (R3), users by any address (R2) and contacts (R5).

Used by ``SqlDirectory.directory_for`` for the sync, by ``adapters.sql.crm_store`` for a CRM
save, and by ``adapters.sql.coming_appointments`` when a directory load links the bare
addresses of the appointments still to come.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from domain.model import ContactRecord, Directory


def list_param(dialect: str, values: list[str]) -> Any:
    """``values`` as one bound parameter of ``lookup_query``: a JSON list on SQLite, one
    string of lines on PostgreSQL (split by the server: cheaper to send than an array of
    thousands of strings, which psycopg quotes one by one). Normalised addresses and domains
    hold no whitespace, so a line break cannot fall inside one."""
    if dialect == "sqlite":
        return json.dumps(values)
    if dialect == "postgresql":
        return "\n".join(values)
    raise ValueError(f"no directory lookup for the {dialect} dialect")


# The lookup of one page of addresses (tests/bench/test_resolution.py). Resolution tries
# user (R2), then colleague domain (R3, R4), then contact (R5), so only an address in a
# colleague domain can be a user and only one outside them a contact: each address is
# looked up in one of the two tables, not both. Rows are (kind, key, ref, company_id,
# active, updated_at), kind "d" for a colleague domain, "u" for a user's address and "c"
# for a contact's, read from ``contact_emails`` alone, which carries what resolution needs of
# the contact (one probe per address instead of two); ``to_directory`` reads them. Contacts
# are probed address by address
# whatever the statistics say: given an ``IN`` list of a page's 2,500 addresses, PostgreSQL
# hashed or scanned all 100,000 contacts (70 ms a page). Users, a few hundred addresses in
# most accounts, are joined as the planner sees fit; ``SqlDirectory.load`` keeps the
# statistics that it needs.
_LOOKUP_SQL = {
    # OFFSET 0 keeps the LATERAL subquery a per-address probe: the planner may not flatten
    # it into a join that it would then hash.
    "postgresql": r"""
WITH colleague AS MATERIALIZED (
    SELECT domain FROM user_emails
    WHERE account_id = :account_id AND domain = ANY (string_to_array(:domains, E'\n'))
    UNION
    SELECT domain FROM account_domains
    WHERE account_id = :account_id AND domain = ANY (string_to_array(:domains, E'\n'))
), wanted AS MATERIALIZED (
    SELECT w.email, split_part(w.email, '@', 2) IN (SELECT domain FROM colleague) AS colleague
    FROM unnest(string_to_array(:emails, E'\n')) AS w (email)
)
SELECT 'd' AS kind, domain AS key, CAST(NULL AS text) AS ref, CAST(NULL AS text) AS company_id,
    CAST(NULL AS boolean) AS active, CAST(NULL AS timestamptz) AS updated_at
FROM colleague
UNION ALL
SELECT 'u', w.email, ue.user_id, NULL, u.active, NULL
FROM wanted AS w
JOIN user_emails AS ue ON ue.account_id = :account_id AND ue.email = w.email
JOIN users AS u ON u.account_id = ue.account_id AND u.id = ue.user_id
WHERE w.colleague
UNION ALL
SELECT 'c', w.email, found.contact_id, found.company_id, found.active, found.contact_updated_at
FROM wanted AS w CROSS JOIN LATERAL (
    SELECT ce.contact_id, ce.company_id, ce.active, ce.contact_updated_at
    FROM contact_emails AS ce
    WHERE ce.account_id = :account_id AND ce.email = w.email
    OFFSET 0
) AS found
WHERE NOT w.colleague
""",
    # SQLite joins a CROSS JOIN in the order written: addresses first, then the probes.
    "sqlite": """
WITH colleague (domain) AS MATERIALIZED (
    SELECT domain FROM user_emails
    WHERE account_id = :account_id AND domain IN (SELECT value FROM json_each(:domains))
    UNION
    SELECT domain FROM account_domains
    WHERE account_id = :account_id AND domain IN (SELECT value FROM json_each(:domains))
), wanted (email, colleague) AS MATERIALIZED (
    SELECT value, substr(value, instr(value, '@') + 1) IN (SELECT domain FROM colleague)
    FROM json_each(:emails)
)
SELECT 'd' AS kind, domain AS key, NULL AS ref, NULL AS company_id, NULL AS active,
    NULL AS updated_at
FROM colleague
UNION ALL
SELECT 'u', w.email, ue.user_id, NULL, u.active, NULL
FROM wanted AS w CROSS JOIN user_emails AS ue CROSS JOIN users AS u
WHERE w.colleague AND ue.account_id = :account_id AND ue.email = w.email
    AND u.account_id = ue.account_id AND u.id = ue.user_id
UNION ALL
SELECT 'c', w.email, ce.contact_id, ce.company_id, ce.active, ce.contact_updated_at
FROM wanted AS w CROSS JOIN contact_emails AS ce
WHERE NOT w.colleague AND ce.account_id = :account_id AND ce.email = w.email
""",
}


@functools.cache
def lookup_query(dialect: str) -> sa.TextClause:
    """One round trip for a page: colleague domains, users and contacts by address.

    Bind ``account_id``, and ``emails`` and ``domains`` (normalised, each through
    ``list_param``). Plain SQL with untyped columns: per-row type processing was a third
    of the lookup on SQLite (tests/bench), and ``to_directory`` does the little needed.
    """
    try:
        return sa.text(_LOOKUP_SQL[dialect])
    except KeyError:
        raise ValueError(f"no directory lookup for the {dialect} dialect") from None


def to_directory(rows: Iterable[Any]) -> Directory:
    """The Directory of ``lookup_query``'s rows: active users by address, colleague domains,
    and every contact found for an address."""
    user_by_email: dict[str, str] = {}
    contacts_by_email: dict[str, list[ContactRecord]] = {}
    domains: set[str] = set()
    for kind, key, ref, company_id, active, updated_at in rows:
        if kind == "c":
            record = ContactRecord(ref, company_id, bool(active), _aware(updated_at))
            found = contacts_by_email.get(key)
            if found is None:
                contacts_by_email[key] = [record]
            else:
                found.append(record)
        elif kind == "u":
            if active:
                user_by_email[key] = ref
        else:
            domains.add(key)
    return Directory(
        user_by_email=user_by_email,
        colleague_domains=frozenset(domains),
        contacts_by_email=contacts_by_email,
    )


def _aware(value: datetime | str) -> datetime:
    """An aware ``updated_at``: PostgreSQL gives one, SQLite naive UTC as text."""
    if not isinstance(value, str):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:  # parsed with its zone in one go: replace(tzinfo=...) costs more than the parse
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:  # the text carries its own offset
        return _aware(datetime.fromisoformat(value))
