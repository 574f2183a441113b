"""The one contract between the edges and whatever keeps the calls.

Anything that handles a command about one call and says what it did is a
sink: the in-memory ``CallBook``, the store-backed ``Runner``. The webhook
handler feeds it deliveries; the Calls API client feeds it the create
answer. A sink backed by storage returns only once the events are stored,
and raises ``StoreUnavailable`` when its storage cannot be used.
"""

from __future__ import annotations

from typing import Protocol, Union, runtime_checkable

from callstate._core._decider import Outcome
from callstate._core._values import Reconcile, RecordDelivery, RegisterCall

__all__ = ["AsyncSink", "CallCommand", "Sink"]

CallCommand = Union[RecordDelivery, Reconcile, RegisterCall]
"""A command about one call (``Tick`` concerns every call and is not one)."""


@runtime_checkable
class Sink(Protocol):
    """Handles one call's command; returns what it caused and changed."""

    def handle(self, command: CallCommand) -> Outcome: ...


@runtime_checkable
class AsyncSink(Protocol):
    """The async twin of ``Sink``."""

    async def handle(self, command: CallCommand) -> Outcome: ...
