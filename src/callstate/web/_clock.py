"""The adapters' default clock: the one place in callstate.web that reads the time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "utc_now"]

#: Returns the time a webhook was received (an aware datetime).
Clock = Callable[[], datetime]
"""Gives the receive time of a webhook (an aware datetime)."""


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
