"""Normalising e-mail addresses, so that one address always compares equal to itself (R1)."""

import re
from encodings import idna
from functools import lru_cache

#: Longest address a mail path can carry (RFC 5321 §4.5.3.1.3, minus the angle brackets).
MAX_EMAIL_LENGTH = 254
#: Longest local part (RFC 5321 §4.5.3.1.1).
MAX_LOCAL_PART_LENGTH = 64
#: Longest domain name in its dotted text form.
MAX_DOMAIN_LENGTH = 253

_MAILTO = "mailto:"
#: Dots that IDNA treats as label separators besides the ASCII full stop (RFC 3490 §3.1).
_LABEL_SEPARATORS = re.compile("[.\u3002\uff0e\uff61]")
#: A host-name label after IDNA encoding: letters, digits, inner hyphens (RFC 1123).
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
#: Characters that cannot stand unquoted in a local part. Quoted local parts are so rare
#: in calendars that accepting them is not worth the ambiguity.
_LOCAL_PART_SPECIALS = re.compile(r'[\s"(),:;<>@\[\\\]]')
#: The everyday address (lowercase ASCII dot-atom at a host name) needs no IDNA work; for
#: it the full path below would return the address unchanged, so one match decides.
_PLAIN_ADDRESS = re.compile(
    r"(?P<local>[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
)


#: Distinct raw addresses whose normal form is remembered. The same people come back in
#: every page and every sync, so nearly every call is a hit; 65,536 entries take about 17 MiB.
NORMALISED_CACHE_SIZE = 1 << 16


@lru_cache(maxsize=NORMALISED_CACHE_SIZE)
def normalise_email(raw: str) -> str | None:
    """Return the canonical form of an e-mail address, or None if ``raw`` is not one.

    Accepts ``a@b``, ``Name <a@b>``, ``<a@b>`` and ``mailto:a@b``, with any surrounding
    whitespace. The result is lowercase, and its domain is IDNA-encoded label by label
    (``bücher.de`` becomes ``xn--bcher-kva.de``). Never raises, and normalising a result
    again returns it unchanged.
    """
    plain = _plain_address(raw)
    return plain if plain is not None else _full_normalise(raw)


def _full_normalise(raw: str) -> str | None:
    address = _strip_mailto(_unwrap_angle_brackets(raw.strip()))
    local_part, at, domain = address.rpartition("@")
    if not at:
        return None
    local_part_or_none = _normalise_local_part(local_part)
    ascii_domain = _ascii_domain(domain)
    if local_part_or_none is None or ascii_domain is None:
        return None
    email = f"{local_part_or_none}@{ascii_domain}"
    return email if len(email) <= MAX_EMAIL_LENGTH else None


def _plain_address(raw: str) -> str | None:
    """The fast path: an already plain address, or None to take the full path."""
    lowered = raw.strip().lower()
    if lowered.endswith(">"):  # "Name <a@b>": the address is after the last "<"
        lowered = lowered[lowered.rfind("<") + 1 : -1].strip()
    if not lowered.isascii() or len(lowered) > MAX_EMAIL_LENGTH:
        return None
    match = _PLAIN_ADDRESS.fullmatch(lowered)
    if match is None or len(match["local"]) > MAX_LOCAL_PART_LENGTH:
        return None
    return lowered


def normalise_domain(raw: str) -> str | None:
    """Return the lowercase IDNA form of a domain name (``@`` prefix allowed), or None."""
    return _ascii_domain(raw.strip().removeprefix("@"))


def email_domain(normalised: str) -> str:
    """Return the domain of an address that ``normalise_email`` returned.

    Raises:
        ValueError: ``normalised`` has no ``@``, so it did not come from ``normalise_email``.
    """
    _, at, domain = normalised.rpartition("@")
    if not at or not domain:
        raise ValueError(f"{normalised!r} is not a normalised e-mail address")
    return domain


def _unwrap_angle_brackets(text: str) -> str:
    # The display name may itself contain "<", so the address is after the last one.
    if text.endswith(">") and "<" in text:
        return text[text.rfind("<") + 1 : -1].strip()
    return text


def _strip_mailto(text: str) -> str:
    if text[: len(_MAILTO)].lower() != _MAILTO:
        return text
    # A mailto URI may carry ?subject=... after the address.
    return text[len(_MAILTO) :].partition("?")[0].strip()


def _normalise_local_part(local_part: str) -> str | None:
    lowered = local_part.lower()
    well_formed = (
        0 < len(lowered) <= MAX_LOCAL_PART_LENGTH
        and lowered.isprintable()
        and not _LOCAL_PART_SPECIALS.search(lowered)
        and not lowered.startswith(".")
        and not lowered.endswith(".")
        and ".." not in lowered
    )
    return lowered if well_formed else None


def _ascii_domain(domain: str) -> str | None:
    labels = _LABEL_SEPARATORS.split(domain)
    if labels[-1] == "":
        labels.pop()  # the trailing dot of a fully qualified name
    ascii_labels = [_ascii_label(label) for label in labels]
    if len(ascii_labels) < 2 or None in ascii_labels:
        return None
    joined = ".".join(label for label in ascii_labels if label is not None)
    if joined.rpartition(".")[2].isdigit():
        return None  # an IPv4 address, not a domain name
    return joined if len(joined) <= MAX_DOMAIN_LENGTH else None


def _ascii_label(label: str) -> str | None:
    try:
        encoded = idna.ToASCII(label).decode("ascii").lower()
    except ValueError:  # UnicodeError, raised for empty, too long or prohibited labels
        return None
    return encoded if _HOST_LABEL.fullmatch(encoded) else None
