"""The runner's cache never outlives the truth in the store."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from callstate import CallStatus, Decider, Dialect, RecordDelivery, VersionConflict
from callstate.stores import MemoryStore, Runner
from callstate.testing import strategies as cs
from callstate.testing.store_contract import lifecycle


def test_a_cache_ahead_of_the_store_is_dropped() -> None:
    store = MemoryStore()
    first, second, *_ = lifecycle("CA1")
    elsewhere = Runner(MemoryStore())
    elsewhere.handle(RecordDelivery(delivery=first))
    elsewhere.handle(RecordDelivery(delivery=second))
    runner = Runner(store)
    # A cache that claims two events the store does not have (a restored backup).
    runner._remember("CA1", 2, elsewhere.state("CA1")._record)
    outcome = runner.handle(RecordDelivery(delivery=second))
    assert not outcome.duplicate
    assert outcome.after.status is CallStatus.RINGING
    assert [s.version for s in store.load("CA1")] == [1]


def test_a_stale_cache_catches_up_with_only_what_it_missed() -> None:
    store = MemoryStore()
    one, two = Runner(store), Runner(store)
    calls = lifecycle("CA1")
    one.handle(RecordDelivery(delivery=calls[0]))
    for delivery in calls[1:3]:
        two.handle(RecordDelivery(delivery=delivery))
    loads = []
    real_load = store.load

    def counting_load(call_sid: str, after_version: int = 0) -> object:
        loads.append(after_version)
        return real_load(call_sid, after_version)

    store.load = counting_load  # type: ignore[method-assign]
    outcome = one.handle(RecordDelivery(delivery=calls[3]))
    assert outcome.after.status is CallStatus.COMPLETED
    assert loads == [1]  # one conflict, then the two events it had not seen


class _General(Decider):
    """A Decider subclass: the runner takes its general path (decide, then advance)."""


@st.composite
def _streams(draw: st.DrawFn) -> list[tuple[bool, RecordDelivery]]:
    """Chaotic deliveries of two calls (some conflicting), each handled by one of two runners."""
    calls = draw(st.lists(cs.lifecycles(), min_size=1, max_size=2))
    deliveries = [d for call in calls for d in call.deliveries]
    sids = st.sampled_from([call.call_sid for call in calls])
    deliveries += draw(st.lists(cs.deliveries(call_sid=sids), max_size=3))
    stream = draw(cs.chaotic(deliveries, drops=True))
    received = draw(
        st.lists(st.none() | cs.timestamps(), min_size=len(stream), max_size=len(stream))
    )
    writers = draw(st.lists(st.booleans(), min_size=len(stream), max_size=len(stream)))
    return [
        (writer, RecordDelivery(delivery=d, received_at=at))
        for writer, d, at in zip(writers, stream, received, strict=True)
    ]


_SETTINGS = st.tuples(st.sampled_from([0, 1, 2, 10_000]), st.integers(0, 2))


@settings(max_examples=300, deadline=None)
@given(_streams(), cs.dialects(), st.lists(_SETTINGS, min_size=2, max_size=2))
def test_the_delivery_fast_path_is_the_general_path(
    stream: list[tuple[bool, RecordDelivery]],
    dialect: Dialect,
    runners: list[tuple[int, int]],
) -> None:
    # Two runners over one store each side (a second writer makes version
    # conflicts and stale caches; a small cache forgets, few retries give
    # up): the same outcomes or conflicts, the same logs.
    fast_store, general_store = MemoryStore(), MemoryStore()
    fast = [
        Runner(fast_store, Decider(dialect=dialect), cache_size=size, retries=retries)
        for size, retries in runners
    ]
    general = [
        Runner(general_store, _General(dialect=dialect), cache_size=size, retries=retries)
        for size, retries in runners
    ]
    for writer, command in stream:
        assert _handled(fast[writer], command) == _handled(general[writer], command)
    assert _logs(fast_store) == _logs(general_store)
    for sid in {command.delivery.call_sid for _, command in stream}:
        assert fast[0].get(sid) == general[0].get(sid)
    for status in CallStatus:
        assert fast_store.calls_with_status(status) == general_store.calls_with_status(status)


def _handled(runner: Runner, command: RecordDelivery) -> object:
    try:
        return runner.handle(command)
    except VersionConflict as conflict:
        return ("conflict", conflict.call_sid, conflict.expected, conflict.actual)


def _logs(store: MemoryStore) -> list[tuple[int, str, int, object]]:
    return [(s.position, s.call_sid, s.version, s.event) for s in store.read_all(0, 100_000)]
