"""The runner for asyncio code: the same contract, awaited.

The stores here speak blocking drivers (``sqlite3``, psycopg's blocking
connections), so ``AsyncRunner`` runs a ``Runner`` in worker threads: the
event loop never blocks on the database. Each call to ``handle`` holds one
thread while it runs; ``max_concurrency`` bounds how many run at once.
"""

from __future__ import annotations

import asyncio

from callstate._core._call import CallState
from callstate._core._decider import Outcome
from callstate._core._sink import CallCommand
from callstate._errors import UsageError
from callstate.stores._runner import Runner

__all__ = ["AsyncRunner"]


class AsyncRunner:
    """``await runner.handle(command)``: a ``Runner`` kept off the event loop.

    A ``callstate.AsyncSink``.
    """

    def __init__(self, runner: Runner, *, max_concurrency: int = 8) -> None:
        if max_concurrency < 1:
            raise UsageError("max_concurrency must be 1 or more")
        self._runner = runner
        self._max = max_concurrency
        self._slots: asyncio.Semaphore | None = None

    @property
    def runner(self) -> Runner:
        return self._runner

    def _semaphore(self) -> asyncio.Semaphore:
        # Made on first use, inside the loop that will use it.
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max)
        return self._slots

    async def handle(self, command: CallCommand) -> Outcome:
        """As ``Runner.handle``, without blocking the event loop."""
        async with self._semaphore():
            return await asyncio.to_thread(self._runner.handle, command)

    async def get(self, call_sid: str) -> CallState | None:
        async with self._semaphore():
            return await asyncio.to_thread(self._runner.get, call_sid)

    async def state(self, call_sid: str) -> CallState:
        async with self._semaphore():
            return await asyncio.to_thread(self._runner.state, call_sid)
