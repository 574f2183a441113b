"""The port every event store implements, and the values it speaks in.

A call's log is the sequence of its events; its *version* is the number of
events in it (0 for a call nothing is known of). Every event also gets a
*global position*, unique across calls, growing with each call's versions.

What every store promises readers: ``read_all(after=p)`` returns events in
position order and never returns an event while an event with a smaller
position may still be committed. So a subscriber that resumes from the last
position it processed sees every event exactly once, in position order.
Positions may have gaps: readers must not expect ``p + 1`` after ``p``.
``MemoryStore`` and ``SQLiteStore`` (one writer at a time) happen to have
none; ``PostgresStore`` (concurrent writers) may, and waits out the holes
that an unfinished transaction could still fill.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol, Self, runtime_checkable

import attrs

from callstate._core._state import CallStatus
from callstate._core._values import Event
from callstate._errors import UsageError

__all__ = [
    "Append",
    "EventStore",
    "SharedPaths",
    "StoredEvent",
    "check_append",
    "check_page",
    "one_event",
]


@attrs.frozen(kw_only=True)
class StoredEvent:
    """An event as a store holds it: where it sits globally and in its call."""

    #: Unique across the store, from 1; later versions of a call have larger ones.
    position: int
    call_sid: str
    #: The event's place in its call's log, from 1.
    version: int
    event: Event


@attrs.frozen(kw_only=True)
class Append:
    """New events for one call, to add if the call is still at ``expected_version``.

    ``status`` is the call's status once they are folded in: the projection
    (calls by current status) is written in the same transaction as the log.
    """

    call_sid: str
    expected_version: int
    events: tuple[Event, ...]
    status: CallStatus


@runtime_checkable
class EventStore(Protocol):
    """Where calls' events are kept.

    Implementations translate their driver's errors into ``StoreUnavailable``
    (cannot be used now) and ``VersionConflict`` (another writer appended
    first) in one place; nothing else escapes but ``UsageError`` (a misuse)
    and ``StoreError`` (a stored event that cannot be read).
    """

    def append(
        self,
        call_sid: str,
        expected_version: int,
        events: Sequence[Event],
        *,
        status: CallStatus,
    ) -> tuple[StoredEvent, ...]:
        """Add ``events`` to a call's log atomically, iff it is at ``expected_version``.

        Raises ``VersionConflict`` if another writer appended first, and also
        if the log already holds an accepted delivery with the same CallSid,
        SequenceNumber and content (a duplicate racing another writer is
        stored once). The projection row of the call is set to ``status``.
        """
        ...

    def append_many(self, appends: Sequence[Append]) -> tuple[StoredEvent, ...]:
        """Every one of ``appends`` in one transaction, or none (a batch import)."""
        ...

    def load(self, call_sid: str, after_version: int = 0) -> tuple[StoredEvent, ...]:
        """A call's events with a version above ``after_version``, in version order."""
        ...

    def read_all(self, after: int = 0, limit: int = 1_000) -> tuple[StoredEvent, ...]:
        """Up to ``limit`` events with a position above ``after``, in position order."""
        ...

    def calls_with_status(self, *statuses: CallStatus) -> tuple[str, ...]:
        """The CallSids whose current status is one of ``statuses``, sorted."""
        ...

    def calls_page(
        self, *statuses: CallStatus, after: str = "", limit: int = 100
    ) -> tuple[str, ...]:
        """Up to ``limit`` CallSids above ``after`` whose current status is one of ``statuses``.

        Sorted by code point, as ``calls_with_status``: the last CallSid of a
        page is the ``after`` of the next (a cursor), so pages never repeat or
        skip a call that kept its status. The store answers from an index on
        (status, CallSid): a page costs the same over a thousand calls or a
        million. ``UsageError`` for a negative ``limit``; 0 gives ``()``.
        """
        ...

    def close(self) -> None:
        """Release connections and files. Idempotent."""
        ...


def check_append(item: Append) -> None:
    """What every store refuses before touching its storage."""
    if item.expected_version < 0:
        raise UsageError(f"expected_version must be 0 or more, not {item.expected_version}")
    if not item.events:
        raise UsageError("an append needs at least one event")
    for event in item.events:
        sid = event.call_sid
        if sid != item.call_sid:
            raise UsageError(f"an event of call {sid!r} appended to call {item.call_sid!r}")


def check_page(statuses: Sequence[CallStatus], after: str, limit: int) -> tuple[CallStatus, ...]:
    """What every store refuses in ``calls_page``; the statuses wanted, each once."""
    if not isinstance(after, str):
        raise UsageError(f"after must be a CallSid (a str), not {type(after).__name__}")
    if "\x00" in after:
        raise UsageError("after must not contain NUL (no CallSid does)")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise UsageError(f"limit must be a whole number, 0 or more, not {limit!r}")
    try:
        return tuple(dict.fromkeys(CallStatus(s) for s in statuses))
    except ValueError:
        raise UsageError(f"statuses must be CallStatus values, not {statuses!r}") from None


def one_event(
    call_sid: str, expected_version: int, events: Sequence[Event], status: CallStatus
) -> Event | Append:
    """What ``append`` does with its arguments: write one event the short way, or a batch.

    The one event when there is exactly one, of this call, at a version that
    can be; else the append as a batch of one, for ``append_many`` (which
    checks it, and refuses or writes it).
    """
    if type(events) is not tuple:
        events = tuple(events)  # any iterable, as a batch takes it
    if len(events) == 1 and expected_version >= 0 and events[0].call_sid == call_sid:
        return events[0]
    return Append(
        call_sid=call_sid, expected_version=expected_version, events=events, status=status
    )


class SharedPaths(ABC):
    """What callstate's own stores do alike, written once: they inherit it.

    ``append`` takes one event the short way, as a webhook worker appends it
    (``_append_one``: the checks and writes of ``append_many`` without its
    batch bookkeeping; ``tests/stores/test_stores_contract.py`` holds each store to
    a batch of one), and hands anything else to ``append_many`` as a batch of
    one. ``calls_page`` checks its arguments and asks ``_page`` only for a
    page that can hold a call. A ``with`` block closes the store.
    """

    def append(
        self, call_sid: str, expected_version: int, events: Sequence[Event], *, status: CallStatus
    ) -> tuple[StoredEvent, ...]:
        event = one_event(call_sid, expected_version, events, status)
        if isinstance(event, Append):
            return self.append_many((event,))
        return self._append_one(call_sid, expected_version, event, status)

    def calls_page(
        self, *statuses: CallStatus, after: str = "", limit: int = 100
    ) -> tuple[str, ...]:
        wanted = check_page(statuses, after, limit)
        if not wanted or limit == 0:
            return ()
        return self._page(wanted, after, limit)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def append_many(self, appends: Sequence[Append]) -> tuple[StoredEvent, ...]: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def _append_one(
        self, call_sid: str, expected_version: int, event: Event, status: CallStatus
    ) -> tuple[StoredEvent, ...]:
        """One event of ``call_sid`` at ``expected_version`` (0 or more), stored or refused."""

    @abstractmethod
    def _page(self, wanted: tuple[CallStatus, ...], after: str, limit: int) -> tuple[str, ...]:
        """Up to ``limit`` (1 or more) CallSids above ``after``, of the ``wanted`` statuses."""
