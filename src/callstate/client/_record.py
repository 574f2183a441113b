"""The call record joins both sides: the create POST's answer and the status callbacks.

A status callback may arrive before the POST that placed the call has
answered. Both go to the same sink (anything with ``handle(command) ->
Outcome``, such as ``CallBook`` or a store-backed runner), keyed by CallSid,
so whichever comes first, the record ends up the same: the core folds the
``RegisterCall`` and the ``Reconcile`` of a ``queued`` resource without
undoing a later status it already knows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from callstate._core._decider import Outcome
from callstate._core._sink import AsyncSink, Sink
from callstate._core._values import CallResource, Reconcile, RegisterCall

__all__ = ["AsyncSink", "Sink", "record_placed_call", "record_placed_call_async"]


def _commands(
    resources: Iterable[CallResource],
    placed_at: datetime,
    answered_at: datetime | None,
    ring_timeout: timedelta | None,
) -> list[RegisterCall | Reconcile]:
    commands: list[RegisterCall | Reconcile] = []
    for resource in resources:
        commands.append(
            RegisterCall(call_sid=resource.sid, placed_at=placed_at, ring_timeout=ring_timeout)
        )
        commands.append(Reconcile(resource=resource, observed_at=answered_at or placed_at))
    return commands


def record_placed_call(
    sink: Sink,
    resources: Iterable[CallResource],
    *,
    placed_at: datetime,
    answered_at: datetime | None = None,
    ring_timeout: timedelta | None = None,
) -> tuple[Outcome, ...]:
    """Feed the create POST's answer into ``sink``: register each leg, then reconcile it.

    ``placed_at`` is when the POST was sent, ``answered_at`` when its answer
    came (default: ``placed_at``); ``ring_timeout`` the ``Timeout`` asked for.
    """
    return tuple(
        sink.handle(command)
        for command in _commands(resources, placed_at, answered_at, ring_timeout)
    )


async def record_placed_call_async(
    sink: AsyncSink,
    resources: Iterable[CallResource],
    *,
    placed_at: datetime,
    answered_at: datetime | None = None,
    ring_timeout: timedelta | None = None,
) -> tuple[Outcome, ...]:
    """The async twin of ``record_placed_call``."""
    return tuple(
        [
            await sink.handle(command)
            for command in _commands(resources, placed_at, answered_at, ring_timeout)
        ]
    )
