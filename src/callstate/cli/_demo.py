"""``callstate demo``: what callstate is for, in one command.

It starts the fake provider and the receiver (SQLite by default), places
calls with chaos on (duplicated, reordered, early and dropped callbacks),
reconciles what the callbacks left unknown, and prints how every call ended
beside the provider's truth. The exit status is 1 if any call did not
converge to the truth.

Under one seed and one number of calls, every count but ``arrived out of
order`` (and the time taken) is the same on every run: the fake provider
draws each call's outcome and chaos from the seed in the order the calls
are placed, and the chaos counts are read from that plan. Which deliveries
overtake others depends on thread and socket timing, so that one count,
observed in the store, varies from run to run.

With ``serve=True`` (``callstate demo --serve``) the receiver is a real
``callstate serve`` process with reconciliation on, pointed at the fake
provider as its Calls API: 30% of callbacks are dropped, finals included,
the demo itself fetches nothing, and the receiver's reconciliation brings
every call to the provider's truth; the provider's GET log shows which
calls were fetched (none whose callbacks all arrived).

Why it lives in ``callstate.cli``: the demo is a command, and the only
shipped code that runs the testing kit (``callstate.testing``'s fake
provider) outside a test. The receiver (``callstate.serve``) must never
depend on the kit; a command that stages a provider for a reader to watch
may, so the dependency stands here, beside the other commands, and
``serve`` imports nothing from ``testing``.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import IO, Any, Literal

import attrs
import uvicorn

from callstate import providers
from callstate._core._call import CallState
from callstate._core._decider import Decider
from callstate._core._state import CallStatus
from callstate._core._values import (
    DeliveryAccepted,
    Dialect,
    Reconcile,
    ResourceObserved,
)
from callstate._errors import ApiError, UsageError
from callstate.client import CallParams, Calls, CallsApi, record_placed_call
from callstate.client.urllib import UrllibTransport
from callstate.serve._app import build_app
from callstate.stores import EventStore, Runner
from callstate.stores._open import open_store
from callstate.testing._fake_plan import steps_for
from callstate.testing.fake_provider import Chaos, FakeProvider
from callstate.web import TwilioSignature, Unverified, Verifier

__all__ = ["DemoReport", "run_demo"]

_EVENTS = ("initiated", "ringing", "answered", "completed")


@attrs.frozen(kw_only=True)
class DemoReport:
    """What the demo saw: per-status counts, chaos absorbed, and convergence."""

    calls: int
    ours: dict[str, int]
    truth: dict[str, int]
    callbacks_sent: int
    duplicates: int
    #: Callback copies the chaos delayed so that later ones may overtake them (the plan).
    delayed: int
    #: Deliveries stored after one with a higher SequenceNumber (observed: varies).
    reordered: int
    #: Callbacks of calls played whole before their create answer (the plan).
    early: int
    dropped: int
    conflicts: int
    reconciliations: int
    diverged: tuple[str, ...]
    seconds: float
    #: ``serve`` mode: calls fetched although every callback arrived and told the outcome.
    needless_fetches: int | None = None

    @property
    def converged(self) -> bool:
        return not self.diverged


class _Receiver:
    """The receiver app on uvicorn, in a thread, on an ephemeral loopback port."""

    def __init__(self, app: Any) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="callstate-receiver", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def __enter__(self) -> _Receiver:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the receiver did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()


def _reordered(store: EventStore) -> int:
    """Deliveries stored after one of the same call with a higher SequenceNumber."""
    reordered = 0
    highest: dict[str, int] = {}
    after = 0
    while batch := store.read_all(after=after, limit=1_000):
        for item in batch:
            event = item.event
            if isinstance(event, DeliveryAccepted):
                seq = event.delivery.sequence_number
                if seq < highest.get(item.call_sid, -1):
                    reordered += 1
                highest[item.call_sid] = max(seq, highest.get(item.call_sid, -1))
        after = batch[-1].position
    return reordered


def run_demo(
    calls: int = 200,
    *,
    store: str | None = None,
    seed: int = 2026,
    vocabulary: str = "twilio",
    workers: int = 8,
    progress: IO[str] | None = sys.stderr,
    serve: bool = False,
    provider_name: str = "twilio",
) -> DemoReport:
    """Run the demo end to end and return its report (nothing is printed but progress).

    ``provider_name``: the fake sends its callbacks in that provider's dialect
    (``callstate.providers``) and the receiver reads them so; its Calls API
    stays the Twilio family's, for placing and reconciling.
    """
    started = time.monotonic()
    speaker = providers.get(provider_name)
    if serve and speaker.speak is not None:
        raise UsageError(f"--serve runs the Twilio family's callbacks only, not {provider_name}'s")
    folder = None
    if store is None:
        folder = tempfile.TemporaryDirectory(prefix="callstate-demo-")
        store = os.path.join(folder.name, "demo.sqlite")
    if serve:
        try:
            return _run_against_serve(calls, store, seed, vocabulary, workers, progress, started)
        finally:
            if folder is not None:
                folder.cleanup()
    chaos = Chaos(
        seed=seed, duplicate=0.2, drop=0.1, reorder=0.3, max_delay=0.05, early=0.1, sign=True
    )
    event_store = open_store(store)
    try:
        with FakeProvider(
            chaos=chaos,
            pace=0.005,
            vocabulary=vocabulary,  # type: ignore[arg-type]
            provider=speaker,
        ) as provider:
            runner = Runner(event_store, Decider(dialect=speaker.vocabulary_or(Dialect.AUTO)))
            # The fake signs the Twilio family's callbacks only; the others go unsigned
            # to this receiver on 127.0.0.1.
            verifier: Verifier = (
                TwilioSignature(secrets=[provider.token]) if speaker.speak is None else Unverified()
            )
            app = build_app(runner, verifier=verifier, dialect=speaker.dialect)
            with _Receiver(app) as receiver:
                callback = f"http://127.0.0.1:{receiver.port}/callbacks"
                api = CallsApi(
                    account_sid=provider.account_sid,
                    token=provider.token,
                    profile=provider.profile("twilio" if vocabulary == "twilio" else "restcomm"),
                )
                with Calls(api, UrllibTransport(timeout=10)) as client:
                    sids = _place(client, runner, calls, callback, workers, progress)
                    provider.wait_idle(timeout=60)
                    reconciliations = _reconcile(client, runner, sids)
            states = {sid: runner.state(sid) for sid in sids}
            kept = provider.calls()
            return _report(
                provider,
                states,
                started,
                reordered=_reordered(event_store),
                early=sum(len(delays) for c in kept if c.early for _, delays in c.plan),
                reconciliations=reconciliations,
            )
    finally:
        event_store.close()
        if folder is not None:
            folder.cleanup()


def _report(
    provider: FakeProvider,
    states: dict[str, CallState],
    started: float,
    *,
    reordered: int,
    early: int,
    reconciliations: int,
    needless_fetches: int | None = None,
) -> DemoReport:
    """What both modes report: the calls' states beside the provider's truth and record."""
    truth = {sid: provider.true_outcome(sid) for sid in states}
    sent = provider.sent()
    planned = sum(len(steps_for(outcome)) for outcome in truth.values())
    distinct = {(c.call_sid, dict(c.params).get("SequenceNumber")) for c in sent}
    kept = provider.calls()
    return DemoReport(
        calls=len(states),
        ours=dict(Counter(s.status.value for s in states.values())),
        truth=dict(Counter(truth.values())),
        callbacks_sent=len(sent),
        duplicates=sum(s.duplicates for s in states.values()),
        delayed=sum(1 for c in kept for _, delays in c.plan for d in delays if d > 0),
        reordered=reordered,
        early=early,
        dropped=planned - len(distinct),
        conflicts=sum(len(s.anomalies) for s in states.values()),
        reconciliations=reconciliations,
        diverged=tuple(sorted(s for s in states if states[s].status.value != truth[s])),
        seconds=time.monotonic() - started,
        needless_fetches=needless_fetches,
    )


#: The receiver's grace in ``serve`` mode: a call is overdue this long after it
#: was placed (its ring timeout 0). Callbacks are sent one at a time, so the
#: last of a few hundred calls' may come a second or two after it was placed.
_SERVE_GRACE = 3.0


def _run_against_serve(
    calls: int,
    store: str,
    seed: int,
    vocabulary: str,
    workers: int,
    progress: IO[str] | None,
    started: float,
) -> DemoReport:
    chaos = Chaos(seed=seed, duplicate=0.2, drop=0.3, reorder=0.3, max_delay=0.05, sign=True)
    with FakeProvider(chaos=chaos, pace=0.005, vocabulary=vocabulary) as provider:  # type: ignore[arg-type]
        profile: Literal["twilio", "restcomm"] = "twilio" if vocabulary == "twilio" else "restcomm"
        env = {
            "CALLSTATE_STORE": store,
            "CALLSTATE_AUTH_TOKEN": provider.token,
            "CALLSTATE_ACCOUNT_SID": provider.account_sid,
            "CALLSTATE_PROFILE": profile,
            "CALLSTATE_API_BASE_URL": provider.profile(profile).base_url,
            "CALLSTATE_RECONCILE_INTERVAL": "0.25",
            "CALLSTATE_RING_TIMEOUT": "0",
            "CALLSTATE_MAX_CALL_LENGTH": str(_SERVE_GRACE),
            "CALLSTATE_LOG_LEVEL": "warning",
        }
        event_store = open_store(store)
        try:
            runner = Runner(event_store, Decider(dialect=Dialect.AUTO))
            with _ServeProcess(env) as receiver:
                api = CallsApi(
                    account_sid=provider.account_sid,
                    token=provider.token,
                    profile=provider.profile(profile),
                )
                with Calls(api, UrllibTransport(timeout=10)) as client:
                    sids = _place(client, runner, calls, receiver.callbacks, workers, progress)
                provider.wait_idle(timeout=60)
                _wait_resolved(event_store, deadline=time.monotonic() + 60 + _SERVE_GRACE)
            states = {sid: runner.state(sid) for sid in sids}
            heard = {sid: _heard(event_store, sid) for sid in sids}
            reordered = _reordered(event_store)
        finally:
            event_store.close()
        truth = {sid: provider.true_outcome(sid) for sid in sids}
        accepted: dict[str, set[str | None]] = {}
        for c in provider.sent():
            if c.answer is not None and 200 <= c.answer < 300:
                accepted.setdefault(c.call_sid, set()).add(dict(c.params).get("SequenceNumber"))
        whole = {
            s
            for s in sids
            if len(accepted.get(s, ())) == len(steps_for(truth[s])) and heard[s].outcome_known
        }
        fetches = provider.fetches()
        return _report(
            provider,
            states,
            started,
            reordered=reordered,
            early=0,
            reconciliations=len(fetches),
            needless_fetches=len({f.call_sid for f in fetches} & whole),
        )


def _heard(store: EventStore, sid: str) -> CallState:
    """The call's state from what the callbacks and the create answer told, without GETs."""
    told = [item.event for item in store.load(sid) if not isinstance(item.event, ResourceObserved)]
    return Decider(dialect=Dialect.AUTO).fold(told, sid)


def _wait_resolved(store: EventStore, deadline: float) -> None:
    """Until no stored call is live or ``ended`` (the receiver reconciled them), or the deadline."""
    from callstate.serve._reconcile import CANDIDATES  # noqa: PLC0415 (imports the client)

    while store.calls_with_status(*CANDIDATES) and time.monotonic() < deadline:
        time.sleep(0.1)


class _ServeProcess:
    """``callstate serve`` as a child process on an ephemeral port, settings in its environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = {**os.environ, **env}
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)
        self._process: subprocess.Popen[bytes] | None = None
        self.callbacks = ""

    def __enter__(self) -> _ServeProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "callstate", "serve", "--port", "0", "--log-level", "info"],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env=self._env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self._process.poll() is None:
            self._log.seek(0)
            found = re.search(rb"running on (http://127\.0\.0\.1:\d+)", self._log.read())
            if found:
                self.callbacks = found.group(1).decode() + "/callbacks"
                return self
            time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("callstate serve did not start")

    def __exit__(self, *exc_info: object) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._log.close()


def _place(
    client: Calls,
    sink: Runner,
    count: int,
    callback: str,
    workers: int,
    progress: IO[str] | None,
) -> list[str]:
    params = CallParams(
        to="+15550100000",
        from_="+15550199999",
        url="https://app.example/answer",
        status_callback=callback,
        status_callback_event=_EVENTS,
        timeout=30,
    )
    done = 0
    lock = threading.Lock()

    def place_one(n: int) -> list[str]:
        nonlocal done
        placed_at = datetime.now(UTC)
        legs = client.create(attrs.evolve(params, to=f"+1555{n:07d}"))
        record_placed_call(
            sink, legs, placed_at=placed_at, answered_at=datetime.now(UTC), ring_timeout=None
        )
        with lock:
            done += 1
            if progress is not None and (done % 20 == 0 or done == count):
                progress.write(f"\rplaced {done}/{count} calls")
                progress.flush()
        return [leg.sid for leg in legs]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        sids = [sid for legs in pool.map(place_one, range(count)) for sid in legs]
    if progress is not None:
        progress.write("\n")
    return sids


def _reconcile(client: Calls, runner: Runner, sids: list[str]) -> int:
    """Fetch every call whose outcome the callbacks left unknown; fold the answer in."""
    count = 0
    for sid in sids:
        state = runner.state(sid)
        if state.outcome_known:
            continue
        try:
            resource = client.fetch(sid)
        except ApiError:
            continue
        runner.handle(Reconcile(resource=resource, observed_at=datetime.now(UTC)))
        count += 1
    return count


def render(report: DemoReport) -> str:
    """The summary table."""
    statuses = [s.value for s in CallStatus if s.is_final]
    width = max(len(s) for s in statuses) + 2
    lines = [f"{'final status':<{width}}{'callstate':>10}{'provider':>10}"]
    for status in statuses:
        ours, truth = report.ours.get(status, 0), report.truth.get(status, 0)
        if ours or truth:
            lines.append(f"{status:<{width}}{ours:>10}{truth:>10}")
    live = sum(v for k, v in report.ours.items() if not CallStatus(k).is_final)
    if live:
        lines.append(f"{'(not final)':<{width}}{live:>10}{0:>10}")
    lines += [
        "",
        f"calls placed             {report.calls}",
        f"callbacks sent           {report.callbacks_sent}",
        f"duplicates absorbed      {report.duplicates}",
        f"dropped by the network   {report.dropped}",
        f"delayed to be overtaken  {report.delayed}",
        f"early callbacks          {report.early}",
        f"conflicts reported       {report.conflicts}",
        f"reconciliations (GET)    {report.reconciliations}",
        *(
            [f"{'needless GETs':<25}{report.needless_fetches}"]
            if report.needless_fetches is not None
            else []
        ),
        f"converged to the truth   {report.calls - len(report.diverged)}/{report.calls}"
        + ("" if report.converged else "   DIVERGED: " + ", ".join(report.diverged[:5])),
        "",
        "varies from run to run (timing):",
        f"arrived out of order     {report.reordered}",
        f"took                     {report.seconds:.1f} s",
    ]
    return "\n".join(lines)
