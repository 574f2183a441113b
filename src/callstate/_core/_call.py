"""One call's record: how each piece of evidence folds into it.

The record is a join over the *set* of distinct evidence: every field only
grows (a bit set, a minimum, a set of final claims), so the same deliveries in
any order and any number of copies give the same record. What status that
evidence gives is ``_state``'s to say: its table (``NEXT``), the
``completed`` event's readings and ``resolve``. This module keeps the evidence
and reports the changes.

``Record`` is mutable for speed and private; the public ``CallState`` is a
frozen snapshot of it. ``CallBook`` keeps one ``Record`` per call and folds
into it in place; ``Decider.evolve`` folds into a copy.
"""

from __future__ import annotations

import functools
import math
from array import array
from datetime import UTC, datetime, timedelta
from typing import Final

import attrs

from callstate._core._state import (
    FINAL_CODES,
    NEXT,
    NEXT_SUPERSEDING,
    RANK,
    STATUSES,
    CallStatus,
    Dialect,
    Trigger,
    claimed_status,
    completed_as,
    read_completed,
    resolve,
)
from callstate._core._time import EARLIEST, LATEST
from callstate._core._values import (
    CHANGES,
    SINGLE_CHANGES,
    Anomaly,
    CallResource,
    Delivery,
    StatusChange,
    TimelineEntry,
)

__all__ = ["CallState", "KeyedValue", "Record", "fold_delivery", "fold_resource"]

_NAN: Final = math.nan
# The trigger codes the fold tests, as plain ints (as in ``_state``).
_ANSWER: Final = int(Trigger.ANSWER)
_END: Final = int(Trigger.END)
_COMPLETE: Final = int(Trigger.COMPLETE)
_COMPLETED_EVENT: Final = int(Trigger.COMPLETED_EVENT)
_ANSWER_BIT: Final = 1 << _ANSWER
_SLOTS: Final = len(Trigger)  # a time slot per trigger, the unread "completed" event's too
_EMPTY_TIMES: Final = array("d", [_NAN] * (2 * _SLOTS))
_NO_CHANGE: Final[tuple[StatusChange, ...]] = ()
_LIVE_BY_RANK: Final = tuple(code for code, rank in enumerate(RANK) if rank < RANK[_END])
# The usual ``finals`` of a call, one claim with a small SequenceNumber, made
# once: a tuple fewer per call for the cyclic GC to count and scan.
_ONE_CLAIM: Final = tuple(
    tuple(((seq, trigger),) for trigger in range(_SLOTS)) for seq in range(32)
)


class Record:
    """Everything known about one call, as the join of its evidence."""

    __slots__ = (
        "call_sid",
        "conflicts",
        "duplicates",
        "duration",
        "finals",
        "marks",
        "placed_at",
        "resources",
        "ring_timeout",
        "seen",
        "shared",
        "stale_at",
        "status",
        "times",
    )

    def __init__(self, call_sid: str | None) -> None:
        self.call_sid = call_sid
        self.status = 0  # queued
        # bit i: trigger i reached (live statuses and "answered"); QUEUE's bit is never read
        self.marks = 0  # pragma: no mutate (1 sets QUEUE's bit alone: nothing reads it)
        self.seen: dict[int, int | frozenset[int]] = {}  # seq -> content fingerprint(s)
        self.finals: tuple[tuple[int, int], ...] = ()  # (seq, kind) claims of an end
        self.resources: tuple[tuple[float, int], ...] = ()  # (updated, status) finals
        self.times = _EMPTY_TIMES[:]  # per slot: provider time, received time
        self.duplicates = 0
        self.conflicts: tuple[int, ...] = ()
        self.duration: int | None = None
        self.stale_at = _NAN
        self.placed_at = _NAN
        self.ring_timeout = _NAN
        # Handed out as a snapshot (an outcome's): its holder copies before changing it.
        self.shared = False  # pragma: no mutate (True: one needless copy before a change)

    def copy(self) -> Record:
        new = Record.__new__(Record)
        new.call_sid = self.call_sid
        new.status = self.status
        new.marks = self.marks
        new.seen = self.seen.copy()
        new.finals = self.finals
        new.resources = self.resources
        new.times = self.times[:]
        new.duplicates = self.duplicates
        new.conflicts = self.conflicts
        new.duration = self.duration
        new.stale_at = self.stale_at
        new.placed_at = self.placed_at
        new.ring_timeout = self.ring_timeout
        new.shared = False
        return new

    @property
    def deliveries(self) -> int:
        return sum(len(v) if isinstance(v, frozenset) else 1 for v in self.seen.values())


def _stamp(times: array[float], slot: int, at: float, received: float) -> None:
    # Keep the earliest of each; a NaN slot compares false and is replaced.
    i = 2 * slot
    if at == at and not times[i] <= at:
        times[i] = at
    if received == received and not times[i + 1] <= received:
        times[i + 1] = received


def _resolve(record: Record) -> int:
    """The derived status code: what the record's evidence says (``_state.resolve``)."""
    return resolve(record.marks, record.finals, record.resources)


def _changes(record: Record, before: int, marks_before: int, new: int) -> tuple[StatusChange, ...]:
    """Report the move from ``before`` to ``new``, through newly reached statuses."""
    # The resolver only ever picks what the machine allows (trigger i leads to
    # status i); a move the table does not have would be a bug here.
    if new != before and NEXT_SUPERSEDING[before][new] != new:
        raise AssertionError(f"illegal transition {STATUSES[before]} -> {STATUSES[new]}")
    record.status = new
    fresh = record.marks & ~marks_before
    low, high = RANK[before], RANK[new]
    out = []
    current = before
    for code in _LIVE_BY_RANK:
        if low < RANK[code] < high and fresh >> code & 1:
            out.append(CHANGES[current][code])
            current = code
    if new != current:
        out.append(CHANGES[current][new])
    return tuple(out)


def fold_delivery(
    record: Record, delivery: Delivery, received: float, dialect: Dialect
) -> tuple[StatusChange, ...] | None:
    """Fold one delivery in; None when it was a duplicate, else the changes."""
    seq, fingerprint, trigger, at = delivery._hot
    seen = record.seen
    known = seen.get(seq)
    if known is None:
        seen[seq] = fingerprint
    elif known == fingerprint or (type(known) is frozenset and fingerprint in known):
        record.duplicates += 1
        return None
    else:
        _conflict(record, seq, known, fingerprint)

    before = record.status
    if trigger < _END:
        # The hot path: a live status.
        marks_before = record.marks
        record.marks = marks_before | 1 << trigger
        times = record.times
        i = 2 * trigger
        # Keep the earliest known time (NaN is unknown: it neither wins nor blocks).
        if not times[i] <= at and at == at:
            times[i] = at
        if not times[i + 1] <= received and received == received:
            times[i + 1] = received
        if before < _END:
            new = NEXT[before][trigger]
            if new == before:
                return _NO_CHANGE
            record.status = new
            return SINGLE_CHANGES[before][new]
        if trigger != _ANSWER or not record.finals:
            return _NO_CHANGE
        return _changes(record, before, marks_before, _resolve(record))
    return _fold_end(record, delivery, seq, trigger, at, received, dialect)


def _conflict(record: Record, seq: int, known: int | frozenset[int], fingerprint: int) -> None:
    if isinstance(known, frozenset):
        record.seen[seq] = known | {fingerprint}
    else:
        record.seen[seq] = frozenset((known, fingerprint))
    if seq not in record.conflicts:
        record.conflicts = (*record.conflicts, seq)


def _fold_end(
    record: Record,
    delivery: Delivery,
    seq: int,
    trigger: int,
    at: float,
    received: float,
    dialect: Dialect,
) -> tuple[StatusChange, ...]:
    """Fold a delivery that says the call ended."""
    before = record.status
    marks_before = record.marks
    duration = delivery.call_duration
    record.duration = longest(record.duration, duration)
    if trigger == _COMPLETED_EVENT:
        trigger = read_completed(dialect, duration)
    if trigger == _COMPLETE:
        record.marks |= _ANSWER_BIT
    _stamp(record.times, trigger, at, received)
    finals = record.finals
    if not finals and not record.resources and trigger != _COMPLETED_EVENT:
        # The common case: the first word of a known end, on a live call.
        record.finals = _ONE_CLAIM[seq][trigger] if seq < 32 else ((seq, trigger),)
        new = NEXT[before][trigger]
        if record.marks == marks_before or marks_before & _ANSWER_BIT:
            record.status = new
            return SINGLE_CHANGES[before][new]
        return _changes(record, before, marks_before, new)
    claim = (seq, trigger)
    if claim not in finals:
        record.finals = (*finals, claim)
    return _changes(record, before, marks_before, _resolve(record))


def fold_resource(
    record: Record, resource: CallResource, observed: float
) -> tuple[StatusChange, ...]:
    """Fold in the Call resource: the provider's own account of the call."""
    code = STATUSES.index(resource.status)
    before = record.status
    marks_before = record.marks
    if code in FINAL_CODES:
        if code == _COMPLETE:
            record.marks |= _ANSWER_BIT
        end = resource.end_time
        _stamp(record.times, code, _NAN if end is None else end.timestamp(), observed)
        updated = resource.date_updated
        claim = (-math.inf if updated is None else updated.timestamp(), code)
        if claim not in record.resources:
            record.resources = (*record.resources, claim)
        record.duration = longest(record.duration, resource.duration)
    else:
        record.marks |= 1 << code
    created = resource.date_created
    if created is not None:
        record.placed_at = earliest(record.placed_at, created.timestamp())
    return _changes(record, before, marks_before, _resolve(record))


_EARLIEST: Final = EARLIEST.timestamp()
_LATEST: Final = LATEST.timestamp()


def _dt(value: float) -> datetime | None:
    """Epoch seconds as a UTC datetime (None for NaN, unknown).

    Times come in checked (``_time.EARLIEST`` .. ``LATEST``), but an event
    stored before they were may hold one past an end: it reads as that end,
    rather than failing every read of the call.
    """
    if value != value:
        return None
    return datetime.fromtimestamp(min(max(value, _EARLIEST), _LATEST), UTC)


def start_of(record: Record) -> float:
    """The earliest time known for the call (NaN when none is known)."""
    times = [t for t in record.times if t == t]
    if record.placed_at == record.placed_at:
        times.append(record.placed_at)
    return min(times) if times else _NAN


def _final_claims(record: Record) -> list[tuple[int, int]]:
    """(sequence number, status code) of each known final status the callbacks claim."""
    answered = bool(record.marks & _ANSWER_BIT)
    claims = ((seq, claimed_status(claimed, answered)) for seq, claimed in record.finals)
    return [claim for claim in claims if claim[1] != _END]


def anomalies_of(record: Record) -> tuple[Anomaly, ...]:
    """The anomalies the evidence shows, in a fixed order."""
    out = [
        Anomaly(kind="conflicting_delivery", sequence_number=seq)
        for seq in sorted(record.conflicts)
    ]
    finals = _final_claims(record)
    claims = sorted({code for _, code in finals})
    status = STATUSES[record.status]
    if len(claims) > 1:
        _, chosen = max(finals)
        out.append(
            Anomaly(
                kind="conflicting_final",
                statuses=tuple(STATUSES[c] for c in claims),
                chosen=STATUSES[chosen],
            )
        )
    if record.resources:
        told = sorted({code for _, code in record.resources} | set(claims))
        if len(told) > 1:
            out.append(
                Anomaly(
                    kind="reconciliation_conflict",
                    statuses=tuple(STATUSES[c] for c in told),
                    chosen=status,
                )
            )
    return tuple(out)


def earliest(a: float, b: float) -> float:
    """The smaller of two times, where NaN means unknown."""
    if a != a:
        return b
    return b if b < a else a  # pragma: no mutate (b <= a: the same time either way)


def longest(a: int | None, b: int | None) -> int | None:
    """The longer of two durations, where None means unknown."""
    if a is None:
        return b
    if b is None:
        return a
    return b if b > a else a  # pragma: no mutate (b >= a: the same duration either way)


def timeline_of(record: Record) -> tuple[TimelineEntry, ...]:
    """For each status with evidence of its own: when it happened and was heard of."""
    times = record.times
    out = []
    became = completed_as(bool(record.marks & _ANSWER_BIT))
    for code in range(len(STATUSES)):
        at, received = times[2 * code], times[2 * code + 1]
        # The unread "completed" event is evidence of whichever it became.
        if code == record.status and code == became:
            at = earliest(at, times[2 * _COMPLETED_EVENT])
            received = earliest(received, times[2 * _COMPLETED_EVENT + 1])
        if at != at and received != received:
            continue
        if code in FINAL_CODES and code != record.status:
            continue
        out.append(TimelineEntry(status=STATUSES[code], at=_dt(at), received_at=_dt(received)))
    return tuple(out)


class KeyedValue:
    """Equality and hashing from one tuple, ``_key()``, for hand-tuned values."""

    __slots__ = ()

    def _key(self) -> tuple[object, ...]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@attrs.frozen(kw_only=True, eq=False, repr=False)
class CallState(KeyedValue):
    """What callstate knows about one call, derived from its events.

    A snapshot: it never changes; folding more events gives a new one. The
    timeline and the anomalies are worked out when first read.
    """

    call_sid: str | None
    status: CallStatus
    #: Whether the call was answered (a hook "on answered" keys on this).
    answered: bool
    #: Copies of recorded deliveries that were ignored.
    duplicates: int
    #: The longest CallDuration reported (seconds), if any.
    call_duration: int | None
    _record: Record = attrs.field(alias="record")

    @classmethod
    def of(cls, record: Record) -> CallState:
        """Snapshot a record (the record must not be changed afterwards)."""
        return cls(
            call_sid=record.call_sid,
            status=STATUSES[record.status],
            answered=bool(record.marks & _ANSWER_BIT),
            duplicates=record.duplicates,
            call_duration=record.duration,
            record=record,
        )

    @functools.cached_property
    def deliveries(self) -> int:
        """Distinct deliveries recorded (each version of a conflict counts)."""
        return self._record.deliveries

    @functools.cached_property
    def anomalies(self) -> tuple[Anomaly, ...]:
        """What in the evidence deserves attention, in a fixed order."""
        return anomalies_of(self._record)

    @functools.cached_property
    def timeline(self) -> tuple[TimelineEntry, ...]:
        """For each status with evidence of its own: when it happened, when we heard."""
        return timeline_of(self._record)

    @functools.cached_property
    def overdue_since(self) -> datetime | None:
        """When a tick found the call overdue (None if it never was)."""
        return _dt(self._record.stale_at)

    def _key(self) -> tuple[object, ...]:
        return (
            self.call_sid,
            self.status,
            self.answered,
            self.deliveries,
            self.duplicates,
            self.anomalies,
            self.timeline,
            self.call_duration,
            self.overdue_since,
        )

    def __repr__(self) -> str:
        return (
            f"CallState(call_sid={self.call_sid!r}, status={self.status!r}, "
            f"answered={self.answered!r}, deliveries={self.deliveries!r}, "
            f"duplicates={self.duplicates!r}, anomalies={self.anomalies!r}, "
            f"timeline={self.timeline!r}, call_duration={self.call_duration!r}, "
            f"overdue_since={self.overdue_since!r})"
        )

    @property
    def final(self) -> bool:
        """The call is over: its status will never be a live one again."""
        return self.status.is_final

    @property
    def outcome_known(self) -> bool:
        """The call is over and how it ended is known (not ``ended``)."""
        return self.final and self.status is not CallStatus.ENDED

    @property
    def needs_reconciliation(self) -> bool:
        """Fetch the call with GET: its outcome is unknown or it is overdue."""
        if self.status is CallStatus.ENDED:
            return True
        return not self.final and self.overdue_since is not None

    def entry(self, status: CallStatus) -> TimelineEntry | None:
        """The timeline entry of ``status``, if it has one."""
        for item in self.timeline:
            if item.status is status:
                return item
        return None

    @property
    def ring_time(self) -> timedelta | None:
        """From ringing to answer (or to the end of an unanswered call)."""
        ringing = self.entry(CallStatus.RINGING)
        if ringing is None or ringing.at is None:
            return None
        end = self.entry(CallStatus.IN_PROGRESS)
        if end is None and not self.answered and self.final:
            end = self.entry(self.status)
        if end is None or end.at is None:
            return None
        return end.at - ringing.at

    @property
    def talk_time(self) -> timedelta | None:
        """How long the answered call lasted (CallDuration when reported)."""
        if not self.answered:
            return None
        if self.call_duration is not None:
            return timedelta(seconds=self.call_duration)
        start, end = self.entry(CallStatus.IN_PROGRESS), self.entry(self.status)
        if start is None or end is None or start.at is None or end.at is None or not self.final:
            return None
        return end.at - start.at
