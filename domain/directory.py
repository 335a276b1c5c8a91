"""What an account knows about addresses: colleague domains (R3) and which contact is whose (R5)."""

from collections.abc import Iterable, Mapping, Sequence

from domain.emails import email_domain, normalise_domain, normalise_email
from domain.model import ContactRecord, Directory


def colleague_domains(
    user_emails: Iterable[str], extra_domains: Iterable[str] = ()
) -> frozenset[str]:
    """Return the colleague domains of an account (R3).

    They are the domains of every username and alias of the account's users, plus the domains
    an administrator added, all normalised. Matching is by exact domain: ``gbg.exempel.se``
    is not ``exempel.se``. Addresses and domains that do not parse are skipped.

    Args:
        user_emails: usernames and aliases, raw or normalised.
        extra_domains: domains an administrator added, with or without a leading ``@``.
    """
    from_users = {email_domain(email) for raw in user_emails if (email := normalise_email(raw))}
    added = {domain for raw in extra_domains if (domain := normalise_domain(raw))}
    return frozenset(from_users | added)


def choose_contact(records: Sequence[ContactRecord]) -> ContactRecord | None:
    """Return the contact an address stands for when several carry it (R5).

    That is the most recently updated *active* record; on equal update times the lowest
    ``contact_id`` wins, so the choice never depends on the order the records came in.
    Returns None when no record is active.
    """
    # Resolution's hot path: most addresses match no contact, or exactly one.
    if not records:
        return None
    if len(records) == 1:
        return records[0] if records[0].active else None
    active = sorted((record for record in records if record.active), key=lambda r: r.contact_id)
    # max() keeps the first of equal keys, which after the sort is the lowest contact_id.
    return max(active, key=lambda record: record.updated_at, default=None)


def build_directory(
    user_emails_by_id: Mapping[str, Iterable[str]],
    extra_domains: Iterable[str] = (),
    contacts_by_email: Mapping[str, Sequence[ContactRecord]] | None = None,
) -> Directory:
    """Build a Directory from raw addresses, normalising every one of them (R1).

    Args:
        user_emails_by_id: user id to username and aliases, for *active* users only. Colleague
            domains come from these addresses; pass other domains in ``extra_domains``.
        extra_domains: domains an administrator added (R3).
        contacts_by_email: contact records by the address they carry.

    An address claimed by two users goes to the first; unparseable addresses are dropped.
    """
    user_by_email: dict[str, str] = {}
    for user_id, emails in user_emails_by_id.items():
        for raw in emails:
            if email := normalise_email(raw):
                user_by_email.setdefault(email, user_id)
    contacts: dict[str, tuple[ContactRecord, ...]] = {}
    for raw, records in (contacts_by_email or {}).items():
        if email := normalise_email(raw):
            contacts[email] = (*contacts.get(email, ()), *records)
    return Directory(
        user_by_email=user_by_email,
        colleague_domains=colleague_domains(user_by_email, extra_domains),
        contacts_by_email=contacts,
    )
