"""``X-Calsync-Signature``: HMAC-SHA256 over ``"<t>.<raw body>"`` with a 5-minute window.

The header is ``t=<unix seconds>,v1=<hex>``; several ``v1`` entries may be sent while the
shared secret is being rotated, and one matching is enough (Stripe's and Svix's scheme).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

#: Largest difference between the signature's timestamp and our clock; beyond it a
#: captured request can no longer be replayed.
TOLERANCE_SECONDS = 300
#: Longer headers are refused unread: a handful of signatures fits in far less.
MAX_HEADER_LENGTH = 2048
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class SignatureError(ValueError):
    """The request is not signed with our secret, or was signed too long ago."""


@dataclass(frozen=True)
class SignatureHeader:
    timestamp: int
    signatures: tuple[bytes, ...]


def sign(secret: str, timestamp: int, raw_body: bytes) -> str:
    """The hex signature of ``raw_body`` at ``timestamp`` (what the CRM computes)."""
    message = str(timestamp).encode() + b"." + raw_body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(header: str | None, raw_body: bytes, secret: str, now: float) -> None:
    """Check ``header`` against ``raw_body`` at time ``now``.

    Raises:
        SignatureError: see :func:`fresh_header` and :func:`verify_body`.
    """
    verify_body(fresh_header(header, now), raw_body, secret)


def fresh_header(header: str | None, now: float) -> SignatureHeader:
    """Parse ``header`` and check its timestamp, before the body is worth reading.

    Raises:
        SignatureError: the header is missing or malformed, or its timestamp is more than
            :data:`TOLERANCE_SECONDS` away from ``now``.
    """
    parsed = parse_header(header)
    if abs(now - parsed.timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("the signature timestamp is outside the 5-minute window")
    return parsed


def verify_body(parsed: SignatureHeader, raw_body: bytes, secret: str) -> None:
    """Check that one of the header's ``v1`` signatures is ours for ``raw_body``.

    Raises:
        SignatureError: no ``v1`` signature matches.
    """
    expected = sign(secret, parsed.timestamp, raw_body).encode()
    # Check every candidate, so the time taken does not tell which one came close.
    matches = [hmac.compare_digest(expected, candidate) for candidate in parsed.signatures]
    if not any(matches):
        raise SignatureError("the signature does not match the body")


def parse_header(header: str | None) -> SignatureHeader:
    """Split ``t=…,v1=…[,v1=…]``; unknown keys (future schemes) are ignored.

    Raises:
        SignatureError: missing, too long, no single valid ``t``, or no valid ``v1``.
    """
    if not header:
        raise SignatureError("X-Calsync-Signature is missing")
    if len(header) > MAX_HEADER_LENGTH:
        raise SignatureError("X-Calsync-Signature is too long")
    timestamps: list[str] = []
    signatures: list[bytes] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == "v1" and _HEX_SHA256.fullmatch(value):
            signatures.append(value.lower().encode())
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
        raise SignatureError("X-Calsync-Signature needs exactly one t=<unix seconds>")
    if not signatures:
        raise SignatureError("X-Calsync-Signature needs a v1=<hex HMAC-SHA256>")
    return SignatureHeader(int(timestamps[0]), tuple(signatures))
