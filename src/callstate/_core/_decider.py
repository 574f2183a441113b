"""The decider: ``decide(command, state) -> events``, ``evolve(state, event) -> state``.

Pure: time arrives inside commands, ids inside deliveries. ``CallBook`` runs
the same two functions over many calls, folding in place for speed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Final

import attrs

from callstate._core._call import (
    CallState,
    KeyedValue,
    Record,
    earliest,
    fold_delivery,
    fold_resource,
    start_of,
)
from callstate._core._make import maker
from callstate._core._state import FINAL_CODES
from callstate._core._values import (
    Anomaly,
    CallRegistered,
    Command,
    Delivery,
    DeliveryAccepted,
    Dialect,
    DuplicateIgnored,
    Event,
    Reconcile,
    ReconciliationRequested,
    RecordDelivery,
    RegisterCall,
    ResourceObserved,
    StatusChange,
    Tick,
    check_instant,
    member_of,
)
from callstate._errors import UnknownCall, UsageError

__all__ = ["CallBook", "Decider", "Outcome"]

_NAN: Final = math.nan


def _epoch(value: datetime | None) -> float:
    return _NAN if value is None else value.timestamp()


def _received(value: datetime) -> float:
    """A ``received_at`` handed to ``CallBook.record``: checked as ``RecordDelivery`` checks it."""
    check_instant("received_at", value)
    return value.timestamp()


#: The commands and events that name their call by ``call_sid``.
_NAMING_THE_CALL: Final = (RegisterCall, CallRegistered, DuplicateIgnored, ReconciliationRequested)


def _call_sid_of(command: Command | Event) -> str:
    if isinstance(command, (RecordDelivery, DeliveryAccepted)):
        return command.delivery.call_sid
    if isinstance(command, (Reconcile, ResourceObserved)):
        return command.resource.sid
    if isinstance(command, _NAMING_THE_CALL):
        return command.call_sid
    if isinstance(command, Tick):
        raise UsageError("a Tick concerns every call: use CallBook.tick or Decider.decide")
    raise UsageError(f"not a command or an event of callstate: {type(command).__name__}")


def _dialect(value: object) -> Dialect:
    return member_of(Dialect, "dialect", value)


@attrs.frozen(kw_only=True)
class Decider:
    """The rules for one call, as pure functions.

    ``ring_timeout`` is assumed for calls whose own ring timeout is unknown;
    a call with no final status ``ring_timeout + max_call_length`` after its
    first sign of life is overdue: a ``Tick`` flags it for reconciliation.
    """

    dialect: Dialect = attrs.field(default=Dialect.AUTO, converter=_dialect)
    ring_timeout: timedelta = timedelta(seconds=60)
    max_call_length: timedelta = timedelta(hours=4)

    def initial_state(self, call_sid: str | None = None) -> CallState:
        """The state of a call nothing is known about yet (status ``queued``)."""
        return CallState.of(Record(call_sid))

    def is_terminal(self, state: CallState) -> bool:
        """Nothing can change the status any more but a conflicting claim."""
        return state.outcome_known

    def decide(self, command: Command, state: CallState) -> tuple[Event, ...]:
        """The events that ``command`` causes, given ``state``."""
        record = state._record
        if not isinstance(command, Tick):
            _check_call(record, _call_sid_of(command))
        return self._decide(command, record)

    def evolve(self, state: CallState, event: Event) -> CallState:
        """The state after ``event``."""
        record = state._record.copy()
        _check_call(record, _call_sid_of(event))
        self._evolve(record, event)
        return CallState.of(record)

    def advance(
        self, state: CallState, events: Iterable[Event]
    ) -> tuple[CallState, tuple[StatusChange, ...]]:
        """The state after ``events`` and the status changes they made, in order."""
        record = state._record.copy()
        changes: tuple[StatusChange, ...] = ()
        for event in events:
            _check_call(record, _call_sid_of(event))
            changes += self._evolve(record, event)
        return CallState.of(record), changes

    def fold(self, events: Iterable[Event], call_sid: str | None = None) -> CallState:
        """The state after all of ``events``, from the initial state."""
        record = Record(call_sid)
        for event in events:
            _check_call(record, _call_sid_of(event))
            self._evolve(record, event)
        return CallState.of(record)

    # The two functions on a private, mutable record (CallBook folds in place).

    def _decide(self, command: Command, record: Record) -> tuple[Event, ...]:
        if isinstance(command, RecordDelivery):
            delivery = command.delivery
            known = record.seen.get(delivery.sequence_number)
            fingerprint = delivery.fingerprint
            duplicate = known is not None and (
                known == fingerprint or (type(known) is frozenset and fingerprint in known)
            )
            return _delivery_events(command, duplicate)
        if isinstance(command, Reconcile):
            return (ResourceObserved(resource=command.resource, observed_at=command.observed_at),)
        if isinstance(command, RegisterCall):
            return (
                CallRegistered(
                    call_sid=command.call_sid,
                    placed_at=command.placed_at,
                    ring_timeout=command.ring_timeout,
                ),
            )
        if isinstance(command, Tick):
            if record.call_sid is None or not self._overdue(record, command.now):
                return ()
            return (ReconciliationRequested(call_sid=record.call_sid, at=command.now),)
        raise UsageError(f"not a command: {command!r}")

    def _overdue(self, record: Record, now: datetime) -> bool:
        if record.status in FINAL_CODES or record.stale_at == record.stale_at:
            return False
        start = start_of(record)
        if start != start:
            return False
        ring = record.ring_timeout
        if ring != ring:
            ring = self.ring_timeout.total_seconds()
        return now.timestamp() > start + ring + self.max_call_length.total_seconds()

    def _evolve(self, record: Record, event: Event) -> tuple[StatusChange, ...]:
        if isinstance(event, DeliveryAccepted):
            changes = fold_delivery(record, event.delivery, _epoch(event.received_at), self.dialect)
            return () if changes is None else changes
        if isinstance(event, DuplicateIgnored):
            record.duplicates += 1
            return ()
        if isinstance(event, ResourceObserved):
            return fold_resource(record, event.resource, _epoch(event.observed_at))
        if isinstance(event, CallRegistered):
            record.placed_at = earliest(record.placed_at, event.placed_at.timestamp())
            if event.ring_timeout is not None:
                record.ring_timeout = event.ring_timeout.total_seconds()
            return ()
        if isinstance(event, ReconciliationRequested):
            at = event.at.timestamp()
            if not record.stale_at <= at:  # pragma: no mutate (<: an equal time written again)
                record.stale_at = at
            return ()
        raise UsageError(f"not an event: {event!r}")


_set = object.__setattr__


@attrs.frozen(eq=False, repr=False)
class Outcome(KeyedValue):
    """What handling one command did to one call.

    ``events`` are what to persist; ``changes`` the status changes they made,
    in order; ``before`` and ``after`` the call's state around them. Hooks
    key on the difference: ``answered`` and ``final`` flip at most once per
    call, whatever the order of the deliveries.

    A frozen attrs value, built by ``Outcome(events=..., changes=..., before=...,
    after=...)``. ``CallBook`` builds it through ``maker`` from what it has at
    hand: the delivery command in place of its one event, and private
    snapshots of the call's record in place of ``before`` and ``after``; each
    is made into the value it stands for when first read (and kept). Most
    outcomes are answered without anyone reading them: made eagerly, the two
    ``CallState`` and the event doubled ``CallBook.handle`` of a delivery
    (30.2k -> 61.1k instructions) and cost an in-process WSGI webhook 36%
    (200k -> 272k; callgrind, PYTHONHASHSEED=0, benchmark bodies).
    """

    #: The events, or (from CallBook) the delivery command they are made from.
    _events: tuple[Event, ...] | RecordDelivery
    #: The status changes the events made, in order.
    changes: tuple[StatusChange, ...]
    #: The call's state before and after, or (from CallBook) the records they are made from.
    _before: CallState | Record
    _after: CallState | Record
    #: The command only repeated something already recorded.
    duplicate: bool = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        events = self._events
        assert not isinstance(events, RecordDelivery)
        _set(self, "duplicate", _only_duplicates(events))

    @property
    def events(self) -> tuple[Event, ...]:
        """The events the command caused: what to persist."""
        events = self._events
        if type(events) is RecordDelivery:
            events = _delivery_events(events, self.duplicate)
            _set(self, "_events", events)
        made: tuple[Event, ...] = events  # type: ignore[assignment]
        return made

    @property
    def before(self) -> CallState:
        """The call's state before the command."""
        return self._state("_before")

    @property
    def after(self) -> CallState:
        """The call's state after the command."""
        return self._state("_after")

    def _state(self, name: str) -> CallState:
        """The state in field ``name``, made from its record when first read."""
        state = getattr(self, name)
        if type(state) is Record:
            state = CallState.of(state)
            _set(self, name, state)
        made: CallState = state
        return made

    def _key(self) -> tuple[object, ...]:
        return (self.events, self.changes, self.before, self.after)

    def __repr__(self) -> str:
        return (
            f"Outcome(events={self.events!r}, changes={self.changes!r}, "
            f"before={self.before!r}, after={self.after!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (_outcome, self._key())

    @property
    def new_anomalies(self) -> tuple[Anomaly, ...]:
        """Anomalies the after-state shows that the before-state did not."""
        seen = set(self.before.anomalies)
        return tuple(a for a in self.after.anomalies if a not in seen)


#: CallBook's outcome: (events or the delivery command, changes, before, after,
#: duplicate), each already what the field holds; ``duplicate`` derived by the caller.
_book_outcome: Final = maker(Outcome, checked=True)


def _only_duplicates(events: tuple[Event, ...]) -> bool:
    if len(events) == 1:  # what a delivery causes
        return isinstance(events[0], DuplicateIgnored)
    return bool(events) and all(isinstance(e, DuplicateIgnored) for e in events)


def _delivery_events(command: RecordDelivery, duplicate: bool) -> tuple[Event, ...]:
    """What ``Decider._decide`` makes of a delivery, told whether it is a duplicate."""
    # The command's fields passed the same checks when it was made.
    delivery = command.delivery
    if duplicate:
        return (_ignored(delivery.call_sid, delivery.sequence_number, command.received_at),)
    return (_accepted(delivery, command.received_at),)


_accepted: Final = maker(DeliveryAccepted, checked=True)
_ignored: Final = maker(DuplicateIgnored, checked=True)


def _outcome(
    events: tuple[Event, ...],
    changes: tuple[StatusChange, ...],
    before: CallState,
    after: CallState,
) -> Outcome:
    return Outcome(events=events, changes=changes, before=before, after=after)


def deliver(before: Record, command: RecordDelivery, dialect: Dialect) -> tuple[Outcome, Record]:
    """A delivery's one event folded into a copy of ``before`` (as ``_evolve`` folds it).

    The outcome, and the copy: its "after", which nothing may change any more.
    """
    record = before.copy()
    received_at = command.received_at
    received = _NAN if received_at is None else received_at.timestamp()
    folded = fold_delivery(record, command.delivery, received, dialect)
    record.shared = True
    if folded is None:
        return _book_outcome(command, (), before, record, True), record
    return _book_outcome(command, folded, before, record, False), record


def _check_call(record: Record, call_sid: str) -> None:
    if record.call_sid is None:
        record.call_sid = call_sid
    elif record.call_sid != call_sid:
        raise UsageError(f"an event of call {call_sid!r} given to call {record.call_sid!r}")


class CallBook:
    """Many calls, in memory: the decider run over each, folding in place.

    The fast path is ``record``; ``handle`` takes any command and returns the
    events it caused (to persist) with the status changes they made.

    Not thread-safe: use it from one thread at a time (``WebhookHandler``
    does so for a ``CallBook`` sink).
    """

    __slots__ = ("_calls", "_decider", "_dialect")

    def __init__(self, decider: Decider | None = None) -> None:
        self._decider = Decider() if decider is None else decider
        self._dialect = self._decider.dialect
        self._calls: dict[str, Record] = {}

    @property
    def decider(self) -> Decider:
        return self._decider

    def record(
        self, delivery: Delivery, received_at: datetime | None = None
    ) -> tuple[StatusChange, ...] | None:
        """Record a delivery: the status changes it made, or None for a duplicate."""
        received = _NAN if received_at is None else _received(received_at)
        return fold_delivery(self._live(delivery.call_sid), delivery, received, self._dialect)

    def handle(self, command: RecordDelivery | Reconcile | RegisterCall) -> Outcome:
        """Decide and apply a command about one call: what it caused and changed."""
        # The command is applied to a copy of the call's record, which then
        # replaces it: the record it replaced is the outcome's "before" and
        # nothing changes it any more; the copy, its "after", is shared.
        # Not mutated: the path after the branch gives a delivery the same outcome, slower.
        if type(command) is RecordDelivery:  # pragma: no mutate
            # The hot path: a delivery's one event, folded as ``_evolve`` folds it.
            sid = command.delivery.call_sid
            calls = self._calls
            before = calls.get(sid)
            if before is None:
                before = Record(sid)
            outcome, calls[sid] = deliver(before, command, self._dialect)
            return outcome
        if isinstance(command, Tick):
            raise UsageError("a Tick concerns every call: use CallBook.tick")
        sid = _call_sid_of(command)
        before = self._calls.get(sid)
        if before is None:
            before = Record(sid)
        record = self._calls[sid] = before.copy()
        decider = self._decider
        caused = decider._decide(command, record)
        changes: tuple[StatusChange, ...] = ()
        for event in caused:
            changes += decider._evolve(record, event)  # pragma: no mutate (one event each: = too)
        record.shared = True
        return _book_outcome(caused, changes, before, record, _only_duplicates(caused))

    def apply(self, event: Event) -> tuple[StatusChange, ...]:
        """Fold an event already decided (loaded from a store, say)."""
        return self._evolve(event)

    def tick(self, now: datetime) -> tuple[ReconciliationRequested, ...]:
        """Flag every call overdue at ``now``; returns the requests made."""
        command = Tick(now=now)
        requests = []
        decider = self._decider
        calls = self._calls
        for sid, found in calls.items():
            events = decider._decide(command, found)
            if not events:
                continue
            # Replacing a value is no change of the dict's size: iterating goes on.
            # Not mutated: copying a record that nothing else holds changes nothing seen.
            record = calls[sid] = found.copy() if found.shared else found  # pragma: no mutate
            for event in events:
                decider._evolve(record, event)
                if isinstance(event, ReconciliationRequested):
                    requests.append(event)
        return tuple(requests)

    def _evolve(self, event: Event) -> tuple[StatusChange, ...]:
        return self._decider._evolve(self._live(_call_sid_of(event)), event)

    def _live(self, call_sid: str) -> Record:
        """The call's record, to change in place (a copy if an outcome holds it)."""
        record = self._calls.get(call_sid)
        if record is None:
            record = self._calls[call_sid] = Record(call_sid)
        elif record.shared:
            record = self._calls[call_sid] = record.copy()
        return record

    def state(self, call_sid: str) -> CallState:
        """The state of one call; ``UnknownCall`` if nothing is known of it."""
        record = self._calls.get(call_sid)
        if record is None:
            raise UnknownCall(call_sid)
        return CallState.of(record.copy())

    def get(self, call_sid: str) -> CallState | None:
        """The state of one call, or None if nothing is known of it."""
        record = self._calls.get(call_sid)
        return None if record is None else CallState.of(record.copy())

    def __contains__(self, call_sid: object) -> bool:
        return call_sid in self._calls

    def __len__(self) -> int:
        return len(self._calls)

    def __iter__(self) -> Iterator[str]:
        return iter(self._calls)

    def states(self) -> Iterator[CallState]:
        """Every call's state, in the order the calls were first seen."""
        for record in self._calls.values():
            yield CallState.of(record.copy())
