"""The channel store the webhook receivers authenticate against (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from adapters.sql.channels import LOOKUP_CHUNK, ChannelRecord, SqlChannels, hash_channel_secret
from adapters.sql.tables import push_channels
from tests.integration.test_ingest_support import ACCOUNT, seed_connection


@pytest.fixture
def channels(store: sa.Engine) -> SqlChannels:
    seed_connection(store, "conn-karl", "google")
    seed_connection(store, "conn-lucas", "microsoft", user_id="lucas")
    return SqlChannels(store)


def test_only_the_secrets_hash_is_stored(store: sa.Engine, channels: SqlChannels) -> None:
    channels.register("chan-1", "conn-karl", "google", "s3cret", resource_id="res-1")

    with store.connect() as conn:
        row = conn.execute(sa.select(push_channels)).one()._asdict()

    assert row["secret_hash"] == hashlib.sha256(b"s3cret").hexdigest()
    assert "s3cret" not in repr(row)
    assert row["resource_id"] == "res-1"


def test_find_joins_the_connection(channels: SqlChannels) -> None:
    channels.register("sub-1", "conn-lucas", "microsoft", "state")

    assert channels.find("sub-1") == ChannelRecord(
        id="sub-1",
        connection_id="conn-lucas",
        account_id=ACCOUNT,
        user_id="lucas",
        provider="microsoft",
        secret_hash=hash_channel_secret("state"),
        stopped_at=None,
        connection_status="active",
    )


@pytest.mark.parametrize("channel_id", ["nope", "", "a\x00b", "a b", "é", "\ud800", "x" * 256])
def test_an_id_that_is_not_stored_or_cannot_be_is_none(
    channels: SqlChannels, channel_id: str
) -> None:
    assert channels.find(channel_id) is None
    assert channels.find_many([channel_id]) == {}


def test_register_refuses_ids_find_could_never_match(channels: SqlChannels) -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        channels.register("a b", "conn-karl", "google", "s")


def test_find_many_looks_up_more_ids_than_one_query_takes(channels: SqlChannels) -> None:
    channels.register("sub-first", "conn-lucas", "microsoft", "a")
    channels.register("sub-last", "conn-lucas", "microsoft", "b")
    names = ["sub-first", *(f"sub-{i:05}" for i in range(LOOKUP_CHUNK * 2)), "sub-last"]

    found = channels.find_many(names)

    assert sorted(found) == ["sub-first", "sub-last"]


def test_secrets_a_json_body_can_carry_hash_without_error() -> None:
    # A lone surrogate decodes from JSON ("\ud800") but is not UTF-8; it must simply not match.
    assert len(hash_channel_secret("\ud800")) == 64
