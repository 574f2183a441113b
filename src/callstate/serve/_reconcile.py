"""Reconciliation: fetch the calls whose outcome the callbacks left unknown, fold them in.

A pass lists the candidates from the store's projection (live statuses and
``ended``, a page at a time from its status index: ``calls_page``), asks
the core which need a fetch (``needs_reconciliation``, or a ``Tick``
finding them overdue), fetches each from the Calls API with
bounded concurrency and folds the answer in as ``Reconcile``. A call whose
fetch failed, or whose answer left it unresolved, waits a doubling pause
before the next fetch. Nothing a call does stops the pass; failures are
counted and logged.

Over a store with leases (``PostgresStore.lease``), each fetch holds the
call's lease, so receivers sharing the store never fetch one call at once;
the state is read again under the lease, so a call another receiver just
resolved is not fetched again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager as ContextManager
from datetime import UTC, datetime
from typing import Protocol

import attrs

from callstate._background import in_background
from callstate._core._call import CallState
from callstate._core._state import CallStatus
from callstate._core._values import Reconcile, Tick
from callstate._errors import CallstateError, StoreError, UsageError
from callstate.client import Calls, CallsApi, Profile, Retry
from callstate.client.urllib import UrllibTransport
from callstate.serve._config import ServeConfig
from callstate.stores import Runner

__all__ = [
    "CANDIDATES",
    "PassReport",
    "api_for",
    "Reconciler",
    "needs_fetch",
    "profile_for",
    "reconciler_for",
    "running",
]

LOGGER = logging.getLogger("callstate.serve.reconcile")

#: The statuses a call may need a fetch in: every live one, and ``ended``.
CANDIDATES = (*(s for s in CallStatus if not s.is_final), CallStatus.ENDED)


#: CallSids read from the store at a time while listing the candidates.
_PAGE = 1_000


class Leases(Protocol):
    """A store that can lease a call to one fetcher at a time (``PostgresStore``)."""

    def lease(self, call_sid: str) -> ContextManager[bool]: ...


def needs_fetch(runner: Runner, state: CallState, now: datetime) -> bool:
    """The core's verdict: the outcome is unknown (``ended``) or a ``Tick`` finds it overdue."""
    if state.needs_reconciliation:
        return True
    return bool(runner.decider.decide(Tick(now=now), state))


@attrs.frozen(kw_only=True)
class PassReport:
    """What one pass did: calls listed, due, fetched and folded in, failed, and skipped."""

    candidates: int
    due: int
    reconciled: int
    failed: int
    #: Leased by another receiver, or resolved by one before this fetch.
    skipped: int

    def as_json(self) -> dict[str, int]:
        return attrs.asdict(self)


@attrs.define
class _Tally:
    reconciled: int = 0
    failed: int = 0
    skipped: int = 0
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def add(self, kind: str) -> None:
        with self.lock:
            setattr(self, kind, getattr(self, kind) + 1)


@contextlib.contextmanager
def _no_lease(call_sid: str) -> Iterator[bool]:
    yield True


class Reconciler:
    """Passes of reconciliation over ``runner``'s store, fetching through ``calls``.

    ``concurrency`` fetches run at once (each in a thread: ``Calls`` is
    sync). A call that failed or stayed unresolved ``n`` times in a row is
    not fetched again for ``backoff * 2**(n-1)`` seconds, at most
    ``max_backoff``. ``clock`` and ``monotonic`` are injected for tests.
    """

    def __init__(
        self,
        runner: Runner,
        calls: Calls,
        *,
        concurrency: int = 4,
        backoff: float = 30.0,
        max_backoff: float = 900.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if concurrency < 1:
            raise UsageError(f"concurrency must be 1 or more, not {concurrency}")
        self.runner = runner
        self.calls = calls
        self.concurrency = concurrency
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._clock = clock
        self._monotonic = monotonic
        store = runner.store
        lease = getattr(store, "lease", None)
        self._lease: Callable[[str], ContextManager[bool]] = lease if callable(lease) else _no_lease
        # CallSid -> (misses in a row, monotonic time before which it is not fetched).
        self._waiting: dict[str, tuple[int, float]] = {}
        self._waiting_lock = threading.Lock()
        #: Totals over every pass, for logs and tests.
        self.totals = {"passes": 0, "reconciled": 0, "failed": 0, "skipped": 0}

    def due(self) -> tuple[int, list[str]]:
        """(candidates listed, the CallSids due for a fetch now)."""
        now, tick = self._monotonic(), self._clock()
        due = []
        listed = 0
        for sid in self._candidates():
            listed += 1
            with self._waiting_lock:
                waiting = self._waiting.get(sid)
            if waiting is not None and now < waiting[1]:
                continue
            state = self.runner.get(sid)
            if state is not None and needs_fetch(self.runner, state, tick):
                due.append(sid)
        return listed, due

    def _candidates(self) -> Iterator[str]:
        """The calls stored live or ``ended``, a page at a time from the status index."""
        store = self.runner.store
        after = ""
        while page := store.calls_page(*CANDIDATES, after=after, limit=_PAGE):
            yield from page
            after = page[-1]

    def run_pass(self) -> PassReport:
        """One pass: every call due is fetched (or skipped) before this returns."""
        tally = _Tally()
        try:
            listed, due = self.due()
        except StoreError as exc:
            LOGGER.warning("reconciliation could not list calls: %s", exc)
            self._count(tally, passes=1, failed=1)
            return PassReport(candidates=0, due=0, reconciled=0, failed=1, skipped=0)
        if due:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="callstate-fetch") as pool:
                for sid in due:
                    pool.submit(self._one, sid, tally)
        self._count(tally, passes=1)
        report = PassReport(
            candidates=listed,
            due=len(due),
            reconciled=tally.reconciled,
            failed=tally.failed,
            skipped=tally.skipped,
        )
        if due:
            LOGGER.info("reconciliation pass", extra=report.as_json())
        return report

    def _count(self, tally: _Tally, *, passes: int, failed: int = 0) -> None:
        totals = self.totals
        totals["passes"] += passes
        totals["reconciled"] += tally.reconciled
        totals["failed"] += tally.failed + failed
        totals["skipped"] += tally.skipped

    def _one(self, sid: str, tally: _Tally) -> None:
        try:
            tally.add(self._fetch(sid))
        except (CallstateError, OSError) as exc:
            tally.add("failed")
            self._miss(sid)
            LOGGER.warning("reconciliation of %s failed: %s: %s", sid, type(exc).__name__, exc)
        except Exception:  # a failure never stops the loop, whatever it is
            tally.add("failed")
            self._miss(sid)
            LOGGER.exception("reconciliation of %s failed unexpectedly", sid)

    def _fetch(self, sid: str) -> str:
        with self._lease(sid) as leased:
            if not leased:
                return "skipped"
            # Read again under the lease: another receiver may have resolved it.
            state = self.runner.get(sid)
            if state is None or not needs_fetch(self.runner, state, self._clock()):
                self._forget(sid)
                return "skipped"
            resource = self.calls.fetch(sid)
            outcome = self.runner.handle(Reconcile(resource=resource, observed_at=self._clock()))
        if outcome.after.outcome_known:
            self._forget(sid)
        else:
            self._miss(sid)  # still live at the provider: ask again later
        return "reconciled"

    def _miss(self, sid: str) -> None:
        with self._waiting_lock:
            misses = self._waiting.get(sid, (0, 0.0))[0] + 1
            pause = min(self.max_backoff, self.backoff * 2 ** (misses - 1))
            self._waiting[sid] = (misses, self._monotonic() + pause)

    def _forget(self, sid: str) -> None:
        with self._waiting_lock:
            self._waiting.pop(sid, None)

    def run_forever(self, interval: float, stop: threading.Event) -> None:
        """A pass every ``interval`` seconds until ``stop`` is set; nothing stops it but that."""
        while not stop.is_set():
            try:
                self.run_pass()
            except Exception:  # the loop outlives any one pass
                LOGGER.exception("reconciliation pass failed")
            stop.wait(interval)


def profile_for(name: str, base_url: str | None) -> Profile:
    """The client profile ``--profile`` and ``--api-base-url`` name."""
    if name == "twilio":
        return Profile.twilio(base_url)
    if name == "api19":
        return Profile.api19(base_url)
    if name == "restcomm":
        if base_url is None:
            raise UsageError("profile restcomm needs api_base_url (the part before /Accounts)")
        return Profile.restcomm("http://restcomm.invalid").with_base_url(base_url)
    raise UsageError(f"profile must be api19, restcomm or twilio, not {name!r}")


def api_for(config: ServeConfig) -> CallsApi | None:
    """The provider's Calls API the settings name; None without provider credentials."""
    if config.account_sid is None:
        return None
    if config.auth_token is None:
        raise UsageError("account_sid needs auth_token (CALLSTATE_AUTH_TOKEN) to fetch calls")
    return CallsApi(
        account_sid=config.account_sid,
        token=config.auth_token,
        profile=profile_for(config.profile, config.api_base_url),
    )


def reconciler_for(config: ServeConfig, runner: Runner) -> Reconciler | None:
    """The reconciler the settings ask for; None without provider credentials."""
    api = api_for(config)
    if api is None:
        return None
    calls = Calls(api, UrllibTransport(timeout=config.api_timeout), retry=Retry(attempts=3))
    return Reconciler(
        runner,
        calls,
        concurrency=config.reconcile_concurrency,
        backoff=config.reconcile_interval,
    )


@contextlib.contextmanager
def running(reconciler: Reconciler | None, interval: float) -> Iterator[None]:
    """Run ``reconciler`` in a background thread for the duration of the block."""
    if reconciler is None:
        yield
        return
    try:
        with in_background(reconciler.run_forever, interval, "callstate-reconcile"):
            yield
    finally:
        reconciler.calls.close()
