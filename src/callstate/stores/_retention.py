"""Retention: remove the calls final for longer than ``--keep-days``, a small batch at a time.

A call is removed, its events and its projection row, when its status is
final and the newest thing the store knows of it happened before the cutoff
(``clock()``, which the caller gives: serve reads its clock, less the days
kept): the time of its last event
(a callback's ``received_at``, or its provider ``Timestamp`` if none was
recorded; a fetch's ``observed_at``; a placement's ``placed_at``). A call's
status changes only with an event, so it has been final at least that long.
A call with no known time is kept.

A pass reads the store in position order (``read_all``: the oldest first),
a batch at a time. Of each batch's calls it removes those due in one short
transaction (``delete_calls``, at the versions just read: a call that
received anything meanwhile is kept), then goes on; it stops at the first
event newer than the cutoff, or after ``max_batches``, and the next pass
goes on from there (from the start again once it reached the cutoff). So a
pass never holds the store's write lock for more than one batch, and
callbacks wait at most that long. On SQLite, the freed pages are then given
back incrementally (``vacuum``).

``floor`` (a position, or None) is how far a reader that must see every
event has got: a call with an event past it is kept. By default it is the
lowest of the forward cursors the store keeps (``forward_positions()``, on
stores that have them; ``forward_floor``), and of ``targets`` (forward
targets configured but with no cursor yet: 0, so nothing is removed).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from callstate._background import in_background
from callstate._core._values import (
    CallRegistered,
    DeliveryAccepted,
    DuplicateIgnored,
    Event,
    ReconciliationRequested,
    ResourceObserved,
)
from callstate._errors import UsageError
from callstate.stores import Runner, StoredEvent

__all__ = ["PruneReport", "Pruner", "event_time", "forward_floor", "pruning", "selected"]

LOGGER = logging.getLogger("callstate.stores.retention")


class Deletes(Protocol):
    """A store retention can remove calls from (``SQLiteStore``, ``PostgresStore``)."""

    def delete_calls(self, versions: Mapping[str, int]) -> tuple[str, ...]: ...


def event_time(event: Event) -> datetime | None:
    """When the store learned of ``event``, as the event recorded it (None: unknown)."""
    if isinstance(event, DeliveryAccepted):
        return event.received_at or event.delivery.timestamp
    if isinstance(event, DuplicateIgnored):
        return event.received_at
    if isinstance(event, ResourceObserved):
        return event.observed_at
    if isinstance(event, CallRegistered):
        return event.placed_at
    if isinstance(event, ReconciliationRequested):
        return event.at
    return None  # pragma: no cover - every event kind is named above


def forward_floor(store: object, targets: Sequence[str] = ()) -> int | None:
    """The lowest forward cursor of ``store`` and ``targets`` (None: nothing forwards)."""
    positions: Callable[[], Mapping[str, int]] | None = getattr(store, "forward_positions", None)
    known = dict(positions()) if callable(positions) else {}
    for target in targets:
        known.setdefault(target, 0)
    return min(known.values()) if known else None


def newest_time(stored: Sequence[StoredEvent]) -> datetime | None:
    """The latest known time of a call's events (None if none has one)."""
    times = [t for t in (event_time(item.event) for item in stored) if t is not None]
    return max(times) if times else None


def selected(runner: Runner, stored: Sequence[StoredEvent], before: datetime) -> bool:
    """Whether a call with these events is final and was last heard of before ``before``."""
    if not stored:
        return False
    newest = newest_time(stored)
    if newest is None or newest >= before:
        return False
    state = runner.decider.fold([item.event for item in stored], stored[0].call_sid)
    return state.status.is_final


@attrs.frozen(kw_only=True)
class PruneReport:
    """What one pass did: events read, calls removed, and whether it reached the cutoff."""

    scanned: int
    removed: int
    #: The pass read up to the first event newer than the cutoff (or the end).
    reached_cutoff: bool
    pages_freed: int = 0

    def as_json(self) -> dict[str, int | bool]:
        return attrs.asdict(self)


class Pruner:
    """Passes of retention over ``runner``'s store: calls final for longer than ``keep``."""

    def __init__(
        self,
        runner: Runner,
        keep: timedelta,
        *,
        batch: int = 200,
        max_batches: int = 50,
        clock: Callable[[], datetime],
        floor: Callable[[], int | None] | None = None,
        targets: Sequence[str] = (),
    ) -> None:
        if keep < timedelta(0) or batch < 1 or max_batches < 1:
            raise UsageError("keep must be 0 or more, batch and max_batches 1 or more")
        delete = getattr(runner.store, "delete_calls", None)
        if not callable(delete):
            raise UsageError(f"{runner.store!r} cannot remove calls (no delete_calls)")
        self.runner = runner
        self.keep = keep
        self.batch = batch
        self.max_batches = max_batches
        self._clock = clock
        store = runner.store
        self._floor = floor if floor is not None else lambda: forward_floor(store, targets)
        self._delete: Callable[[Mapping[str, int]], tuple[str, ...]] = delete
        self._after = 0  # where the next pass reads on from
        #: Totals over every pass, for /metrics.
        self.totals = {"removed": 0}

    def run_pass(self) -> PruneReport:
        """Up to ``max_batches`` batches; each batch's removals in one transaction."""
        store = self.runner.store
        before = self._clock() - self.keep
        floor = self._floor()
        scanned = removed = 0
        reached = False
        for _ in range(self.max_batches):
            page = store.read_all(self._after, self.batch)
            if not page:
                reached = True
                break
            seen: dict[str, None] = {}
            for item in page:
                when = event_time(item.event)
                if when is not None and when >= before:
                    reached = True  # the rest is newer (positions follow arrival)
                    break
                seen[item.call_sid] = None
                self._after = item.position
                scanned += 1
            due = {}
            for sid in seen:
                stored = store.load(sid)
                if floor is not None and stored and stored[-1].position > floor:
                    continue  # a reader that must see every event has not got there
                if selected(self.runner, stored, before):
                    due[sid] = stored[-1].version
            gone = self._delete(due)
            for sid in gone:
                self.runner.forget(sid)
            removed += len(gone)
            if reached:
                break
        if reached:
            self._after = 0  # the next pass starts from the oldest again
        freed = 0
        vacuum = getattr(store, "vacuum", None)
        if callable(vacuum):  # a bounded step, also for pages an earlier pass left
            freed = int(vacuum())
        self.totals["removed"] += removed
        report = PruneReport(
            scanned=scanned, removed=removed, reached_cutoff=reached, pages_freed=freed
        )
        if removed:
            LOGGER.info("retention pass", extra=report.as_json())
        return report

    def run_until_done(self) -> PruneReport:
        """Passes until one reaches the cutoff: what ``callstate prune`` does."""
        scanned = removed = freed = 0
        while True:
            report = self.run_pass()
            scanned += report.scanned
            removed += report.removed
            freed += report.pages_freed
            if report.reached_cutoff:
                return PruneReport(
                    scanned=scanned, removed=removed, reached_cutoff=True, pages_freed=freed
                )

    def run_forever(self, interval: float, stop: threading.Event) -> None:
        """A pass every ``interval`` seconds until ``stop`` is set (sooner while behind)."""
        while not stop.is_set():
            behind = False
            try:
                behind = not self.run_pass().reached_cutoff
            except Exception:  # the loop outlives any one pass
                LOGGER.exception("retention pass failed")
            stop.wait(min(interval, 1.0) if behind else interval)


@contextlib.contextmanager
def pruning(pruner: Pruner | None, interval: float) -> Iterator[None]:
    """Run ``pruner`` in a background thread for the duration of the block."""
    if pruner is None:
        yield
        return
    with in_background(pruner.run_forever, interval, "callstate-retention"):
        yield
