"""The in-memory store: the reference implementation, and what tests use by default."""

from __future__ import annotations

import heapq
import threading
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from typing import Final

from callstate._core._make import maker
from callstate._core._state import CallStatus
from callstate._core._values import DeliveryAccepted, Event
from callstate._errors import VersionConflict
from callstate.stores._codec import delivery_key
from callstate.stores._port import Append, SharedPaths, StoredEvent, check_append
from callstate.stores._side import KeyClaim, check_key, check_target

__all__ = ["MemoryStore"]

_stored: Final = maker(StoredEvent)


class MemoryStore(SharedPaths):
    """Every call's log in a dict, one lock around it. Lost with the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: list[StoredEvent] = []
        self._calls: dict[str, list[StoredEvent]] = {}
        self._keys: set[tuple[str, str]] = set()
        self._status: dict[str, CallStatus] = {}
        # Beside the log (stores/_side.py): idempotency keys, forward cursors.
        self._claims: dict[str, KeyClaim] = {}
        self._cursors: dict[str, int] = {}

    def _append_one(
        self, call_sid: str, expected_version: int, event: Event, status: CallStatus
    ) -> tuple[StoredEvent, ...]:
        # One event, what a webhook worker appends: append_many's checks and
        # writes without its batch bookkeeping (a test proves they agree).
        key = None
        if isinstance(event, DeliveryAccepted):
            key = (call_sid, delivery_key(event.delivery))
        with self._lock:
            log = self._calls.get(call_sid)
            actual = 0 if log is None else len(log)
            if actual != expected_version or key in self._keys:
                raise VersionConflict(call_sid, expected_version, actual)
            if log is None:
                log = self._calls[call_sid] = []
            record = _stored(len(self._log) + 1, call_sid, actual + 1, event)
            log.append(record)
            self._log.append(record)
            self._status[call_sid] = status
            if key is not None:
                self._keys.add(key)
            return (record,)

    def append_many(self, appends: Sequence[Append]) -> tuple[StoredEvent, ...]:
        with self._lock:
            # Check everything first: all or nothing.
            versions: dict[str, int] = {}
            keys: set[tuple[str, str]] = set()
            for item in appends:
                check_append(item)
                actual = versions.get(item.call_sid)
                if actual is None:
                    actual = len(self._calls.get(item.call_sid, ()))
                if actual != item.expected_version:
                    raise VersionConflict(item.call_sid, item.expected_version, actual)
                for event in item.events:
                    if isinstance(event, DeliveryAccepted):
                        key = (item.call_sid, delivery_key(event.delivery))
                        if key in self._keys or key in keys:
                            raise VersionConflict(item.call_sid, item.expected_version, actual)
                        keys.add(key)
                versions[item.call_sid] = actual + len(item.events)
            stored: list[StoredEvent] = []
            position = len(self._log)
            for item in appends:
                log = self._calls.setdefault(item.call_sid, [])
                for event in item.events:
                    position += 1
                    record = StoredEvent(
                        position=position,
                        call_sid=item.call_sid,
                        version=len(log) + 1,
                        event=event,
                    )
                    log.append(record)
                    stored.append(record)
                self._status[item.call_sid] = item.status
            self._log.extend(stored)
            self._keys |= keys
            return tuple(stored)

    def load(self, call_sid: str, after_version: int = 0) -> tuple[StoredEvent, ...]:
        with self._lock:
            return tuple(self._calls.get(call_sid, ())[max(after_version, 0) :])

    def read_all(self, after: int = 0, limit: int = 1_000) -> tuple[StoredEvent, ...]:
        with self._lock:
            start = bisect_right(self._log, after, key=lambda e: e.position)
            return tuple(self._log[start : start + max(limit, 0)])

    def calls_with_status(self, *statuses: CallStatus) -> tuple[str, ...]:
        wanted = set(statuses)
        with self._lock:
            return tuple(sorted(sid for sid, s in self._status.items() if s in wanted))

    def probe(self) -> None:
        """A health check's write probe: memory can always be written."""

    def count_by_status(self) -> dict[CallStatus, int]:
        """How many calls have each current status."""
        with self._lock:
            return dict(Counter(self._status.values()))

    def _page(self, wanted: tuple[CallStatus, ...], after: str, limit: int) -> tuple[str, ...]:
        # A scan of every call (no index): this store is for tests and small
        # data. heapq keeps only ``limit`` CallSids, so nothing is sorted whole.
        with self._lock:
            found = (sid for sid, s in self._status.items() if s in wanted and sid > after)
            return tuple(heapq.nsmallest(limit, found))

    # Beside the log: see stores/_side.py.

    def claim_key(self, key: str, fingerprint: str) -> KeyClaim | None:
        check_key(key, fingerprint)
        with self._lock:
            held = self._claims.get(key)
            if held is None:
                self._claims[key] = KeyClaim(fingerprint=fingerprint, call_sid=None)
            return held

    def settle_key(self, key: str, call_sid: str) -> None:
        with self._lock:
            held = self._claims.get(key)
            if held is not None:
                self._claims[key] = KeyClaim(fingerprint=held.fingerprint, call_sid=call_sid)

    def release_key(self, key: str) -> None:
        with self._lock:
            held = self._claims.get(key)
            if held is not None and held.call_sid is None:
                del self._claims[key]

    def forward_position(self, target: str) -> int:
        with self._lock:
            return self._cursors.get(target, 0)

    def set_forward_position(self, target: str, position: int) -> None:
        check_target(target, position)
        with self._lock:
            self._cursors[target] = max(position, self._cursors.get(target, 0))

    def forward_positions(self) -> dict[str, int]:
        with self._lock:
            return dict(self._cursors)

    def close(self) -> None:
        pass
