"""Reconciliation in ``callstate serve`` and ``callstate reconcile``: real processes, real sockets.

The fake provider is the Calls API (with dropped callbacks, 429s and 5xx);
the receivers are ``callstate serve`` processes over a SQLite file or the
real PostgreSQL server; the provider's GET log says what was fetched, when.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callstate import StoreUnavailable
from callstate.client import CallParams, Calls, CallsApi, record_placed_call
from callstate.client.urllib import UrllibTransport
from callstate.serve._config import open_store
from callstate.serve._reconcile import CANDIDATES
from callstate.stores import Runner
from callstate.testing._fake_plan import steps_for
from callstate.testing.fake_provider import Chaos, FakeProvider, Fault
from tests.stores._store_fixtures import (
    fresh_postgres_store,
    postgres_dsn_or_skip,
    private_database,
)

EVENTS = ("initiated", "ringing", "answered", "completed")
API_KEY = "reconcile-test-key-0123456789"


def reconcile_env(provider: FakeProvider, **extra: str) -> dict[str, str]:
    """The receiver's settings for reconciling against ``provider``: secrets in the environment."""
    return {
        "CALLSTATE_ACCOUNT_SID": provider.account_sid,
        "CALLSTATE_AUTH_TOKEN": provider.token,
        "CALLSTATE_PROFILE": "api19",
        "CALLSTATE_API_BASE_URL": provider.profile("api19").base_url,
        "CALLSTATE_RECONCILE_INTERVAL": "0.2",
        "CALLSTATE_RING_TIMEOUT": "0",
        "CALLSTATE_MAX_CALL_LENGTH": "1",
        "CALLSTATE_API_KEYS": API_KEY,
        **extra,
    }


@contextmanager
def serving(store: str, log: Path, env: dict[str, str]) -> Iterator[str]:
    """A ``callstate serve`` process on an ephemeral port; its base URL."""
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "callstate", "serve", "--port", "0", "--store", store],
            stderr=sink,
            stdout=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
    base = None
    deadline = time.monotonic() + 30
    while base is None and time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"running on (http://127\.0\.0\.1:\d+)", log.read_text())
        if found:
            base = found.group(1)
        else:
            time.sleep(0.05)
    try:
        assert base is not None, log.read_text()
        yield base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def place(provider: FakeProvider, runner: Runner, count: int, callback: str) -> list[str]:
    """Place ``count`` calls and record each create answer, as an app placing calls would."""
    api = CallsApi(
        account_sid=provider.account_sid, token=provider.token, profile=provider.profile("api19")
    )
    params = CallParams(
        to="+15550100000",
        from_="+15550199999",
        url="https://app.example/answer",
        status_callback=callback,
        status_callback_event=EVENTS,
        timeout=30,
    )
    sids = []
    with Calls(api, UrllibTransport(timeout=10)) as client:
        for _ in range(count):
            placed_at = datetime.now(UTC)
            legs = client.create(params)
            record_placed_call(runner, legs, placed_at=placed_at, ring_timeout=None)
            sids += [leg.sid for leg in legs]
    return sids


def state_of(base: str, sid: str) -> dict[str, object]:
    ask = urllib.request.Request(
        f"{base}/calls/{sid}", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    with urllib.request.urlopen(ask, timeout=10) as answer:
        body: dict[str, object] = json.loads(answer.read())
        return body


def wait_until(done, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def complete(provider: FakeProvider, sid: str) -> bool:
    """Every callback the call's lifecycle makes reached the receiver and was accepted."""
    accepted = {
        dict(c.params)["SequenceNumber"]
        for c in provider.sent()
        if c.call_sid == sid and c.answer is not None and 200 <= c.answer < 300
    }
    return len(accepted) == len(steps_for(provider.true_outcome(sid)))


def test_serve_reconciles_the_calls_whose_callbacks_were_lost(tmp_path):
    chaos = Chaos(seed=17, drop=0.3, duplicate=0.1, reorder=0.2, sign=True)
    store = str(tmp_path / "calls.sqlite")
    with FakeProvider(chaos=chaos, pace=0.005) as provider:
        # Overdue 5 s after it was placed: callbacks go one at a time, and the
        # machine is shared, so the last of them may come seconds later.
        env = reconcile_env(provider, CALLSTATE_MAX_CALL_LENGTH="5")
        with serving(store, tmp_path / "serve.log", env) as base:
            event_store = open_store(store)
            try:
                sids = place(provider, Runner(event_store), 40, f"{base}/callbacks")
            finally:
                event_store.close()
            assert provider.wait_idle(timeout=60)
            idle_at = time.monotonic()
            # The Calls API pushes back: 429s (with Retry-After) and a run of 5xx.
            busy = Fault(status=429, body=b"slow down", headers=(("Retry-After", "0"),))
            down = Fault(status=500, body=b"down")
            provider.inject(busy, busy, *[down] * 12)
            truth = {sid: provider.true_outcome(sid) for sid in sids}

            def converged() -> bool:
                return all(state_of(base, sid)["status"] == truth[sid] for sid in sids)

            wait_until(converged, 60, "every call at the provider's truth")
        log = (tmp_path / "serve.log").read_text()
    fetched = {f.call_sid for f in provider.fetches()}
    whole = {sid for sid in sids if complete(provider, sid)}
    assert fetched, "reconciliation fetched nothing: the chaos dropped no final?"
    assert not fetched & whole, "a call whose callbacks all arrived was fetched"
    # The grace outlasted the callbacks: every GET came after the last of them.
    assert idle_at < min(f.started for f in provider.fetches())
    assert "reconciliation of" in log and "ServerError" in log  # a failure, counted and logged
    assert '"message": "reconciliation pass"' in log


def test_without_credentials_serve_fetches_nothing(tmp_path):
    with FakeProvider(chaos=Chaos(seed=3, drop=1.0), pace=0.005) as provider:
        store = str(tmp_path / "calls.sqlite")
        env = {k: v for k, v in reconcile_env(provider).items() if k != "CALLSTATE_ACCOUNT_SID"}
        with serving(store, tmp_path / "serve.log", env) as base:
            event_store = open_store(store)
            try:
                (sid,) = place(provider, Runner(event_store), 1, f"{base}/callbacks")
            finally:
                event_store.close()
            time.sleep(1.5)  # past the grace and several intervals
            assert state_of(base, sid)["status"] == "queued"
    assert provider.fetches() == []


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callstate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


def test_callstate_reconcile_does_one_pass_and_exits(tmp_path):
    store = str(tmp_path / "calls.sqlite")
    with FakeProvider(chaos=Chaos(seed=5, drop=1.0), pace=0.005) as provider:
        event_store = open_store(store)
        try:
            runner = Runner(event_store)
            sids = place(provider, runner, 12, "http://127.0.0.1:9/callbacks")
            assert provider.wait_idle(timeout=30)
            time.sleep(1.1)  # past ring timeout 0 plus the 1 s grace
            env = reconcile_env(provider)
            done = run_cli("reconcile", "--store", store, env=env)
            assert done.returncode == 0, done.stderr
            report = json.loads(done.stdout)
            assert report == {
                "candidates": 12,
                "due": 12,
                "reconciled": 12,
                "failed": 0,
                "skipped": 0,
            }
            for sid in sids:
                assert runner.state(sid).status.value == provider.true_outcome(sid)
            again = run_cli("reconcile", "--store", store, env=env)
            assert json.loads(again.stdout)["candidates"] == 0
        finally:
            event_store.close()
    assert len(provider.fetches()) == 12


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {}, "account_sid"),
        (("--account-sid", "AC1"), {}, "auth_token"),
        (("--account-sid", "AC1", "--profile", "restcomm"), {"CALLSTATE_AUTH_TOKEN": "t"}, "base"),
        (("--reconcile-interval", "0"), {"CALLSTATE_ACCOUNT_SID": "AC1"}, "interval"),
        (("--api-base-url", "ftp://x"), {"CALLSTATE_ACCOUNT_SID": "AC1"}, "api_base_url"),
        (("--profile", "skype"), {}, "invalid choice"),
    ],
)
def test_callstate_reconcile_refuses_bad_arguments_with_2(tmp_path, args, env, message):
    done = run_cli("reconcile", "--store", str(tmp_path / "x.sqlite"), *args, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr


def overlapping(provider: FakeProvider) -> list[str]:
    """The CallSids fetched twice at once: one GET started before another of it ended."""
    by_sid = defaultdict(list)
    for fetch in provider.fetches():
        by_sid[fetch.call_sid].append((fetch.started, fetch.ended))
    found = []
    for sid, spans in by_sid.items():
        spans.sort()
        if any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)):
            found.append(sid)
    return found


def test_two_receivers_over_one_postgresql_never_fetch_one_call_at_once(tmp_path):
    dsn = postgres_dsn_or_skip()
    count = 500
    # Every callback dropped: only reconciliation can end the calls. Each GET
    # takes 20 ms, so two receivers fetching one call would overlap.
    with (
        private_database(dsn) as database,
        FakeProvider(chaos=Chaos(seed=11, drop=1.0), pace=0.001, fetch_latency=0.02) as provider,
    ):
        event_store = open_store(database)
        try:
            runner = Runner(event_store)
            placed_at = datetime.now(UTC) - timedelta(minutes=5)
            api = CallsApi(
                account_sid=provider.account_sid,
                token=provider.token,
                profile=provider.profile("api19"),
            )
            params = CallParams(
                to="+15550100000",
                from_="+15550199999",
                url="https://app.example/answer",
                status_callback="http://127.0.0.1:9/callbacks",
                status_callback_event=EVENTS,
            )
            with Calls(api, UrllibTransport(timeout=10)) as client:
                placed = [client.create(params) for _ in range(count)]
            sids = [leg.sid for legs in placed for leg in legs]
            assert provider.wait_idle(timeout=60)
            env = reconcile_env(provider, CALLSTATE_RECONCILE_CONCURRENCY="8")
            began = time.monotonic()
            with (
                serving(database, tmp_path / "a.log", env),
                serving(database, tmp_path / "b.log", env),
            ):
                # The calls reach the store once both receivers run (each looks
                # every 0.2 s): however slow one was to start, both find work.
                for legs in placed:
                    record_placed_call(runner, legs, placed_at=placed_at, ring_timeout=None)

                def all_final() -> bool:
                    return not event_store.calls_with_status(*CANDIDATES)

                wait_until(all_final, 240, "all 500 calls reconciled")
                took = time.monotonic() - began
            for sid in sids:
                assert runner.state(sid).status.value == provider.true_outcome(sid)
        finally:
            event_store.close()
    fetches = provider.fetches()
    assert {f.call_sid for f in fetches} == set(sids)
    assert overlapping(provider) == []
    logs = (tmp_path / "a.log").read_text(), (tmp_path / "b.log").read_text()
    assert all('"message": "reconciliation pass"' in log for log in logs), "both took part"
    print(f"{count} calls, {len(fetches)} GETs by two receivers in {took:.1f} s (processes")
    print(" started included), none of one call at once")


def test_a_postgresql_lease_is_held_by_one_session_at_a_time():
    from callstate.stores.postgres import PostgresStore

    with fresh_postgres_store() as one:
        two = PostgresStore(postgres_dsn_or_skip(), schema=one.schema)
        other_schema = PostgresStore(postgres_dsn_or_skip(), schema=one.schema + "_x")
        try:
            with one.lease("CA1") as first:
                assert first
                with two.lease("CA1") as second, two.lease("CA2") as unrelated:
                    assert (second, unrelated) == (False, True)
                with other_schema.lease("CA1") as elsewhere:
                    assert elsewhere  # another schema's calls are other calls
            with two.lease("CA1") as after:
                assert after  # released when the block ended
            with pytest.raises(RuntimeError), one.lease("CA3"):
                raise RuntimeError("the fetch failed")
            with two.lease("CA3") as freed:
                assert freed  # released whatever happened in the block
        finally:
            two.close()
            other_schema.close()
        two_closed = PostgresStore(postgres_dsn_or_skip(), schema=one.schema)
        two_closed.close()
        with pytest.raises(StoreUnavailable), two_closed.lease("CA1"):
            pass


@pytest.mark.parametrize("vocabulary", ["twilio", "restcomm"])
def test_the_demo_against_a_serve_process_is_converged_by_its_reconciliation(vocabulary):
    done = run_cli("demo", "--serve", "--calls", "60", "--vocabulary", vocabulary, env={})
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "converged to the truth   60/60" in out
    assert re.search(r"needless GETs\s+0\n", out), out
    dropped = int(re.search(r"dropped by the network\s+(\d+)", out).group(1))
    fetched = int(re.search(r"reconciliations \(GET\)\s+(\d+)", out).group(1))
    assert dropped > 30  # about 30% of some 200 callbacks, finals among them
    assert 0 < fetched < 60 or vocabulary == "restcomm"


def test_serve_refuses_reconciliation_without_its_token(tmp_path):
    done = run_cli(
        "serve",
        "--port",
        "0",
        "--store",
        str(tmp_path / "x.sqlite"),
        "--account-sid",
        "AC1",
        env={"CALLSTATE_AUTH_TOKEN": "", "CALLSTATE_INSECURE_NO_SIGNATURES": "1"},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "auth_token" in done.stderr
