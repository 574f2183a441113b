"""Many processes, chaotic deliveries, SIGKILL: over a real SQLite file and real PostgreSQL.

Positions: SQLite's are gap-free (one writer at a time) and the tests fail on
any gap there; PostgreSQL's may have gaps and commit out of order, and the
subscriber there checks that ``read_all`` still hands out every event once,
in increasing position order, while writers run beside it.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from callstate import CallBook, CallStatus, DeliveryAccepted, DuplicateIgnored
from callstate.stores import EventStore, Runner, SQLiteStore, StoredEvent
from tests.stores._store_fixtures import fresh_postgres_store, postgres_dsn_or_skip
from tests.stores._store_worker import copies, lifecycle

WORKER = str(Path(__file__).with_name("_store_worker.py"))
SEED = 20261128


@pytest.fixture(params=["sqlite", "postgres"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "events.sqlite3"
        SQLiteStore(path).close()
        yield f"sqlite:{path}"
        return
    with fresh_postgres_store(max_size=2) as store:
        yield f"postgres:{store.schema}@{postgres_dsn_or_skip()}"


def open_store(spec: str) -> EventStore:
    from tests.stores._store_worker import open_store as worker_open

    return worker_open(spec)


def start(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKER, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, f"worker failed ({process.returncode}): {out[-500:]}{err}"
    return out


def wait_for(process: subprocess.Popen[str], lines: int) -> None:
    """Read progress until ``lines`` steps are done (the process keeps going)."""
    assert process.stdout is not None
    for _ in range(lines):
        assert process.stdout.readline(), "the worker stopped early"


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL


def everything(store: EventStore) -> list[StoredEvent]:
    out: list[StoredEvent] = []
    while batch := store.read_all(after=out[-1].position if out else 0, limit=500):
        out.extend(batch)
    return out


def check_consistent(store: EventStore) -> dict[str, list[StoredEvent]]:
    """What must hold at any moment, even after a crash."""
    log = everything(store)
    positions = [e.position for e in log]
    assert positions == sorted(set(positions)), "positions out of order"
    if isinstance(store, SQLiteStore):
        assert positions == list(range(1, len(log) + 1)), "positions have gaps"
    calls: dict[str, list[StoredEvent]] = {}
    for stored in log:
        calls.setdefault(stored.call_sid, []).append(stored)
    runner = Runner(store, cache_size=0)
    by_status: dict[CallStatus, list[str]] = {}
    for sid, events in calls.items():
        assert [e.version for e in events] == list(range(1, len(events) + 1))
        assert tuple(events) == store.load(sid)
        accepted = [
            e.event.delivery.sequence_number
            for e in events
            if isinstance(e.event, DeliveryAccepted)
        ]
        assert len(accepted) == len(set(accepted)), f"{sid}: a delivery stored twice"
        by_status.setdefault(runner.state(sid).status, []).append(sid)
    for status, sids in by_status.items():
        assert store.calls_with_status(status) == tuple(sorted(sids)), "projection off"
    return calls


def check_complete(store: EventStore, m: int, sent: Counter[str]) -> None:
    """Every copy sent is recorded once; every call as the in-order replay says."""
    calls = check_consistent(store)
    assert sorted(calls) == sorted(d.call_sid for c in range(m) for d in lifecycle(c)[:1])
    book = CallBook()
    for _, command in copies(SEED, m):
        book.handle(command)
    runner = Runner(store, cache_size=0)
    for sid, events in calls.items():
        kinds = Counter(type(e.event) for e in events)
        assert kinds[DeliveryAccepted] == 4, f"{sid}: lost or duplicated deliveries"
        assert kinds[DeliveryAccepted] + kinds[DuplicateIgnored] == sent[sid]
        assert runner.state(sid) == book.state(sid)
    assert store.calls_with_status(CallStatus.COMPLETED) == tuple(sorted(calls))


def test_k_writers_lose_and_duplicate_nothing(spec: str) -> None:
    k, m = 4, 60
    workers = [start("write", spec, SEED, k, i, m) for i in range(k)]
    for worker in workers:
        finish(worker)
    sent = Counter(command.delivery.call_sid for _, command in copies(SEED, m))
    with contextlib.closing(open_store(spec)) as store:
        check_complete(store, m, sent)
        assert len(everything(store)) == sum(sent.values())


def test_a_killed_writer_leaves_no_partial_batch(spec: str) -> None:
    m = 400
    writer = start("batch", spec, SEED, m)
    wait_for(writer, 20)
    kill(writer)
    with contextlib.closing(open_store(spec)) as store:
        calls = check_consistent(store)
        assert 40 <= len(calls) < m, "the kill did not land mid-run"
        for sid, events in calls.items():
            assert len(events) == 4, f"{sid}: a partial batch is visible"
        assert len(calls) % 2 == 0, "half of a two-call batch is visible"
    # The provider retries everything: what was stored counts as duplicates.
    finish(start("batch", spec, SEED, m))
    with contextlib.closing(open_store(spec)) as store:
        calls = check_consistent(store)
        assert len(calls) == m
        for sid, events in calls.items():
            kinds = Counter(type(e.event) for e in events)
            assert kinds[DeliveryAccepted] == 4, sid
        assert store.calls_with_status(CallStatus.COMPLETED) == tuple(sorted(calls))


def test_a_killed_single_writer_then_the_rest(spec: str) -> None:
    k, m = 2, 20
    victim = start("write", spec, SEED, k, 0, m)
    wait_for(victim, 10)
    kill(victim)
    with contextlib.closing(open_store(spec)) as store:
        check_consistent(store)
    for i in range(k):
        finish(start("write", spec, SEED, k, i, m))
    # The victim's share was sent again from the start: its first copies twice.
    with contextlib.closing(open_store(spec)) as store:
        calls = check_consistent(store)
        for sid, events in calls.items():
            assert Counter(type(e.event) for e in events)[DeliveryAccepted] == 4, sid


def test_a_subscriber_resumes_exactly_once_in_order(spec: str, tmp_path: Path) -> None:
    k, m = 3, 50
    total = len(copies(SEED, m))
    ledger = tmp_path / "ledger.sqlite3"
    writers = [start("write", spec, SEED, k, i, m) for i in range(k)]
    subscriber = start("subscribe", spec, ledger, total)
    wait_for(subscriber, 3)
    kill(subscriber)
    subscriber = start("subscribe", spec, ledger, total)
    for writer in writers:
        finish(writer)
    out = finish(subscriber)
    assert out.rstrip().endswith("done")
    import sqlite3

    db = sqlite3.connect(ledger)
    positions = [row[0] for row in db.execute("SELECT position FROM seen ORDER BY rowid")]
    db.close()
    with contextlib.closing(open_store(spec)) as store:
        assert positions == [e.position for e in everything(store)]
    assert len(positions) == total


def test_postgres_readers_wait_out_a_hole_an_open_transaction_may_fill() -> None:
    import psycopg

    from callstate.stores import Append
    from callstate.stores.postgres import PostgresStore, _params

    with fresh_postgres_store(max_size=2) as store:
        assert isinstance(store, PostgresStore)
        slow, fast = lifecycle(1)[0], lifecycle(2)[0]
        store.append(
            slow.call_sid, 0, [DeliveryAccepted(delivery=slow)], status=CallStatus.INITIATED
        )
        item = Append(
            call_sid=fast.call_sid,
            expected_version=0,
            events=(DeliveryAccepted(delivery=fast),),
            status=CallStatus.INITIATED,
        )
        late = lifecycle(1)[1]
        with psycopg.connect(postgres_dsn_or_skip(), autocommit=True) as conn:
            conn.execute("BEGIN")
            # An append that has drawn its position but not committed...
            pending = Append(
                call_sid=slow.call_sid,
                expected_version=1,
                events=(DeliveryAccepted(delivery=late),),
                status=CallStatus.RINGING,
            )
            conn.execute(store._q_old, _params(pending))
            # ...and one after it that commits first.
            (after_hole,) = store.append_many([item])
            impatient = PostgresStore(postgres_dsn_or_skip(), schema=store.schema, gap_wait=0.05)
            with contextlib.closing(impatient):
                seen = impatient.read_all()
                assert [e.call_sid for e in seen] == [slow.call_sid], "read past a hole"
                conn.execute("COMMIT")
                seen = impatient.read_all()
        assert [e.version for e in seen] == [1, 2, 1]
        assert seen[-1] == after_hole
        assert seen[0].position < seen[1].position < seen[2].position
        # A hole left by an append rolled back is a gap for good: readers move past it.
        ringing = DeliveryAccepted(delivery=lifecycle(2)[1])
        doomed = Append(
            call_sid=fast.call_sid,
            expected_version=1,
            events=(ringing,),
            status=CallStatus.RINGING,
        )
        with psycopg.connect(postgres_dsn_or_skip(), autocommit=True) as conn:
            conn.execute("BEGIN")
            (drawn,) = conn.execute(store._q_old, _params(doomed)).fetchall()
            conn.execute("ROLLBACK")
        last = store.append(fast.call_sid, 1, [ringing], status=CallStatus.RINGING)
        assert last[0].position > drawn[0] > seen[-1].position
        # A long transaction elsewhere in the database does not hold readers back.
        with psycopg.connect(postgres_dsn_or_skip(), autocommit=True) as conn:
            conn.execute("BEGIN")
            conn.execute(f'CREATE TABLE "{store.schema}".elsewhere (x int)')
            conn.execute(f'INSERT INTO "{store.schema}".elsewhere VALUES (1)')
            patient = PostgresStore(postgres_dsn_or_skip(), schema=store.schema, gap_wait=60)
            with contextlib.closing(patient):
                assert patient.read_all(after=seen[-1].position) == last
            conn.execute("ROLLBACK")


def test_postgres_batches_naming_the_same_calls_in_other_orders_never_deadlock() -> None:
    # Two receivers' batches of new calls, the same calls in opposite orders,
    # sent at once: each call is stored by one of them (the other is told of
    # the conflict, as any writer that lost a race is); neither batch is
    # failed by PostgreSQL as a deadlock (a 503, and the provider retrying).
    import threading

    from callstate.stores import Append, VersionConflict

    calls = 12
    with fresh_postgres_store(max_size=4) as store:
        for round_ in range(15):
            deliveries = [lifecycle(round_ * calls + n + 1)[0] for n in range(calls)]
            items = [
                Append(
                    call_sid=d.call_sid,
                    expected_version=0,
                    events=(DeliveryAccepted(delivery=d),),
                    status=CallStatus.INITIATED,
                )
                for d in deliveries
            ]
            start = threading.Barrier(2)
            failures: list[BaseException] = []

            def send(
                batch: list[Append],
                start: threading.Barrier = start,
                failures: list[BaseException] = failures,
            ) -> None:
                start.wait()
                try:
                    store.append_many(batch)
                except VersionConflict:
                    pass  # the other batch stored these calls first
                except BaseException as exc:
                    failures.append(exc)

            threads = [
                threading.Thread(target=send, args=(items,)),
                threading.Thread(target=send, args=(items[::-1],)),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert failures == [], f"round {round_}: {failures[0]!r}"
            for d in deliveries:
                assert [e.version for e in store.load(d.call_sid)] == [1]
