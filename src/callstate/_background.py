"""A loop in a background thread for the length of a ``with`` block."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

__all__ = ["in_background"]


@contextlib.contextmanager
def in_background(
    run_forever: Callable[[float, threading.Event], object], interval: float, name: str
) -> Iterator[None]:
    """Run ``run_forever(interval, stop)`` in a daemon thread; on leaving, stop it and wait."""
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(interval, stop), name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)
