"""AsyncRunner: the Runner's contract, awaited, with the loop left free."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from callstate import (
    AsyncSink,
    CallBook,
    CallStatus,
    Outcome,
    RecordDelivery,
    Sink,
    StoreUnavailable,
    Tick,
    UnknownCall,
    UsageError,
)
from callstate.stores import AsyncRunner, Runner, SQLiteStore
from callstate.testing.store_contract import lifecycle
from tests.stores._store_fixtures import fresh_postgres_store


def test_many_concurrent_handles_give_what_the_callbook_gives(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "events.sqlite3")
    runner = AsyncRunner(Runner(store), max_concurrency=4)
    assert isinstance(runner, AsyncSink)
    assert isinstance(runner.runner, Sink)
    commands = [RecordDelivery(delivery=d) for n in range(10) for d in lifecycle(f"CA{n}") * 2]

    async def main() -> list[object]:
        # Every copy of every call at once: the runners race on each call.
        return await asyncio.gather(*(runner.handle(c) for c in commands))

    outcomes = asyncio.run(main())
    assert len(outcomes) == len(commands)
    book = CallBook()
    for command in commands:
        book.handle(command)
    fresh = Runner(store, cache_size=0)
    for state in book.states():
        assert state.call_sid is not None
        assert fresh.state(state.call_sid) == state
        assert state.status is CallStatus.COMPLETED
    assert asyncio.run(runner.get("CA9")) == book.get("CA9")
    with pytest.raises(UnknownCall):
        asyncio.run(runner.state("CA404"))
    store.close()


def test_concurrency_is_at_least_one() -> None:
    with pytest.raises(UsageError):
        AsyncRunner(Runner(SQLiteStore(":memory:")), max_concurrency=0)


class _Counting(SQLiteStore):
    """A real SQLite store that counts its write transactions and their threads."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.transactions: list[int] = []
        self.threads: set[int] = set()

    def append(self, *args: Any, **kwargs: Any) -> Any:
        self.transactions.append(1)
        self.threads.add(threading.get_ident())
        return super().append(*args, **kwargs)

    def append_many(self, appends: Any) -> Any:
        self.transactions.append(sum(len(item.events) for item in appends))
        self.threads.add(threading.get_ident())
        return super().append_many(appends)


@pytest.mark.parametrize("in_loop", [False, True], ids=["threads", "in-loop"])
def test_concurrent_handles_share_transactions_and_each_gets_its_own_outcome(
    tmp_path: Path, in_loop: bool
) -> None:
    store = _Counting(tmp_path / "events.sqlite3")
    runner = AsyncRunner(Runner(store), max_batch=8, write_in_loop=in_loop)
    commands = [RecordDelivery(delivery=d) for n in range(12) for d in lifecycle(f"CA{n}")]

    async def main() -> list[Outcome]:
        return await asyncio.gather(*(runner.handle(c) for c in commands))

    outcomes = asyncio.run(main())
    book = CallBook()
    assert outcomes == [book.handle(c) for c in commands]  # as if one by one, in order
    assert sum(store.transactions) == len(commands)  # every event once
    assert max(store.transactions) == 8  # batches formed, none above max_batch
    assert len(store.transactions) < len(commands)
    # Written by the loop's own thread, or only by others.
    assert (threading.get_ident() in store.threads) is in_loop
    assert len(store.threads) == 1 if in_loop else threading.get_ident() not in store.threads
    fresh = Runner(store, cache_size=0)
    assert all(fresh.state(f"CA{n}") == book.state(f"CA{n}") for n in range(12))
    store.close()


def test_a_command_alone_is_handled_at_once(tmp_path: Path) -> None:
    store = _Counting(tmp_path / "events.sqlite3")
    runner = AsyncRunner(Runner(store))

    async def main() -> None:
        for d in lifecycle("CA1"):
            await runner.handle(RecordDelivery(delivery=d))

    asyncio.run(main())
    assert store.transactions == [1, 1, 1, 1]
    store.close()


class _BrokenBatches(SQLiteStore):
    """A store whose batch append has a bug (not a StoreError)."""

    def append_many(self, appends: Any) -> Any:
        raise RuntimeError("a bug in append_many")


def test_a_batch_that_fails_unexpectedly_is_handled_one_by_one(tmp_path: Path) -> None:
    store = _BrokenBatches(tmp_path / "events.sqlite3")
    runner = AsyncRunner(Runner(store))
    commands = [RecordDelivery(delivery=d) for n in range(3) for d in lifecycle(f"CA{n}")]

    async def main() -> list[Outcome]:
        return await asyncio.gather(*(runner.handle(c) for c in commands))

    outcomes = asyncio.run(main())
    assert [o.after.status for o in outcomes[3::4]] == [CallStatus.COMPLETED] * 3
    assert len(store.read_all(0, 100)) == len(commands)
    store.close()


def test_a_caller_that_gives_up_still_has_its_delivery_stored(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "events.sqlite3")
    runner = AsyncRunner(Runner(store))
    first, second, *_ = lifecycle("CA1")

    async def main() -> None:
        writing = asyncio.ensure_future(runner.handle(RecordDelivery(delivery=first)))
        queued = asyncio.ensure_future(runner.handle(RecordDelivery(delivery=second)))
        await asyncio.sleep(0)
        queued.cancel()
        await writing
        with pytest.raises(asyncio.CancelledError):
            await queued
        await runner.handle(RecordDelivery(delivery=first))  # the queue keeps going

    asyncio.run(main())
    assert Runner(store).state("CA1").status is CallStatus.RINGING
    store.close()


def test_a_tick_is_refused_before_it_is_queued(tmp_path: Path) -> None:
    runner = AsyncRunner(Runner(SQLiteStore(tmp_path / "events.sqlite3")))
    with pytest.raises(UsageError):
        asyncio.run(runner.handle(Tick(now=datetime(2026, 11, 24, tzinfo=UTC))))  # type: ignore[arg-type]


def test_batch_size_is_at_least_one() -> None:
    with pytest.raises(UsageError):
        AsyncRunner(Runner(SQLiteStore(":memory:")), max_batch=0)


def test_a_loop_closed_mid_write_does_not_stall_the_next_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(tmp_path / "events.sqlite3")
    runner = AsyncRunner(Runner(store))
    first, second, *_ = lifecycle("CA1")
    loop = asyncio.new_event_loop()
    task = loop.create_task(runner.handle(RecordDelivery(delivery=first)))
    loop.run_until_complete(asyncio.sleep(0))  # queued, its writer started
    loop.close()  # without cancelling what is pending

    async def next_loop() -> Outcome:
        return await asyncio.wait_for(runner.handle(RecordDelivery(delivery=second)), 10)

    assert asyncio.run(next_loop()).after.status is CallStatus.RINGING
    with caplog.at_level(logging.CRITICAL, logger="asyncio"):
        del task, loop  # asyncio reports the tasks it destroys: expected here
        gc.collect()
    assert asyncio.run(next_loop()).duplicate  # and the runner still works
    store.close()


@pytest.mark.parametrize("in_loop", [False, True], ids=["threads", "in-loop"])
def test_a_store_that_is_down_answers_each_caller_with_its_error(
    tmp_path: Path, in_loop: bool
) -> None:
    store = SQLiteStore(tmp_path / "events.sqlite3")
    runner = AsyncRunner(Runner(store), write_in_loop=in_loop)
    store.close()

    async def main() -> list[object]:
        commands = [RecordDelivery(delivery=d) for d in lifecycle("CA1")]
        return await asyncio.gather(*(runner.handle(c) for c in commands), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert len({id(r) for r in results}) == len(results)  # each raised on its own


def test_batches_into_postgresql_from_worker_threads() -> None:
    with fresh_postgres_store() as store:
        runner = AsyncRunner(Runner(store), max_batch=16)
        commands = [RecordDelivery(delivery=d) for n in range(20) for d in lifecycle(f"CA{n}") * 2]

        async def main() -> list[Outcome]:
            return await asyncio.gather(*(runner.handle(c) for c in commands))

        outcomes = asyncio.run(main())
        book = CallBook()
        assert outcomes == [book.handle(c) for c in commands]
        stored = store.read_all(0, 1_000)
        assert len(stored) == len(commands)  # each copy stored once: accepted or duplicate
        fresh = Runner(store, cache_size=0)
        assert all(fresh.state(f"CA{n}") == book.state(f"CA{n}") for n in range(20))
