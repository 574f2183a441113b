"""Event stores: where each call's events are kept, and the runner that writes them.

- ``EventStore``: the port (a ``typing.Protocol``) every store implements;
  ``StoredEvent`` and ``Append`` are the values it speaks in.
- ``MemoryStore``: the reference, in one process's memory.
- ``SQLiteStore``: one SQLite file in WAL mode, the default for one machine.
- ``callstate.stores.postgres.PostgresStore``: PostgreSQL, for many processes
  on many hosts (needs the ``postgres`` extra).
- ``Runner``: load, decide, append with the expected version, retry on a
  conflict. ``Runner.handle(command) -> Outcome`` is ``CallBook.handle``
  backed by a store (a ``callstate.Sink``). ``AsyncRunner`` is its awaitable
  twin for asyncio code (a ``callstate.AsyncSink``).

A subscriber that stored the last position it processed resumes with
``store.read_all(after=position)`` and sees every event exactly once, in
position order. Positions may have gaps (PostgreSQL): never expect ``p + 1``.
"""

from callstate._errors import StoreError, StoreTimeout, StoreUnavailable, VersionConflict
from callstate.stores._async import AsyncRunner
from callstate.stores._memory import MemoryStore
from callstate.stores._port import Append, EventStore, StoredEvent
from callstate.stores._runner import Runner
from callstate.stores._sqlite import SQLiteStore

__all__ = [
    "Append",
    "AsyncRunner",
    "EventStore",
    "MemoryStore",
    "Runner",
    "SQLiteStore",
    "StoreError",
    "StoreTimeout",
    "StoreUnavailable",
    "StoredEvent",
    "VersionConflict",
]
