"""What the receiver keeps beside the event log: idempotency keys and forward cursors.

Two small tables in SQLite and PostgreSQL (dicts in ``MemoryStore``), kept
apart from the append path: nothing here touches the events or the calls'
projection.

- ``IdempotencyKeys``: ``POST /calls`` claims an ``Idempotency-Key`` before
  it places the call, in one transaction (of two requests with one key, one
  claims it, the other is told who holds it), then settles it with the
  CallSid the provider gave; a key whose call was certainly not placed (the
  provider refused it) is released for a retry.
- ``ForwardCursors``: per forward target, the position in ``read_all`` up to
  which every status change was delivered. It only moves forward.
"""

from __future__ import annotations

from typing import Final, Protocol, runtime_checkable

import attrs

from callstate._errors import UsageError

__all__ = ["ForwardCursors", "IdempotencyKeys", "KeyClaim", "check_key", "check_target"]

#: The longest idempotency key or forward target a store keeps.
MAX_KEY: Final = 255
MAX_TARGET: Final = 2_048


@attrs.frozen(kw_only=True)
class KeyClaim:
    """Who holds an idempotency key: the request's fingerprint and, once placed, its call."""

    fingerprint: str
    #: None while the request that claimed it is placing the call, or if its outcome is unknown.
    call_sid: str | None


@runtime_checkable
class IdempotencyKeys(Protocol):
    """A store that keeps ``POST /calls``' idempotency keys."""

    def claim_key(self, key: str, fingerprint: str) -> KeyClaim | None:
        """Claim ``key`` for a request: None if this caller claimed it now, else its holder."""
        ...

    def settle_key(self, key: str, call_sid: str) -> None:
        """Record the call placed under ``key`` (claimed before)."""
        ...

    def release_key(self, key: str) -> None:
        """Forget ``key`` if no call was settled under it: the call was certainly not placed."""
        ...


@runtime_checkable
class ForwardCursors(Protocol):
    """A store that keeps each forward target's position."""

    def forward_position(self, target: str) -> int:
        """The position up to which every change was delivered to ``target`` (0: none)."""
        ...

    def set_forward_position(self, target: str, position: int) -> None:
        """Move ``target``'s position to ``position``; never backwards."""
        ...

    def forward_positions(self) -> dict[str, int]:
        """Every target's position (what retention must not pass)."""
        ...


def check_key(key: str, fingerprint: str) -> None:
    """What every store refuses in ``claim_key``."""
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY:
        raise UsageError(f"an idempotency key must be 1 to {MAX_KEY} characters of text")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise UsageError("a request fingerprint must be non-empty text")


def check_target(target: str, position: int = 0) -> None:
    """What every store refuses in ``set_forward_position``."""
    if not isinstance(target, str) or not 1 <= len(target) <= MAX_TARGET:
        raise UsageError(f"a forward target must be 1 to {MAX_TARGET} characters of text")
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise UsageError(f"a position must be a whole number, 0 or more, not {position!r}")
