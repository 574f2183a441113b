"""The runner for asyncio code: the same contract, awaited.

The stores here speak blocking drivers (``sqlite3``, psycopg's blocking
connections), so ``AsyncRunner`` runs a ``Runner`` in worker threads: the
event loop never blocks on the database.

Commands that arrive while a write is under way wait for it, then go
together in the next one (group commit): one thread hop and one
transaction (``Runner.handle_many``) for all of them. Alone, a command is
handled at once, exactly as ``Runner.handle`` handles it; under load the
batches grow by themselves, up to ``max_batch``. Each ``handle`` still
returns only once its own events are stored.

``write_in_loop=True`` writes each batch on the event loop itself. For a
store whose writes take microseconds (SQLite, WAL, a file this process
alone writes) that is cheaper than any thread: the driver lets go of the
interpreter lock around every statement, and a worker thread then waits for
the busy event loop to hand it back each time (measured with
``callstate serve``: about 3 thread switches and 150 us of CPU per webhook).
The price: while the store waits (for another process's write lock, say)
the loop waits too. Keep the default for a store across a network.

``timeout`` bounds each call as its caller sees it, the wait behind other
writes included: past it the caller gets ``StoreTimeout``, while the write
it queued goes on (it may still be stored: a retry is then a duplicate).
A write on the loop itself cannot be interrupted: the store's own bound
(``SQLiteStore(timeout=...)``) is the only one there.
"""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from callstate._core._call import CallState
from callstate._core._decider import Outcome
from callstate._core._sink import CallCommand
from callstate._errors import StoreTimeout, StoreUnavailable, UsageError
from callstate.stores._runner import Runner, _call_sid_of

__all__ = ["AsyncRunner"]

_Waiter = tuple[CallCommand, "asyncio.Future[Outcome]"]
_T = TypeVar("_T")


class AsyncRunner:
    """``await runner.handle(command)``: a ``Runner`` for asyncio code.

    A ``callstate.AsyncSink``. At most ``max_concurrency`` store calls run in
    threads at once; concurrent ``handle`` calls share one transaction, at
    most ``max_batch`` commands each (on the loop itself with
    ``write_in_loop``). Each call waits at most ``timeout`` seconds (None:
    as long as the store takes). Use it from one event loop at a time.
    """

    def __init__(
        self,
        runner: Runner,
        *,
        max_concurrency: int = 8,
        max_batch: int = 256,
        write_in_loop: bool = False,
        timeout: float | None = None,
    ) -> None:
        if max_concurrency < 1 or max_batch < 1:
            raise UsageError("max_concurrency and max_batch must be 1 or more")
        if timeout is not None and not timeout > 0:
            raise UsageError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self._timeout = timeout
        self._runner = runner
        self._max = max_concurrency
        self._max_batch = max_batch
        self._in_loop = write_in_loop
        self._slots: asyncio.Semaphore | None = None
        self._queue: list[_Waiter] = []
        self._writer: asyncio.Task[None] | None = None
        # With a timeout: each caller's deadline, in the order they came (all
        # are their arrival plus the same timeout, so the first is the next
        # due), and the one timer that fails the late ones.
        self._deadlines: deque[tuple[float, asyncio.Future[Outcome]]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweeper_loop: asyncio.AbstractEventLoop | None = None

    @property
    def runner(self) -> Runner:
        return self._runner

    def _semaphore(self) -> asyncio.Semaphore:
        # Made on first use, inside the loop that will use it.
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max)
        return self._slots

    async def handle(self, command: CallCommand) -> Outcome:
        """As ``Runner.handle``, the events stored before it returns.

        The store works in a thread meanwhile, or briefly on the loop itself
        with ``write_in_loop``.
        """
        _call_sid_of(command)  # a Tick or a stranger is refused here, on its own
        loop = asyncio.get_running_loop()
        if self._writer is not None and self._writer.get_loop() is not loop:
            # Left by a loop closed without cancelling its tasks: nobody waits
            # on what it queued any more.
            self._writer = None
            self._queue.clear()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.append((command, future))
        if self._writer is None:
            self._writer = loop.create_task(self._write_queued())
        if self._timeout is not None:
            self._deadlines.append((loop.time() + self._timeout, future))
            if self._sweeper is None or self._sweeper_loop is not loop:
                self._deadlines = deque([self._deadlines[-1]])  # an old loop's are gone
                self._sweeper_loop = loop
                self._sweeper = loop.call_at(self._deadlines[0][0], self._sweep)
        return await future

    def _sweep(self) -> None:
        """Fail the callers still waiting at their deadline; wake again at the next one.

        One timer for all callers rather than one each (``asyncio.timeout``):
        ``callstate serve`` spent about 3% more instructions per webhook with
        a timer per call.
        """
        self._sweeper = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadlines = self._deadlines
        while deadlines:
            due, future = deadlines[0]
            if not future.done():
                if due > now:
                    self._sweeper = loop.call_at(due, self._sweep)
                    return
                # Its command stays queued (or being written): it may still be stored.
                future.set_exception(
                    StoreTimeout(f"the store did not answer within {self._timeout}s")
                )
            deadlines.popleft()

    async def _bounded(self, waited: Awaitable[_T]) -> _T:
        """``await waited``, or ``StoreTimeout`` past ``timeout`` (``waited`` is cancelled).

        ``asyncio.timeout`` rather than ``wait_for``: one timer, no task of its own.
        """
        try:
            async with asyncio.timeout(self._timeout):
                return await waited
        except TimeoutError:
            raise StoreTimeout(f"the store did not answer within {self._timeout}s") from None

    async def _write_queued(self) -> None:
        """Write what is queued, a batch at a time, until nothing is left."""
        me = asyncio.current_task()
        batch: list[_Waiter] = []
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                commands = [command for command, _ in batch]
                if self._in_loop:
                    results = self._write(commands)
                else:
                    async with self._semaphore():
                        results = await asyncio.to_thread(self._write, commands)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # its caller gave up or timed out; what it sent is stored
                        continue
                    if isinstance(result, Outcome):
                        future.set_result(result)
                    else:
                        future.set_exception(result)
                batch = []
        finally:
            # Cancelled (the loop is closing), or destroyed with a closed loop:
            # nobody will write these.
            if self._writer is me:
                self._writer = None
                batch += self._queue
                self._queue.clear()
            for _, future in batch:
                if not future.get_loop().is_closed():
                    future.cancel()

    def _write(self, commands: Sequence[CallCommand]) -> list[Outcome | Exception]:
        """Each command's outcome, or the error that is its answer (blocking)."""
        runner = self._runner
        if len(commands) > 1:
            try:
                return list(runner.handle_many(commands))
            except StoreUnavailable as exc:
                # Nothing of the batch was stored. One error each: each is
                # raised in its own caller, with its own traceback.
                return [copy.copy(exc) for _ in commands]
            except Exception:  # each command gets its own answer below
                pass
        results: list[Outcome | Exception] = []
        for command in commands:
            try:
                results.append(runner.handle(command))
            except Exception as exc:  # the caller's answer, raised there
                results.append(exc)
        return results

    async def get(self, call_sid: str) -> CallState | None:
        return await self._read(self._runner.get, call_sid)

    async def state(self, call_sid: str) -> CallState:
        return await self._read(self._runner.state, call_sid)

    async def _read(self, read: Callable[[str], _T], call_sid: str) -> _T:
        async def in_thread() -> _T:
            async with self._semaphore():
                return await asyncio.to_thread(read, call_sid)

        if self._timeout is None:
            return await in_thread()
        return await self._bounded(in_thread())
