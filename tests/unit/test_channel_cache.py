"""The channel cache: found channels are remembered for a while, unknown ones never."""

from __future__ import annotations

from collections.abc import Iterable

from adapters.sql.channels import ChannelRecord
from ingest.channel_cache import CachedChannels


class CountingChannels:
    def __init__(self, records: dict[str, ChannelRecord]) -> None:
        self.records, self.asked = records, []  # type: ignore[var-annotated]

    def find(self, channel_id: str) -> ChannelRecord | None:
        return self.find_many([channel_id]).get(channel_id)

    def find_many(self, channel_ids: Iterable[str]) -> dict[str, ChannelRecord]:
        ids = list(channel_ids)
        self.asked.append(ids)
        return {i: self.records[i] for i in ids if i in self.records}


def channel(channel_id: str) -> ChannelRecord:
    return ChannelRecord(
        id=channel_id,
        connection_id="c1",
        account_id="a",
        user_id="u",
        provider="google",
        secret_hash="h",
        stopped_at=None,
        connection_status="active",
    )


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_found_channel_is_served_from_memory_until_the_ttl_passes() -> None:
    inner, clock = CountingChannels({"ch": channel("ch")}), Clock()
    cache = CachedChannels(inner, ttl=30, clock=clock)

    assert cache.find("ch") == channel("ch")
    clock.now = 29
    assert cache.find("ch") == channel("ch")
    assert inner.asked == [["ch"]]

    clock.now = 31
    cache.find("ch")
    assert inner.asked == [["ch"], ["ch"]]


def test_unknown_channels_are_asked_every_time() -> None:
    inner = CountingChannels({})
    cache = CachedChannels(inner, clock=Clock())

    assert cache.find("not-yet") is None
    inner.records["not-yet"] = channel("not-yet")  # registered a moment later

    assert cache.find("not-yet") == channel("not-yet")


def test_batches_ask_only_for_what_is_not_cached_and_size_is_bounded() -> None:
    inner = CountingChannels({i: channel(i) for i in ("a", "b", "c")})
    cache = CachedChannels(inner, size=2, clock=Clock())
    cache.find_many(["a", "b"])

    assert set(cache.find_many(["a", "b", "c"])) == {"a", "b", "c"}
    assert inner.asked == [["a", "b"], ["c"]]
    cache.find("a")  # "a" was evicted when "c" came in
    assert inner.asked[-1] == ["a"]
