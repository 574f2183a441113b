"""``callstate replay --store``: replay into a store, idempotently.

A line names one arrival: a delivery with its ``received_at``, a Call
resource with its ``observed_at``, a placement (``registered``) or a
reconciliation request. An arrival already in the store (same delivery key,
content and receive time; same resource and observation time; an equal
placement or request) is skipped, so replaying the same file twice changes
nothing. Copies within a file stay distinct when their receive times differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from callstate._core._call import CallState
from callstate._core._values import (
    CallRegistered,
    DeliveryAccepted,
    DuplicateIgnored,
    Reconcile,
    ReconciliationRequested,
    RecordDelivery,
    RegisterCall,
    ResourceObserved,
    Tick,
)
from callstate.stores import EventStore, Runner, StoredEvent

__all__ = ["ReplayItem", "StoreReplay"]

ReplayItem = RecordDelivery | Reconcile | RegisterCall | ReconciliationRequested
"""What one replay line asks for: a command, or a reconciliation request (an event)."""


def _already_stored(stored: Sequence[StoredEvent], command: ReplayItem) -> bool:
    if isinstance(command, ReconciliationRequested):
        return any(item.event == command for item in stored)
    if isinstance(command, RegisterCall):
        placed = CallRegistered(
            call_sid=command.call_sid,
            placed_at=command.placed_at,
            ring_timeout=command.ring_timeout,
        )
        return any(item.event == placed for item in stored)
    if isinstance(command, Reconcile):
        return any(
            isinstance(item.event, ResourceObserved)
            and item.event.resource == command.resource
            and item.event.observed_at == command.observed_at
            for item in stored
        )
    delivery, received = command.delivery, command.received_at
    contents = {
        item.event.delivery.content
        for item in stored
        if isinstance(item.event, DeliveryAccepted)
        and item.event.delivery.sequence_number == delivery.sequence_number
    }
    if delivery.content not in contents:
        return False
    for item in stored:
        event = item.event
        if isinstance(event, DeliveryAccepted):
            if event.delivery == delivery and event.received_at == received:
                return True
        elif (
            isinstance(event, DuplicateIgnored)
            and event.sequence_number == delivery.sequence_number
            and event.received_at == received
            and len(contents) == 1
        ):
            return True
    return False


class StoreReplay:
    """The replay target that persists through a ``Runner``."""

    def __init__(self, store: EventStore, runner: Runner) -> None:
        self.store = store
        self.runner = runner
        self._touched: dict[str, None] = {}

    def apply(self, command: ReplayItem) -> None:
        if isinstance(command, RecordDelivery):
            sid = command.delivery.call_sid
        elif isinstance(command, Reconcile):
            sid = command.resource.sid
        else:
            sid = command.call_sid
        self._touched[sid] = None
        stored = self.store.load(sid)
        if _already_stored(stored, command):
            return
        if isinstance(command, ReconciliationRequested):
            # An event no command makes (a Tick decides it): appended as it came.
            self._append(sid, stored, command)
        else:
            self.runner.handle(command)

    def _append(
        self, sid: str, stored: Sequence[StoredEvent], event: ReconciliationRequested
    ) -> None:
        decider = self.runner.decider
        state = decider.fold([item.event for item in stored], sid)
        after, _ = decider.advance(state, (event,))
        version = stored[-1].version if stored else 0
        self.store.append(sid, version, (event,), status=after.status)

    def tick(self, now: datetime) -> None:
        decider = self.runner.decider
        for sid in self._touched:
            stored = self.store.load(sid)
            state = decider.fold([item.event for item in stored], sid)
            events = decider.decide(Tick(now=now), state)
            if events:
                after, _ = decider.advance(state, events)
                self.store.append(sid, stored[-1].version, events, status=after.status)

    def states(self) -> Iterable[CallState]:
        decider = self.runner.decider
        for sid in self._touched:
            yield decider.fold([item.event for item in self.store.load(sid)], sid)
