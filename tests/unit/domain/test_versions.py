"""R16: applying a version twice changes nothing; an older one never overwrites a newer one."""

from datetime import timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.model import EventVersion
from domain.versions import UpsertDecision, decide_upsert, is_newer, version_key
from tests.unit.domain.builders import at

V1 = EventVersion(at(2026, 3, 1, 10), sequence=0, change_key="a")
V2 = EventVersion(at(2026, 3, 1, 11), sequence=0, change_key="a")


def test_r16_anything_is_newer_than_nothing() -> None:
    assert is_newer(V1, None)
    assert decide_upsert(None, V1) is UpsertDecision.APPLY


def test_r16_newer_modification_time_applies() -> None:
    assert decide_upsert(V1, V2) is UpsertDecision.APPLY


def test_r16_older_version_never_overwrites_newer() -> None:
    assert not is_newer(V1, V2)
    assert decide_upsert(V2, V1) is UpsertDecision.SKIP_STALE


def test_r16_same_version_twice_is_a_duplicate() -> None:
    assert (
        decide_upsert(V1, EventVersion(at(2026, 3, 1, 10), 0, "a")) is UpsertDecision.SKIP_DUPLICATE
    )


def test_r16_same_instant_in_another_offset_is_the_same_version() -> None:
    # Given the same modification time written with a +02:00 offset
    same_instant = EventVersion(at(2026, 3, 1, 10).astimezone(timezone(timedelta(hours=2))), 0, "a")
    # Then it is a duplicate, not a change
    assert decide_upsert(V1, same_instant) is UpsertDecision.SKIP_DUPLICATE


def test_r16_sequence_breaks_a_tie_of_modification_times() -> None:
    later_sequence = EventVersion(V1.updated, sequence=1, change_key="a")
    assert decide_upsert(V1, later_sequence) is UpsertDecision.APPLY
    assert decide_upsert(later_sequence, V1) is UpsertDecision.SKIP_STALE


def test_r16_modification_time_outranks_sequence() -> None:
    high_sequence_but_older = EventVersion(V1.updated, sequence=9, change_key="z")
    assert decide_upsert(V2, high_sequence_but_older) is UpsertDecision.SKIP_STALE


def test_r16_change_key_breaks_the_last_tie_deterministically() -> None:
    b = EventVersion(V1.updated, 0, "b")
    assert (decide_upsert(V1, b), decide_upsert(b, V1)) == (
        UpsertDecision.APPLY,
        UpsertDecision.SKIP_STALE,
    )


versions = st.builds(
    EventVersion,
    updated=st.sampled_from([at(2026, 3, 1, hour) for hour in range(4)]),
    sequence=st.integers(min_value=0, max_value=3),
    change_key=st.sampled_from(["", "a", "b"]),
)


@settings(max_examples=200)
@given(st.lists(versions, min_size=1, max_size=10), st.data())
def test_r16_any_interleaving_with_repeats_converges_on_the_newest(
    distinct: list[EventVersion], data: st.DataObject
) -> None:
    # Given every version delivered at least once, some again, in any order
    repeats = data.draw(st.lists(st.sampled_from(distinct), max_size=10))
    deliveries = data.draw(st.permutations([*distinct, *repeats]))

    # When each delivery is applied only if decide_upsert says so
    stored: EventVersion | None = None
    for incoming in deliveries:
        if decide_upsert(stored, incoming) is UpsertDecision.APPLY:
            stored = incoming

    # Then the newest version is stored, whatever the order
    assert stored is not None
    assert version_key(stored) == max(version_key(v) for v in distinct)


@settings(max_examples=200)
@given(versions, versions)
def test_r16_exactly_one_of_apply_duplicate_stale_each_way(
    first: EventVersion, second: EventVersion
) -> None:
    forward, backward = decide_upsert(first, second), decide_upsert(second, first)
    if version_key(first) == version_key(second):
        assert forward is backward is UpsertDecision.SKIP_DUPLICATE
    else:
        assert {forward, backward} == {UpsertDecision.APPLY, UpsertDecision.SKIP_STALE}
