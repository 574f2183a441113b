"""``callstate replay --store``: replay into a store, idempotently.

A line names one arrival: a delivery with its ``received_at``, or a Call
resource with its ``observed_at``. An arrival already in the store (same
delivery key, content and receive time; same resource and observation time)
is skipped, so replaying the same file twice changes nothing. Copies within
a file stay distinct when their receive times differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from callstate._core._call import CallState
from callstate._core._values import (
    DeliveryAccepted,
    DuplicateIgnored,
    Reconcile,
    RecordDelivery,
    ResourceObserved,
    Tick,
)
from callstate.stores import EventStore, Runner, StoredEvent

__all__ = ["StoreReplay"]


def _already_stored(stored: Sequence[StoredEvent], command: RecordDelivery | Reconcile) -> bool:
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

    def apply(self, command: RecordDelivery | Reconcile) -> None:
        sid = (
            command.delivery.call_sid
            if isinstance(command, RecordDelivery)
            else command.resource.sid
        )
        self._touched[sid] = None
        if _already_stored(self.store.load(sid), command):
            return
        self.runner.handle(command)

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
