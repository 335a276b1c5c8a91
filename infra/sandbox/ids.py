"""Identifier, token and version-tag generators in the shapes each provider uses."""

from __future__ import annotations

import base64
import itertools
import secrets
import time
import uuid

#: Google event ids use the base32hex alphabet (RFC 2938 section 3.1.2).
BASE32HEX = "0123456789abcdefghijklmnopqrstuv"

_etag_counter = itertools.count(1)


def google_event_id() -> str:
    """A new Google-style event id: 26 base32hex characters."""
    return "".join(secrets.choice(BASE32HEX) for _ in range(26))


def is_valid_google_event_id(value: str) -> bool:
    """Whether a client-chosen id follows Google's rules (base32hex, 5 to 1024 characters)."""
    return 5 <= len(value) <= 1024 and all(char in BASE32HEX for char in value)


def google_etag() -> str:
    """A quoted, ever-increasing etag like Google's ``"3181161784712000"``."""
    return f'"{time.time_ns() // 1000}{next(_etag_counter) % 1000:03d}"'


def opaque_token(nbytes: int = 24) -> str:
    """An opaque URL-safe token for page, sync and delta cursors."""
    return secrets.token_urlsafe(nbytes)


def guid() -> str:
    """A random GUID in Microsoft's lowercase, hyphenated form."""
    return str(uuid.uuid4())


def graph_event_id() -> str:
    """A Graph-style event id: long, case-sensitive, URL-safe base64 with padding."""
    raw = b"\x00\x00\x8e" + secrets.token_bytes(66)
    return "AAMkA" + base64.urlsafe_b64encode(raw).decode("ascii")


def change_key() -> str:
    """A Graph ``changeKey``: a fresh value on every edit."""
    return base64.b64encode(secrets.token_bytes(12)).decode("ascii")


def graph_ical_uid() -> str:
    """An Exchange-style ``iCalUId`` (the hex global object id)."""
    return "040000008200E00074C5B7101A82E00800000000" + secrets.token_hex(28).upper()
