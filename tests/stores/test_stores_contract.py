"""The store contract, bound to every store callstate ships.

And a property of callstate's own stores: an append of one event takes a
shorter path than a batch (``SharedPaths._append_one``); it stores what a
batch of one stores.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callstate import CallStatus, DeliveryAccepted, DuplicateIgnored, Event, VersionConflict
from callstate.stores import Append, EventStore, MemoryStore, SQLiteStore, StoredEvent
from callstate.testing import strategies as cs
from callstate.testing.store_contract import StoreContract
from tests.stores._store_fixtures import fresh_postgres_store


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[EventStore]:
        store = MemoryStore()
        yield store
        store.close()


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[EventStore]:
        store = SQLiteStore(tmp_path / "events.sqlite3")
        yield store
        store.close()


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[EventStore]:
        with fresh_postgres_store(max_size=4) as store:
            yield store


# The one-event path equals the batch path.

_run = itertools.count()
_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "postgres"], scope="module")
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EventStore, EventStore]]:
    if request.param == "memory":
        yield MemoryStore(), MemoryStore()
    elif request.param == "sqlite":
        folder: Path = tmp_path_factory.mktemp("fast")
        with SQLiteStore(folder / "one.db") as one, SQLiteStore(folder / "many.db") as many:
            yield one, many
    else:
        with fresh_postgres_store() as one, fresh_postgres_store() as many:
            yield one, many


@st.composite
def steps(draw: st.DrawFn) -> list[tuple[int, int, Event, CallStatus, bool]]:
    """Appends of one event to two calls: right and wrong versions, repeated deliveries.

    The last flag: whether the store forgets the call ids it knows first (as
    a store opened anew, or another process's, knows none).
    """
    events = st.one_of(
        cs.deliveries("CA", max_sequence=2).map(
            lambda d: DeliveryAccepted(delivery=d, received_at=_AT)
        ),
        st.builds(DuplicateIgnored, call_sid=st.just("CA"), sequence_number=st.just(1)),
    )
    # A few events, drawn again and again: a delivery repeated at the right
    # version is a conflict on both paths.
    pool = draw(st.lists(events, min_size=1, max_size=3))
    out = []
    for _ in range(draw(st.integers(1, 8))):
        call = draw(st.integers(0, 1))
        event: Event = draw(st.sampled_from(pool))
        drift, status = draw(st.integers(-1, 2)), draw(st.sampled_from(CallStatus))
        out.append((call, drift, event, status, draw(st.booleans())))
    return out


def _outcome(store: EventStore, item: Append, batch: bool) -> object:
    try:
        if batch:
            stored = store.append_many([item])
        else:
            stored = store.append(
                item.call_sid, item.expected_version, item.events, status=item.status
            )
    except VersionConflict as exc:
        return ("conflict", exc.expected, exc.actual)
    return [(s.call_sid, s.version, s.event) for s in stored]


def _logs(store: EventStore, sids: list[str]) -> list[list[tuple[str, int, Event]]]:
    return [[(s.call_sid, s.version, s.event) for s in store.load(sid)] for sid in sids]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps())
def test_one_event_appends_store_what_a_batch_of_one_stores(
    pair: tuple[EventStore, EventStore], plan: list[tuple[int, int, Event, CallStatus, bool]]
) -> None:
    one, many = pair
    run = next(_run)
    sids = [f"CA{run}x{call}" for call in range(2)]
    versions = [0, 0]
    for call, drift, drawn, status, forget in plan:
        if forget and isinstance(one, SQLiteStore) and isinstance(many, SQLiteStore):
            one._ids.clear()
            many._ids.clear()
        sid = sids[call]
        event = _with_sid(drawn, sid)
        item = Append(
            call_sid=sid,
            expected_version=max(0, versions[call] + drift - 1),
            events=(event,),
            status=status,
        )
        fast, slow = _outcome(one, item, batch=False), _outcome(many, item, batch=True)
        assert fast == slow
        if isinstance(fast, list):
            versions[call] += 1
    assert _logs(one, sids) == _logs(many, sids)
    for status in CallStatus:  # each call's projected status, not only which calls
        assert one.calls_with_status(status) == many.calls_with_status(status)
    if isinstance(one, (MemoryStore, SQLiteStore)):  # one writer: positions agree too
        assert _positions(one) == _positions(many)


def _positions(store: EventStore) -> list[StoredEvent]:
    return list(store.read_all(0, 100_000))


def _with_sid(event: Event, sid: str) -> Event:
    if isinstance(event, DeliveryAccepted):
        d = event.delivery
        params = [(n, sid if n == "CallSid" else v) for n, v in d.params]
        delivery = type(d)(
            call_sid=sid,
            sequence_number=d.sequence_number,
            call_status=d.call_status,
            timestamp=d.timestamp,
            call_duration=d.call_duration,
            account_sid=d.account_sid,
            params=params,
        )
        return DeliveryAccepted(delivery=delivery, received_at=event.received_at)
    assert isinstance(event, DuplicateIgnored)
    return DuplicateIgnored(call_sid=sid, sequence_number=event.sequence_number)
