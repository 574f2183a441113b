"""One contract every event store must pass: bind it to your store.

Subclass ``StoreContract`` in a test module and override the ``store``
fixture to yield a fresh, empty store (and close it afterwards)::

    import pytest
    from callstate.testing.store_contract import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            store = MyStore(tmp_path / "events")
            yield store
            store.close()

Every test here speaks only through the ``EventStore`` protocol and the
``Runner``: a store that passes behaves like the reference ``MemoryStore``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callstate._core._decider import CallBook, Decider
from callstate._core._parse import parse_callback
from callstate._core._resource import parse_call_resource
from callstate._core._state import CallStatus
from callstate._core._values import (
    CallRegistered,
    Delivery,
    DeliveryAccepted,
    DuplicateIgnored,
    Event,
    Reconcile,
    ReconciliationRequested,
    RecordDelivery,
    RegisterCall,
    ResourceObserved,
)
from callstate._errors import UsageError, VersionConflict
from callstate.stores import Append, EventStore, Runner, StoredEvent

__all__ = ["StoreContract", "delivery", "lifecycle"]

_T0 = datetime(2026, 11, 24, 10, 15, 32, tzinfo=UTC)
_EXAMPLES = itertools.count()  # tells apart the calls of examples sharing one store
_STEPS = (("initiated", 0), ("ringing", 1), ("in-progress", 2), ("completed", 3))


def _over_one_store(
    examples: int,
) -> Callable[[Callable[[Any, EventStore, st.DataObject], None]], Callable[..., None]]:
    """A property (``self, store, data``) whose examples share one store, each with its calls.

    The store fixture is made once for all the examples; each store is its
    own subclass, so its own executor.
    """
    shared = settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )

    def decorate(test: Callable[[Any, EventStore, st.DataObject], None]) -> Callable[..., None]:
        return shared(given(data=st.data())(test))

    return decorate


def delivery(
    call_sid: str, sequence_number: int, status: str, *, seconds: int = 0, **extra: str
) -> Delivery:
    """A status callback as a provider posts it, parsed (extra params kept)."""
    params = [
        ("CallSid", call_sid),
        ("AccountSid", "AC0123"),
        ("CallStatus", status),
        ("SequenceNumber", str(sequence_number)),
        ("Timestamp", (_T0 + timedelta(seconds=seconds)).strftime("%a, %d %b %Y %H:%M:%S +0000")),
        ("CallbackSource", "call-progress-events"),
        *extra.items(),
    ]
    if status == "completed":
        params.append(("CallDuration", "42"))
    return parse_callback(params)


def lifecycle(call_sid: str) -> list[Delivery]:
    """An answered call's four callbacks, in order."""
    return [delivery(call_sid, seq, status, seconds=seq * 5) for status, seq in _STEPS]


def _received(n: int) -> datetime:
    return _T0 + timedelta(seconds=100 + n)


def _every_kind(call_sid: str) -> list[Event]:
    first = delivery(call_sid, 0, "initiated", Caller="+1 415 555", Custom="a&b=c ü")
    resource = parse_call_resource(
        {
            "sid": call_sid,
            "status": "NO_ANSWER",
            "date_created": "Tue, 24 Nov 2026 10:15:32 +0000",
            "start_time": "2026-11-24T10:15:40-05:00",
            "duration": "0",
            "price": None,
            "subresource_uris": {"notifications": "/x.json"},
            "ring_duration": 12,
        }
    )
    return [
        CallRegistered(call_sid=call_sid, placed_at=_T0, ring_timeout=timedelta(seconds=30)),
        DeliveryAccepted(delivery=first, received_at=_received(0)),
        DuplicateIgnored(call_sid=call_sid, sequence_number=0, received_at=None),
        ResourceObserved(
            resource=resource, observed_at=_T0.astimezone(ZoneInfo("America/New_York"))
        ),
        ReconciliationRequested(call_sid=call_sid, at=_T0 + timedelta(hours=5)),
    ]


class StoreContract:
    """The laws of an ``EventStore``; override the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> Iterator[EventStore]:
        raise NotImplementedError("override the store fixture to yield a fresh store")

    # The log.

    def test_an_empty_store_holds_nothing(self, store: EventStore) -> None:
        assert store.load("CA1") == ()
        assert store.read_all() == ()
        assert store.calls_with_status(*CallStatus) == ()

    def test_every_kind_of_event_comes_back_equal(self, store: EventStore) -> None:
        events = _every_kind("CA1")
        stored = store.append("CA1", 0, events, status=CallStatus.NO_ANSWER)
        loaded = store.load("CA1")
        assert [s.event for s in loaded] == events
        assert loaded == stored
        assert [s.version for s in loaded] == [1, 2, 3, 4, 5]
        resource = loaded[3].event
        assert isinstance(resource, ResourceObserved)
        original = events[3]
        assert isinstance(original, ResourceObserved)
        assert resource.resource.raw == original.resource.raw
        assert resource.observed_at is not None
        assert original.observed_at is not None
        assert resource.observed_at.utcoffset() == original.observed_at.utcoffset()
        accepted = loaded[1].event
        assert isinstance(accepted, DeliveryAccepted)
        assert accepted.delivery.get("Custom") == "a&b=c ü"

    def test_append_needs_the_expected_version(self, store: EventStore) -> None:
        a, b, *_ = lifecycle("CA1")
        c = lifecycle("CA2")[2]
        store.append("CA1", 0, [DeliveryAccepted(delivery=a)], status=CallStatus.INITIATED)
        for expected in (0, 2, 7):
            with pytest.raises(VersionConflict) as info:
                store.append(
                    "CA1", expected, [DeliveryAccepted(delivery=b)], status=CallStatus.RINGING
                )
            assert (info.value.call_sid, info.value.expected, info.value.actual) == (
                "CA1",
                expected,
                1,
            )
        store.append("CA1", 1, [DeliveryAccepted(delivery=b)], status=CallStatus.RINGING)
        assert [s.version for s in store.load("CA1")] == [1, 2]
        with pytest.raises(VersionConflict) as info:
            store.append("CA2", 3, [DeliveryAccepted(delivery=c)], status=CallStatus.RINGING)
        assert info.value.actual == 0
        assert store.load("CA2") == ()

    def test_a_delivery_is_stored_once(self, store: EventStore) -> None:
        first, *_ = lifecycle("CA1")
        store.append("CA1", 0, [DeliveryAccepted(delivery=first)], status=CallStatus.INITIATED)
        copy = parse_callback(list(first.params))
        with pytest.raises(VersionConflict):
            store.append("CA1", 1, [DeliveryAccepted(delivery=copy)], status=CallStatus.INITIATED)
        assert len(store.load("CA1")) == 1
        # The same key with other content is a conflict worth keeping.
        other = delivery("CA1", 0, "ringing")
        store.append("CA1", 1, [DeliveryAccepted(delivery=other)], status=CallStatus.RINGING)
        assert len(store.load("CA1")) == 2

    def test_a_delivery_is_stored_once_within_a_batch(self, store: EventStore) -> None:
        first = lifecycle("CA1")[0]
        copy = parse_callback(list(first.params))
        twice = Append(
            call_sid="CA1",
            expected_version=0,
            events=(DeliveryAccepted(delivery=first), DeliveryAccepted(delivery=copy)),
            status=CallStatus.INITIATED,
        )
        with pytest.raises(VersionConflict):
            store.append_many([twice])
        once = attrs.evolve(twice, events=twice.events[:1])
        again = attrs.evolve(once, expected_version=1)
        with pytest.raises(VersionConflict):
            store.append_many([once, again])
        assert store.read_all() == ()

    def test_append_takes_the_events_as_a_list_a_tuple_or_an_iterator(
        self, store: EventStore
    ) -> None:
        # One event and several, each way: the short way for one event and
        # the batch way agree on what they take.
        events = [DeliveryAccepted(delivery=d) for d in lifecycle("CA1")]
        store.append("CA1", 0, events[:1], status=CallStatus.INITIATED)
        store.append("CA1", 1, tuple(events[1:2]), status=CallStatus.RINGING)
        store.append("CA1", 2, iter(events[2:3]), status=CallStatus.IN_PROGRESS)  # type: ignore[arg-type]
        store.append("CA1", 3, (e for e in events[3:]), status=CallStatus.COMPLETED)  # type: ignore[arg-type]
        assert [s.event for s in store.load("CA1")] == events
        assert store.calls_with_status(CallStatus.COMPLETED) == ("CA1",)

    def test_load_after_a_version(self, store: EventStore) -> None:
        events = [DeliveryAccepted(delivery=d) for d in lifecycle("CA1")]
        store.append("CA1", 0, events, status=CallStatus.COMPLETED)
        assert [s.version for s in store.load("CA1", 2)] == [3, 4]
        assert store.load("CA1", 4) == ()

    def test_positions_grow_across_calls(self, store: EventStore) -> None:
        for i in range(3):
            for sid in ("CA1", "CA2", "CA3"):
                d = lifecycle(sid)[i]
                store.append(sid, i, [DeliveryAccepted(delivery=d)], status=CallStatus.RINGING)
        everything = store.read_all()
        positions = [s.position for s in everything]
        assert len(everything) == 9
        assert positions == sorted(set(positions))
        assert positions[0] >= 1
        assert [s.call_sid for s in everything[:3]] == ["CA1", "CA2", "CA3"]
        assert store.read_all(after=positions[3], limit=2) == everything[4:6]
        assert store.read_all(after=positions[-1]) == ()
        for sid in ("CA1", "CA2", "CA3"):
            assert store.load(sid) == tuple(s for s in everything if s.call_sid == sid)

    def test_the_projection_follows_the_log(self, store: EventStore) -> None:
        a, _, _, d = lifecycle("CA1")
        _, b, c, _ = lifecycle("CA2")
        store.append("CA1", 0, [DeliveryAccepted(delivery=a)], status=CallStatus.INITIATED)
        store.append("CA2", 0, [DeliveryAccepted(delivery=b)], status=CallStatus.RINGING)
        assert store.calls_with_status(CallStatus.INITIATED) == ("CA1",)
        assert store.calls_with_status(CallStatus.RINGING, CallStatus.INITIATED) == (
            "CA1",
            "CA2",
        )
        store.append("CA1", 1, [DeliveryAccepted(delivery=d)], status=CallStatus.COMPLETED)
        assert store.calls_with_status(CallStatus.INITIATED) == ()
        assert store.calls_with_status(CallStatus.COMPLETED) == ("CA1",)
        with pytest.raises(VersionConflict):
            store.append("CA2", 0, [DeliveryAccepted(delivery=c)], status=CallStatus.BUSY)
        assert store.calls_with_status(CallStatus.BUSY) == ()

    # Pages of calls by status.

    def test_calls_page_walks_the_projection_with_a_cursor(self, store: EventStore) -> None:
        statuses = {
            "CA1": CallStatus.BUSY,
            "CA10": CallStatus.COMPLETED,
            "CA2": CallStatus.BUSY,
            "CA3": CallStatus.RINGING,
            "CA30": CallStatus.BUSY,
            "CA4": CallStatus.NO_ANSWER,
        }
        for sid, status in statuses.items():
            store.append(sid, 0, [DuplicateIgnored(call_sid=sid, sequence_number=0)], status=status)
        ended = (CallStatus.BUSY, CallStatus.COMPLETED, CallStatus.NO_ANSWER)
        assert store.calls_page(*ended, limit=3) == ("CA1", "CA10", "CA2")
        assert store.calls_page(*ended, after="CA2", limit=3) == ("CA30", "CA4")
        assert store.calls_page(*ended, after="CA4", limit=3) == ()
        assert store.calls_page(CallStatus.BUSY, after="CA1", limit=9) == ("CA2", "CA30")
        # A cursor need not be a stored CallSid; a status asked twice counts once.
        assert store.calls_page(CallStatus.BUSY, CallStatus.BUSY, after="CA15") == ("CA2", "CA30")
        assert store.calls_page(*CallStatus) == tuple(sorted(statuses))
        assert store.calls_page(CallStatus.QUEUED) == ()
        assert store.calls_page() == ()
        assert store.calls_page(*ended, limit=0) == ()
        # A call that changes status leaves one page and joins another.
        store.append(
            "CA3", 1, [DuplicateIgnored(call_sid="CA3", sequence_number=3)], status=CallStatus.BUSY
        )
        assert store.calls_page(CallStatus.BUSY, after="CA2") == ("CA3", "CA30")
        assert store.calls_page(CallStatus.RINGING) == ()

    def test_calls_page_refuses_nonsense(self, store: EventStore) -> None:
        for name, value in (
            ("limit", -1),
            ("limit", True),
            ("limit", 1.5),
            ("after", None),
            ("after", 7),
            ("after", "CA\x00"),
        ):
            with pytest.raises(UsageError):
                store.calls_page(CallStatus.BUSY, **{name: value})  # type: ignore[arg-type]
        with pytest.raises(UsageError):
            store.calls_page("busy-ish")  # type: ignore[arg-type]

    @_over_one_store(25)
    def test_calls_page_is_the_sorted_projection_from_the_cursor_on(
        self, store: EventStore, data: st.DataObject
    ) -> None:
        # The examples share the one store: each adds calls of its own, and the
        # law is stated over everything the store holds.
        prefix = f"CA{next(_EXAMPLES)}x"
        names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=4)
        suffixes = data.draw(st.sets(names, max_size=12), label="calls")
        for suffix in suffixes:
            sid = prefix + suffix
            status = data.draw(st.sampled_from(CallStatus), label="status")
            store.append(sid, 0, [DuplicateIgnored(call_sid=sid, sequence_number=0)], status=status)
        wanted = data.draw(st.lists(st.sampled_from(CallStatus), max_size=4), label="wanted")
        limit = data.draw(st.integers(0, 15), label="limit")
        cursors = st.one_of(st.just(""), names.map(lambda n: prefix + n), names)
        after = data.draw(cursors, label="after")
        every = store.calls_with_status(*wanted)
        page = store.calls_page(*wanted, after=after, limit=limit)
        assert page == tuple(sid for sid in every if sid > after)[:limit]
        # Page after page from the start: every call once, in order.
        walked: list[str] = []
        step = max(limit, 1)
        for _ in range(len(every) + 1):  # a wrong store must not loop forever
            chunk = store.calls_page(*wanted, after=walked[-1] if walked else "", limit=step)
            if not chunk:
                break
            walked.extend(chunk)
        assert tuple(walked) == every

    def test_a_batch_is_all_or_nothing(self, store: EventStore) -> None:
        a, b, *_ = lifecycle("CA1")
        store.append("CA1", 0, [DeliveryAccepted(delivery=a)], status=CallStatus.INITIATED)
        batch = [
            Append(
                call_sid="CA2",
                expected_version=0,
                events=(DeliveryAccepted(delivery=delivery("CA2", 0, "initiated")),),
                status=CallStatus.INITIATED,
            ),
            Append(
                call_sid="CA1",
                expected_version=0,
                events=(DeliveryAccepted(delivery=b),),
                status=CallStatus.RINGING,
            ),
        ]
        with pytest.raises(VersionConflict):
            store.append_many(batch)
        assert store.load("CA2") == ()
        assert len(store.read_all()) == 1
        fixed = [batch[0], attrs.evolve(batch[1], expected_version=1)]
        stored = store.append_many(fixed)
        assert [(s.call_sid, s.version) for s in stored] == [("CA2", 1), ("CA1", 2)]
        assert store.load("CA1")[0].position < stored[0].position < stored[1].position
        assert store.read_all() == (store.load("CA1")[0], *stored)

    def test_nonsense_appends_are_usage_errors(self, store: EventStore) -> None:
        a = lifecycle("CA1")[0]
        with pytest.raises(UsageError):
            store.append("CA1", 0, [], status=CallStatus.QUEUED)
        with pytest.raises(UsageError):
            store.append("CA2", 0, [DeliveryAccepted(delivery=a)], status=CallStatus.QUEUED)
        with pytest.raises(UsageError):
            store.append("CA1", -1, [DeliveryAccepted(delivery=a)], status=CallStatus.QUEUED)
        assert store.read_all() == ()

    # The runner over the store.

    @_over_one_store(20)
    def test_the_runner_keeps_the_callbook_contract(
        self, store: EventStore, data: st.DataObject
    ) -> None:
        # The examples share the one store: each example gets calls of its own.
        prefix = f"CA{next(_EXAMPLES)}x"
        logged = len(store.read_all(limit=1_000_000))
        decider = Decider()
        book, runner = CallBook(decider), Runner(store, decider)
        commands: list[RecordDelivery | Reconcile | RegisterCall] = []
        sids = [f"{prefix}{n}" for n in range(data.draw(st.integers(1, 4), label="calls"))]
        for sid in sids:
            commands.append(RegisterCall(call_sid=sid, placed_at=_T0, ring_timeout=None))
            for d in lifecycle(sid) * 2:
                commands.append(RecordDelivery(delivery=d, received_at=_received(len(commands))))
        for _ in range(data.draw(st.integers(0, 3), label="reconciliations")):
            sid = data.draw(st.sampled_from(sids))
            status = data.draw(st.sampled_from(["busy", "no-answer", "completed", "in-progress"]))
            resource = parse_call_resource({"sid": sid, "status": status})
            commands.append(Reconcile(resource=resource))
        commands = data.draw(st.permutations(commands), label="order")
        for command in commands:
            assert runner.handle(command) == book.handle(command)
        for state in book.states():
            assert state.call_sid is not None
            assert runner.state(state.call_sid) == state
            fresh = Runner(store, decider, cache_size=0)
            assert fresh.state(state.call_sid) == state
        completed = [s for s in store.calls_with_status(CallStatus.COMPLETED) if s in sids]
        assert completed == sorted(
            s.call_sid or "" for s in book.states() if s.status is CallStatus.COMPLETED
        )
        assert len(store.read_all(limit=1_000_000)) - logged == len(commands)

    def test_two_runners_racing_both_land(self, store: EventStore) -> None:
        one, two = Runner(store), Runner(store)
        a, b, c, d = lifecycle("CA1")
        one.handle(RecordDelivery(delivery=a))
        two.handle(RecordDelivery(delivery=b))  # two had not cached CA1: it loads
        one.handle(RecordDelivery(delivery=d))  # one's cache is stale: conflict, catch up
        outcome = two.handle(RecordDelivery(delivery=c))
        assert outcome.after.status is CallStatus.COMPLETED
        assert outcome.after.deliveries == 4
        dup = one.handle(RecordDelivery(delivery=parse_callback(list(d.params))))
        assert dup.duplicate
        assert [s.version for s in store.load("CA1")] == [1, 2, 3, 4, 5]
        assert store.calls_with_status(CallStatus.COMPLETED) == ("CA1",)

    def test_the_runner_gives_up_after_its_retries(self, store: EventStore) -> None:
        class Racing:
            """A store where another writer always appends first."""

            def __init__(self, inner: EventStore) -> None:
                self.inner = inner
                self.tries = 0

            def __getattr__(self, name: str) -> object:
                return getattr(self.inner, name)

            def append(
                self, call_sid: str, expected_version: int, events: object, *, status: CallStatus
            ) -> tuple[StoredEvent, ...]:
                self.tries += 1
                other = DuplicateIgnored(call_sid=call_sid, sequence_number=9)
                self.inner.append(call_sid, expected_version, [other], status=status)
                return self.inner.append(call_sid, expected_version, [other], status=status)

        racing = Racing(store)
        runner = Runner(racing, retries=3)  # type: ignore[arg-type]
        with pytest.raises(VersionConflict):
            runner.handle(RecordDelivery(delivery=lifecycle("CA1")[0]))
        assert racing.tries == 4
        assert all(isinstance(s.event, DuplicateIgnored) for s in store.load("CA1"))

    def test_a_batch_import_matches_one_by_one(self, store: EventStore) -> None:
        decider = Decider()
        book, runner = CallBook(decider), Runner(store, decider)
        commands = [
            RecordDelivery(delivery=d, received_at=_received(i))
            for i, d in enumerate([*lifecycle("CA1"), *lifecycle("CA2"), lifecycle("CA1")[3]])
        ]
        outcomes = runner.handle_many(commands)
        assert outcomes == tuple(book.handle(c) for c in commands)
        assert outcomes[-1].duplicate
        assert [s.call_sid for s in store.read_all()] == ["CA1"] * 5 + ["CA2"] * 4
        assert Runner(store, decider).state("CA2") == book.state("CA2")
