"""``--forward URL``: every status change sent to the app as a signed webhook.

One thread per target reads the store's log in position order from the
target's durable cursor (``read_all(after=...)``), works out the status
changes each event made (the core's own: ``Decider.advance`` over the
call's log up to that event, exactly what the runner reported when it wrote
it) and POSTs each change, in order, until the target answers 2xx, with a
doubling pause between attempts. The cursor moves past an event once every
change it made was delivered, so after a crash or a restart delivery
resumes where it stopped: a change is delivered at least once, never
skipped, and a change whose answer was lost with the process is sent again
with the same ``webhook-id`` and the same body, for the app to drop.

The webhooks follow Standard Webhooks (standardwebhooks.com):
``webhook-id`` (derived from the call and the change, never from the
attempt), ``webhook-timestamp`` (the attempt's Unix time) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``,
keyed with the secret given as ``whsec_<base64>``. The body::

    {"type": "call.status_changed", "timestamp": "<ISO 8601 of the event>",
     "data": {"call_sid": ..., "previous": "ringing", "status": "in-progress",
              "final": false, "outcome_known": false, "position": 12, "version": 3}}

Since the changes are the core's, an answered call is reported once and its
outcome once, whatever order the callbacks came in, duplicates included. A
call can be ``ended`` first (``final``, but how it ended not told: a
``completed`` that followed no answer), then its outcome
(``outcome_known``) when a later callback or a fetch tells it; the only
other changes of a final call are corrections (better evidence).

Over a store with leases (``PostgresStore.lease``), each batch is sent
under the target's lease, so receivers sharing a database take turns on a
target rather than sending each change once each.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager as ContextManager
from datetime import datetime
from typing import Final

import attrs

from callstate._core._call import CallState
from callstate._core._decider import Decider
from callstate._core._state import CallStatus
from callstate._core._values import StatusChange
from callstate._errors import CallstateError, InvalidParameter, UsageError
from callstate._version import __version__
from callstate.client._profile import check_http_url
from callstate.stores import EventStore, StoredEvent
from callstate.stores._side import ForwardCursors

__all__ = [
    "ForwardStats",
    "Forwarder",
    "Forwarding",
    "Notice",
    "changes_of",
    "check_targets",
    "read_secret",
    "sign",
    "webhook_id",
]

LOGGER = logging.getLogger("callstate.serve.forward")
_PREFIX: Final = "whsec_"
#: Standard Webhooks recommends secrets of 24 to 64 bytes.
_SECRET_BYTES: Final = (24, 64)
_BATCH: Final = 500
#: States of calls kept between batches, so a call's log is read once, not per event.
_KNOWN_STATES: Final = 10_000


def read_secret(value: str) -> bytes:
    """The key of a ``whsec_<base64>`` secret; ``UsageError`` naming what is wrong."""
    if not isinstance(value, str) or not value.startswith(_PREFIX):
        raise UsageError("--forward-secret (CALLSTATE_FORWARD_SECRET) must be whsec_<base64>")
    try:
        key = base64.b64decode(value[len(_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("--forward-secret (CALLSTATE_FORWARD_SECRET): not base64") from None
    low, high = _SECRET_BYTES
    if not low <= len(key) <= high:
        raise UsageError(
            f"--forward-secret (CALLSTATE_FORWARD_SECRET) must hold {low} to {high} bytes, "
            f"not {len(key)}: make one with `openssl rand -base64 32`"
        )
    return key


def check_targets(targets: Iterable[str]) -> tuple[str, ...]:
    """The forward URLs, each an absolute http(s) URL, each once."""
    found: list[str] = []
    for target in targets:
        try:
            check_http_url("--forward", target)
        except InvalidParameter as exc:
            raise UsageError(f"--forward (CALLSTATE_FORWARD) {target[:80]!r}: {exc}") from None
        if target not in found:
            found.append(target)
    return tuple(found)


def sign(key: bytes, webhook: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: ``v1,`` and the base64 HMAC-SHA256 of id.timestamp.body."""
    signed = b"%s.%d.%s" % (webhook.encode(), timestamp, body)
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def webhook_id(call_sid: str, version: int, index: int) -> str:
    """One change's id: the call, the event's place in its log, the change's place in the event."""
    digest = hashlib.sha256(f"{call_sid}\x00{version}\x00{index}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


@attrs.frozen(kw_only=True)
class Notice:
    """One status change as the app receives it: its id, its body, the event's position."""

    webhook_id: str
    body: bytes
    position: int


def _when(stored: StoredEvent) -> datetime | None:
    event = stored.event
    for name in ("received_at", "observed_at", "placed_at", "at"):
        value = getattr(event, name, None)
        if isinstance(value, datetime):
            return value
    return None


def _notice(stored: StoredEvent, index: int, change: StatusChange) -> Notice:
    when = _when(stored)
    body = {
        "type": "call.status_changed",
        "timestamp": None if when is None else when.isoformat(),
        "data": {
            "call_sid": stored.call_sid,
            "previous": change.previous.value,
            "status": change.status.value,
            "final": change.status.is_final,
            "outcome_known": change.status.is_final and change.status is not CallStatus.ENDED,
            "position": stored.position,
            "version": stored.version,
        },
    }
    return Notice(
        webhook_id=webhook_id(stored.call_sid, stored.version, index),
        body=json.dumps(body, separators=(",", ":")).encode(),
        position=stored.position,
    )


class _States:
    """Each call's state as of its last event read, from the log when not known."""

    def __init__(self, store: EventStore, decider: Decider) -> None:
        self._store = store
        self._decider = decider
        self._known: OrderedDict[str, tuple[int, CallState]] = OrderedDict()

    def changes(self, stored: StoredEvent) -> tuple[StatusChange, ...]:
        sid = stored.call_sid
        known = self._known.pop(sid, None)
        if known is None or known[0] != stored.version - 1:
            earlier = [e.event for e in self._store.load(sid) if e.version < stored.version]
            state = self._decider.fold(earlier, sid)
        else:
            state = known[1]
        after, changes = self._decider.advance(state, [stored.event])
        self._known[sid] = (stored.version, after)
        if len(self._known) > _KNOWN_STATES:
            self._known.popitem(last=False)
        return changes


def changes_of(
    store: EventStore, decider: Decider, events: Sequence[StoredEvent]
) -> Iterator[Notice]:
    """The notices of ``events`` (in position order), read as a forwarder reads them."""
    states = _States(store, decider)
    for stored in events:
        for index, change in enumerate(states.changes(stored)):
            yield _notice(stored, index, change)


@attrs.define
class ForwardStats:
    """Counts over every target, for logs and ``/metrics``: read ``snapshot()``."""

    #: Changes read from the log and not delivered yet.
    pending: int = 0
    #: Attempts that failed (an answer other than 2xx, or none).
    failed: int = 0
    delivered: int = 0
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def add(self, *, pending: int = 0, failed: int = 0, delivered: int = 0) -> None:
        with self._lock:
            self.pending += pending
            self.failed += failed
            self.delivered += delivered

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"pending": self.pending, "failed": self.failed, "delivered": self.delivered}


Send = Callable[[str, bytes, dict[str, str]], int]


def _send(timeout: float) -> Send:
    def send(url: str, body: bytes, headers: dict[str, str]) -> int:
        ask = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(ask, timeout=timeout) as answer:
                answer.read()
                status: int = answer.status
                return status
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code

    return send


@contextlib.contextmanager
def _no_lease(name: str) -> Iterator[bool]:
    yield True


class Forwarder:
    """Delivers every status change in ``store`` to ``target``, from its cursor.

    ``backoff`` is the first pause after a failed attempt, doubled each
    time up to ``max_backoff``; ``poll`` the pause when nothing is new.
    ``send``, ``clock`` (Unix time) and ``wait`` are injected for tests.
    """

    def __init__(
        self,
        store: EventStore,
        decider: Decider,
        target: str,
        key: bytes,
        *,
        stats: ForwardStats | None = None,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        poll: float = 0.25,
        timeout: float = 10.0,
        send: Send | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(store, ForwardCursors):
            raise UsageError(f"--forward needs a store that keeps cursors, not {store!r}")
        self.store = store
        self.cursors: ForwardCursors = store
        self.target = target
        self.stats = stats or ForwardStats()
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.poll = poll
        self._key = key
        self._send = send or _send(timeout)
        self._clock = clock
        self._states = _States(store, decider)
        lease = getattr(store, "lease", None)
        self._lease: Callable[[str], ContextManager[bool]] = lease if callable(lease) else _no_lease
        self._headers = {
            "Content-Type": "application/json",
            "User-Agent": f"callstate/{__version__}",
        }

    def run_batch(self, stop: threading.Event) -> int:
        """Deliver what follows the cursor, one batch; how many events it moved past."""
        with self._lease(f"forward:{self.target}") as mine:
            if not mine:
                return 0  # another receiver is sending to this target now
            after = self.cursors.forward_position(self.target)
            events = self.store.read_all(after=after, limit=_BATCH)
            if not events:
                return 0
            by_event = [
                [
                    _notice(stored, n, change)
                    for n, change in enumerate(self._states.changes(stored))
                ]
                for stored in events
            ]
            total = sum(len(notices) for notices in by_event)
            self.stats.add(pending=total)
            sent = 0
            try:
                for stored, notices in zip(events, by_event, strict=True):
                    for notice in notices:
                        if not self._deliver(notice, stop):
                            return 0  # stopping: the cursor stays before this event
                        sent += 1
                        self.stats.add(pending=-1, delivered=1)
                    if notices:  # every change of this event (and of those before) was sent
                        self.cursors.set_forward_position(self.target, stored.position)
                if events[-1].position > after and not by_event[-1]:
                    self.cursors.set_forward_position(self.target, events[-1].position)
            finally:
                self.stats.add(pending=sent - total)
            return len(events)

    def _deliver(self, notice: Notice, stop: threading.Event) -> bool:
        """Send ``notice`` until a 2xx; False if told to stop first."""
        pause = self.backoff
        attempts = 0
        while not stop.is_set():
            attempts += 1
            stamp = math.floor(self._clock())
            headers = {
                **self._headers,
                "webhook-id": notice.webhook_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign(self._key, notice.webhook_id, stamp, notice.body),
            }
            try:
                status = self._send(self.target, notice.body, headers)
                failure = None if 200 <= status < 300 else f"HTTP {status}"
            except (OSError, ValueError) as exc:  # refused, reset, timed out
                failure = f"{type(exc).__name__}: {exc}"
            if failure is None:
                return True
            self.stats.add(failed=1)
            LOGGER.warning(
                "forwarding failed; retrying",
                extra={
                    "target": self.target,
                    "webhook_id": notice.webhook_id,
                    "attempt": attempts,
                    "error": failure,
                    "retry_in": pause,
                },
            )
            stop.wait(pause)
            pause = min(self.max_backoff, pause * 2)
        return False

    def run_forever(self, stop: threading.Event) -> None:
        """Batches until ``stop``; a failure of the store waits, never ends the loop."""
        pause = self.poll
        while not stop.is_set():
            try:
                moved = self.run_batch(stop)
                pause = self.poll
            except CallstateError as exc:
                LOGGER.warning("forwarding paused: %s: %s", type(exc).__name__, exc)
                moved, pause = 0, min(self.max_backoff, max(pause * 2, self.backoff))
            except Exception:  # the loop outlives any one batch
                LOGGER.exception("forwarding batch failed")
                moved, pause = 0, min(self.max_backoff, max(pause * 2, self.backoff))
            if not moved:
                stop.wait(pause)


class Forwarding:
    """The forwarders of a receiver, one thread each, and their shared ``stats``."""

    def __init__(self, forwarders: Sequence[Forwarder], stats: ForwardStats) -> None:
        self.forwarders = tuple(forwarders)
        self.stats = stats
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @classmethod
    def of(
        cls, store: EventStore, decider: Decider, targets: Sequence[str], secret: str | None
    ) -> Forwarding | None:
        if not targets:
            return None
        if secret is None:
            raise UsageError(
                "--forward needs a signing secret: CALLSTATE_FORWARD_SECRET=whsec_<base64>"
            )
        key = read_secret(secret)
        stats = ForwardStats()
        return cls([Forwarder(store, decider, t, key, stats=stats) for t in targets], stats)

    def start(self) -> None:
        for n, forwarder in enumerate(self.forwarders):
            thread = threading.Thread(
                target=forwarder.run_forever,
                args=(self._stop,),
                name=f"callstate-forward-{n}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
