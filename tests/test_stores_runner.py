"""The runner's cache never outlives the truth in the store."""

from __future__ import annotations

from callstate import CallStatus, RecordDelivery
from callstate.stores import MemoryStore, Runner
from callstate.testing.store_contract import lifecycle


def test_a_cache_ahead_of_the_store_is_dropped() -> None:
    store = MemoryStore()
    first, second, *_ = lifecycle("CA1")
    elsewhere = Runner(MemoryStore())
    elsewhere.handle(RecordDelivery(delivery=first))
    elsewhere.handle(RecordDelivery(delivery=second))
    runner = Runner(store)
    # A cache that claims two events the store does not have (a restored backup).
    runner._remember("CA1", 2, elsewhere.state("CA1"))
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
