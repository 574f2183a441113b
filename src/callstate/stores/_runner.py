"""The runner: load, decide, append with the expected version, retry on conflict.

It honours the same contract as ``CallBook.handle``: one command about one
call in, an ``Outcome`` out. What it returns has been stored.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from callstate._core._call import CallState, Record
from callstate._core._decider import Decider, Outcome, deliver
from callstate._core._sink import CallCommand
from callstate._core._state import STATUSES
from callstate._core._values import (
    Event,
    Reconcile,
    RecordDelivery,
    RegisterCall,
    Tick,
)
from callstate._errors import UnknownCall, UsageError, VersionConflict
from callstate.stores._port import Append, EventStore

__all__ = ["Runner"]


def _call_sid_of(command: CallCommand) -> str:
    if isinstance(command, RecordDelivery):
        return command.delivery.call_sid
    if isinstance(command, Reconcile):
        return command.resource.sid
    if isinstance(command, RegisterCall):
        return command.call_sid
    if isinstance(command, Tick):
        raise UsageError("a Tick concerns every call: a Runner handles one call's commands")
    raise UsageError(f"not a command: {command!r}")


class Runner:
    """Handle commands against an ``EventStore``, safe beside other writers.

    A ``callstate.Sink``: ``handle(command) -> Outcome``, the events stored
    before it returns.

    On a ``VersionConflict`` the runner reads what the other writer appended
    and decides again, up to ``retries`` times, then lets the conflict out.
    It keeps the folded state of up to ``cache_size`` calls keyed by version,
    so a handle reads only the events it has not seen (usually none). The
    states it hands out are made with ``CallState.of`` from the record it
    keeps: a ``Decider`` subclass whose ``advance`` returns a ``CallState``
    subclass gets that type back only as an ``after``.
    """

    def __init__(
        self,
        store: EventStore,
        decider: Decider | None = None,
        *,
        retries: int = 16,
        cache_size: int = 10_000,
    ) -> None:
        if retries < 0 or cache_size < 0:
            raise UsageError("retries and cache_size must be 0 or more")
        self._store = store
        self._decider = Decider() if decider is None else decider
        self._retries = retries
        self._cache_size = cache_size
        # (version, record) per call. A cached record is a snapshot: nothing
        # changes it any more (a command folds into a copy).
        self._cache: OrderedDict[str, tuple[int, Record]] = OrderedDict()
        # A plain Decider's delivery is folded as CallBook folds it (one event).
        self._plain = type(self._decider) is Decider
        self._lock = threading.Lock()

    @property
    def store(self) -> EventStore:
        return self._store

    @property
    def decider(self) -> Decider:
        return self._decider

    def handle(self, command: CallCommand) -> Outcome:
        """Decide ``command`` for its call, store the events: what it caused and changed."""
        if type(command) is RecordDelivery and self._plain:
            return self._deliver(command)
        call_sid = _call_sid_of(command)
        decider = self._decider
        version, record = self._current(call_sid)
        before = CallState.of(record)
        attempt = 0
        while True:
            events = decider.decide(command, before)
            after, changes = decider.advance(before, events)
            if events:
                try:
                    self._store.append(call_sid, version, events, status=after.status)
                except VersionConflict as conflict:
                    attempt += 1
                    version, record = self._after_conflict(
                        call_sid, version, record, conflict, attempt
                    )
                    before = CallState.of(record)
                    continue
                self._remember(call_sid, version + len(events), after._record)
            return Outcome(events=events, changes=changes, before=before, after=after)

    def _deliver(self, command: RecordDelivery) -> Outcome:
        """``handle`` of a delivery: its one event, folded as ``CallBook.handle`` folds it."""
        call_sid = command.delivery.call_sid
        dialect = self._decider.dialect
        version, before = self._current(call_sid)
        attempt = 0
        while True:
            outcome, after = deliver(before, command, dialect)
            try:
                self._store.append(call_sid, version, outcome.events, status=STATUSES[after.status])
            except VersionConflict as conflict:
                attempt += 1
                version, before = self._after_conflict(call_sid, version, before, conflict, attempt)
                continue
            self._remember(call_sid, version + 1, after)
            return outcome

    def _after_conflict(
        self, call_sid: str, version: int, record: Record, conflict: VersionConflict, attempt: int
    ) -> tuple[int, Record]:
        """What another writer appended first, read to decide again (or the conflict, let out)."""
        if attempt > self._retries:
            self._forget(call_sid)
            raise conflict
        newer = self._catch_up(call_sid, version, record)
        if newer[0] == version:  # nothing missed: the cache itself is off
            newer = self._catch_up(call_sid, 0, self._initial(call_sid))
        return newer

    def handle_many(self, commands: Iterable[CallCommand]) -> tuple[Outcome, ...]:
        """Handle many commands, storing all their events in one transaction (an import).

        On a conflict nothing of the batch is stored; it is decided again from
        the stored logs, up to ``retries`` times.
        """
        commands = tuple(commands)
        attempt = 0
        while True:
            outcomes, appends, states = self._decide_batch(commands)
            if not appends:
                return outcomes
            try:
                self._store.append_many(appends)
            except VersionConflict:
                for item in appends:
                    self._forget(item.call_sid)
                attempt += 1
                if attempt > self._retries:
                    raise
                continue
            for item in appends:
                version = item.expected_version + len(item.events)
                self._remember(item.call_sid, version, states[item.call_sid]._record)
            return outcomes

    def _decide_batch(
        self, commands: Sequence[CallCommand]
    ) -> tuple[tuple[Outcome, ...], list[Append], dict[str, CallState]]:
        decider = self._decider
        start: dict[str, int] = {}
        states: dict[str, CallState] = {}
        pending: dict[str, list[Event]] = {}
        outcomes = []
        for command in commands:
            sid = _call_sid_of(command)
            before = states.get(sid)
            if before is None:
                start[sid], record = self._current(sid)
                before = CallState.of(record)
            events = decider.decide(command, before)
            after, changes = decider.advance(before, events)
            states[sid] = after
            if events:
                pending.setdefault(sid, []).extend(events)
            outcomes.append(Outcome(events=events, changes=changes, before=before, after=after))
        appends = [
            Append(
                call_sid=sid,
                expected_version=start[sid],
                events=tuple(events),
                status=states[sid].status,
            )
            for sid, events in pending.items()
        ]
        return tuple(outcomes), appends, states

    def get(self, call_sid: str) -> CallState | None:
        """A call's state as stored now, or None if nothing is stored about it."""
        with self._lock:
            cached = self._cache.get(call_sid)
        version, record = (0, self._initial(call_sid)) if cached is None else cached
        version, record = self._catch_up(call_sid, version, record)
        return None if version == 0 else CallState.of(record)

    def state(self, call_sid: str) -> CallState:
        """A call's state from the store; ``UnknownCall`` if nothing is stored about it."""
        state = self.get(call_sid)
        if state is None:
            raise UnknownCall(call_sid)
        return state

    def forget(self, call_sid: str) -> None:
        """Drop what the runner remembers of a call (its events were removed: retention)."""
        self._forget(call_sid)

    # The cache: (version, state) per call, least recently used first. A cached
    # state may be stale (another process appended): the append's expected
    # version catches that, and the runner then reads only what it missed.

    def _current(self, call_sid: str) -> tuple[int, Record]:
        with self._lock:
            cached = self._cache.get(call_sid)
            if cached is not None:
                self._cache.move_to_end(call_sid)
                return cached
        return self._catch_up(call_sid, 0, self._initial(call_sid))

    def _initial(self, call_sid: str) -> Record:
        return Record(call_sid) if self._plain else self._decider.initial_state(call_sid)._record

    def _catch_up(self, call_sid: str, version: int, record: Record) -> tuple[int, Record]:
        newer = self._store.load(call_sid, version)
        if newer:
            events = [stored.event for stored in newer]
            record = self._decider.advance(CallState.of(record), events)[0]._record
            version = newer[-1].version
        self._remember(call_sid, version, record)
        return version, record

    def _remember(self, call_sid: str, version: int, record: Record) -> None:
        if self._cache_size == 0:
            return
        with self._lock:
            cache = self._cache
            cache[call_sid] = (version, record)
            cache.move_to_end(call_sid)
            while len(cache) > self._cache_size:
                cache.popitem(last=False)

    def _forget(self, call_sid: str) -> None:
        with self._lock:
            self._cache.pop(call_sid, None)
