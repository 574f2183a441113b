"""AsyncRunner: the Runner's contract, awaited, with the loop left free."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callstate import (
    AsyncSink,
    CallBook,
    CallStatus,
    RecordDelivery,
    Sink,
    UnknownCall,
    UsageError,
)
from callstate.stores import AsyncRunner, Runner, SQLiteStore
from callstate.testing.store_contract import lifecycle


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
