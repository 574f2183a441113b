"""``/healthz``: whether the receiver can accept a delivery now.

A store that still reads may refuse every write (a full disk, a read-only
file, a replica), so the check writes: it reads one event, then commits the
store's write probe (``probe()``: one row outside the event log). Each part
is bounded by the store timeout. The answer names the part that failed and a
fixed reason; the store's own error (paths, server messages) goes to the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

from callstate._errors import StoreError
from callstate.stores import EventStore

__all__ = ["Health"]

LOGGER = logging.getLogger("callstate.serve")

#: The parts checked, in order, and the reason each gives when it fails.
READ: Final = ("store-read", "the store cannot be read now")
WRITE: Final = ("store-write", "the store cannot write now")
SLOW: Final = "the store did not answer in time"


class Health:
    """The receiver's health, one check at a time (concurrent asks share it)."""

    def __init__(self, store: EventStore, timeout: float | None) -> None:
        self._store = store
        self._timeout = timeout
        self._running: asyncio.Future[tuple[str, str] | None] | None = None

    async def failure(self) -> tuple[str, str] | None:
        """None when the store reads and writes now; else (the part, the reason)."""
        running = self._running
        if (
            running is None
            or running.done()
            or running.get_loop() is not asyncio.get_running_loop()
        ):
            running = self._running = asyncio.ensure_future(self._check())
        # A caller that goes away leaves the check running for the others.
        return await asyncio.shield(running)

    async def _check(self) -> tuple[str, str] | None:
        store = self._store
        probe: Callable[[], Any] | None = getattr(store, "probe", None)
        parts: list[tuple[tuple[str, str], Callable[[], Any]]] = [
            (READ, lambda: store.read_all(0, 1))
        ]
        if probe is not None:
            parts.append((WRITE, probe))
        for (part, reason), call in parts:
            try:
                await asyncio.wait_for(asyncio.to_thread(call), self._timeout)
            except TimeoutError as exc:  # the store's StoreTimeout, or ours
                error = str(exc) or f"no answer within {self._timeout}s"
                LOGGER.warning("health check failed", extra={"failed": part, "error": error})
                return part, SLOW
            except StoreError as exc:
                LOGGER.warning("health check failed", extra={"failed": part, "error": str(exc)})
                return part, reason
            except Exception:
                LOGGER.exception("health check failed unexpectedly", extra={"failed": part})
                return part, reason
        return None
