"""Accounts and their API keys. Keys are shown once and stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa

from adapters.sql.tables import accounts
from domain.clock import Clock, system_clock

#: Prefix that makes a leaked key recognisable by secret scanners.
KEY_PREFIX = "csk_"


class AccountNotFound(LookupError):
    """No account has that id."""


class AccountExists(ValueError):
    """An account with that id exists already."""


def hash_key(key: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class SqlAccounts:
    """Create accounts, rotate their keys, and resolve a presented key to its account."""

    def __init__(self, engine: sa.Engine, clock: Clock = system_clock) -> None:
        self._engine = engine
        self._clock = clock

    def create(self, account_id: str, name: str = "") -> str:
        """Create the account and return its API key (the only time it is visible).

        Raises:
            AccountExists: the id is taken.
        """
        key, now = new_key(), self._clock()
        with self._engine.begin() as conn:
            if conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id)).first():
                raise AccountExists(f"account {account_id!r} exists already")
            conn.execute(
                accounts.insert().values(
                    id=account_id,
                    name=name,
                    api_key_hash=hash_key(key),
                    api_key_rotated_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
        return key

    def rotate_key(self, account_id: str) -> str:
        """Replace the account's key; the old one stops working at once.

        Raises:
            AccountNotFound: no such account.
        """
        key, now = new_key(), self._clock()
        with self._engine.begin() as conn:
            result = conn.execute(
                accounts.update()
                .where(accounts.c.id == account_id)
                .values(api_key_hash=hash_key(key), api_key_rotated_at=now, updated_at=now)
            )
            if result.rowcount != 1:
                raise AccountNotFound(f"no account {account_id!r}")
        return key

    def exists(self, account_id: str) -> bool:
        """Whether the account was created (``calsync account create``, a directory load)."""
        with self._engine.connect() as conn:
            found = conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id))
            return found.first() is not None

    def account_for_key(self, key: str) -> str | None:
        """Return the id of the account owning ``key``, or None."""
        if not key.startswith(KEY_PREFIX):
            return None
        with self._engine.connect() as conn:
            return conn.execute(
                sa.select(accounts.c.id).where(accounts.c.api_key_hash == hash_key(key))
            ).scalar_one_or_none()
