"""Hooks: your functions, called once per change, after the event is stored.

They key on an ``Outcome``, never on a delivery: ``answered`` and ``final``
flip at most once per call, a status change is reported once, and a new
anomaly is one the state did not show before. Duplicates change nothing, so
they fire nothing. The order of the deliveries can change which statuses the
call passes through (an unanswered-looking ``completed`` first makes it
``ended``, refined later), never the state it ends in.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Final, TypeVar

from callstate._core._call import CallState
from callstate._core._decider import Outcome
from callstate._core._state import CallStatus
from callstate._core._values import Anomaly, StatusChange

__all__ = ["AnomalyHook", "ChangeHook", "Hooks", "StateHook"]

LOGGER: Final = logging.getLogger("callstate.web")

StateHook = Callable[[CallState], object]
"""A hook called with the call's state: ``hook(state)``."""
ChangeHook = Callable[[CallState, StatusChange], object]
"""A hook called with the state and the change: ``hook(state, change)``."""
AnomalyHook = Callable[[CallState, Anomaly], object]
"""A hook called with the state and the new anomaly: ``hook(state, anomaly)``."""
_H = TypeVar("_H", bound=Callable[..., object])


class Hooks:
    """Functions to call when a call is answered, ends, reaches a status, or shows an anomaly.

    Register with the decorators; a hook may be a plain function or, under an
    async handler, a coroutine function. A hook that raises is logged on the
    ``callstate.web`` logger and counted in ``failures``; the others still
    run and the webhook is still answered as stored.
    """

    __slots__ = ("_anomaly", "_answered", "_final", "_status", "failures")

    def __init__(self) -> None:
        self._answered: list[StateHook] = []
        self._final: list[StateHook] = []
        self._status: dict[CallStatus, list[ChangeHook]] = {}
        self._anomaly: list[AnomalyHook] = []
        self.failures = 0

    def on_answered(self, hook: _H) -> _H:
        """Call ``hook(state)`` once, when the call is first known to be answered."""
        self._answered.append(hook)
        return hook

    def on_final(self, hook: _H) -> _H:
        """Call ``hook(state)`` once, when the call first reaches a final status."""
        self._final.append(hook)
        return hook

    def on_status(self, status: CallStatus | str) -> Callable[[_H], _H]:
        """Call ``hook(state, change)`` for each change of the call's status to ``status``."""
        wanted = CallStatus(status)

        def register(hook: _H) -> _H:
            self._status.setdefault(wanted, []).append(hook)
            return hook

        return register

    def on_anomaly(self, hook: _H) -> _H:
        """Call ``hook(state, anomaly)`` once for each anomaly the call newly shows."""
        self._anomaly.append(hook)
        return hook

    def __bool__(self) -> bool:
        return bool(self._answered or self._final or self._status or self._anomaly)

    def due(self, outcome: Outcome) -> Iterator[tuple[Callable[..., object], tuple[object, ...]]]:
        """Each hook that ``outcome`` calls for, with its arguments, in a stable order."""
        before, after = outcome.before, outcome.after
        if after.answered and not before.answered:
            for state_hook in self._answered:
                yield state_hook, (after,)
        if after.final and not before.final:
            for state_hook in self._final:
                yield state_hook, (after,)
        if self._status:
            for change in outcome.changes:
                for change_hook in self._status.get(change.status, ()):
                    yield change_hook, (after, change)
        if self._anomaly:
            for anomaly in outcome.new_anomalies:
                for anomaly_hook in self._anomaly:
                    yield anomaly_hook, (after, anomaly)

    def run(self, outcome: Outcome) -> int:
        """Call every hook due; returns how many failed (each logged and counted)."""
        failed = 0
        for hook, args in self.due(outcome):
            try:
                result = hook(*args)
            except Exception as exc:
                failed += self._report(hook, outcome, exc)
                continue
            if inspect.isawaitable(result):
                _close(result)
                failed += self._report(
                    hook, outcome, TypeError("an async hook needs an async handler")
                )
        return failed

    async def run_async(self, outcome: Outcome) -> int:
        """Like ``run``, awaiting the hooks that are coroutine functions."""
        failed = 0
        for hook, args in self.due(outcome):
            try:
                result = hook(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                failed += self._report(hook, outcome, exc)
        return failed

    def _report(self, hook: Callable[..., object], outcome: Outcome, exc: Exception) -> int:
        self.failures += 1
        LOGGER.error(
            "hook %s failed for call %s (the event is stored)",
            getattr(hook, "__qualname__", repr(hook)),
            outcome.after.call_sid,
            exc_info=exc,
        )
        return 1


def _close(result: Awaitable[object]) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()
