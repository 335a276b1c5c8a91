"""Account API keys: shown once, stored hashed, rotated, and scoped to their account."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from adapters.sql.accounts import AccountExists, AccountNotFound, SqlAccounts
from adapters.sql.tables import accounts


def test_key_resolves_to_its_account_and_is_stored_only_hashed(store: sa.Engine) -> None:
    store_accounts = SqlAccounts(store)
    key_a = store_accounts.create("a", "Account A")
    key_b = store_accounts.create("b")

    assert store_accounts.account_for_key(key_a) == "a"
    assert store_accounts.account_for_key(key_b) == "b"
    with store.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(sa.select(accounts)) for v in row)
    assert key_a not in stored
    assert key_b not in stored


def test_rotation_retires_the_old_key(store: sa.Engine) -> None:
    store_accounts = SqlAccounts(store)
    old = store_accounts.create("a")

    new = store_accounts.rotate_key("a")

    assert new != old
    assert store_accounts.account_for_key(new) == "a"
    assert store_accounts.account_for_key(old) is None


@pytest.mark.parametrize("key", ["", "csk_", "csk_guess", "Bearer x", "nonsense"])
def test_unknown_keys_resolve_to_nothing(store: sa.Engine, key: str) -> None:
    SqlAccounts(store).create("a")
    assert SqlAccounts(store).account_for_key(key) is None


def test_duplicate_account_and_unknown_rotation_are_refused(store: sa.Engine) -> None:
    store_accounts = SqlAccounts(store)
    store_accounts.create("a")
    with pytest.raises(AccountExists):
        store_accounts.create("a")
    with pytest.raises(AccountNotFound):
        store_accounts.rotate_key("missing")
