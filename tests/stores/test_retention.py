"""Retention (``--keep-days``, ``callstate prune``) and ``callstate export``.

Over the real stores (a SQLite file, the PostgreSQL server) and real
``callstate`` processes: what is removed, what is kept, positions never
handed out twice, a late callback for a removed call stored as a new call,
and an export that replays into a fresh store as the same call states.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from callstate._core._report import state_json
from callstate._core._resource import parse_call_resources
from callstate._core._values import (
    CallRegistered,
    CallResource,
    Reconcile,
    ReconciliationRequested,
    RecordDelivery,
    ResourceObserved,
    Tick,
)
from callstate.client import record_placed_call
from callstate.serve._config import ServeConfig
from callstate.serve._main import pruner_for
from callstate.stores import Runner, SQLiteStore
from callstate.stores._retention import Pruner
from callstate.testing.store_contract import delivery
from tests.serve.test_serve import AUTH, callback, request, serving
from tests.stores._store_fixtures import fresh_postgres_store

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
KEEP = timedelta(days=7)


def record(runner: Runner, sid: str, statuses: list[str], at: datetime) -> None:
    """The call's callbacks, received at ``at`` (a second apart)."""
    for seq, status in enumerate(statuses, start=1):
        received = at + timedelta(seconds=seq)
        runner.handle(RecordDelivery(delivery=delivery(sid, seq, status), received_at=received))


FINAL = ["ringing", "in-progress", "completed"]
LIVE = ["ringing"]


@contextmanager
def each_store(tmp_path: Path, kind: str) -> Iterator[Any]:
    if kind == "sqlite":
        with SQLiteStore(tmp_path / "calls.sqlite") as store:
            yield store
    else:
        with fresh_postgres_store() as store:
            yield store


def fill(runner: Runner) -> None:
    old = NOW - timedelta(days=30)
    record(runner, "CAold1", FINAL, old)
    record(runner, "CAold2", ["ringing", "busy"], old + timedelta(minutes=1))
    record(runner, "CAoldlive", LIVE, old + timedelta(minutes=2))  # never ended: kept
    record(runner, "CArecent", FINAL, NOW - timedelta(days=1))  # final, but recent
    record(runner, "CAnewest", FINAL, NOW - timedelta(hours=1))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_pass_removes_the_calls_final_for_longer_than_kept(tmp_path, kind):
    with each_store(tmp_path, kind) as store:
        runner = Runner(store)
        fill(runner)
        before = store.read_all(0, 100)
        assert runner.get("CAold1") is not None  # cached by the runner
        report = Pruner(runner, KEEP, clock=lambda: NOW).run_pass()
        assert (report.removed, report.reached_cutoff) == (2, True)
        assert store.load("CAold1") == ()
        assert store.load("CAold2") == ()
        assert runner.get("CAold1") is None  # the runner forgot it too
        assert [s for s in ("CAoldlive", "CArecent", "CAnewest") if store.load(s)] == [
            "CAoldlive",
            "CArecent",
            "CAnewest",
        ]
        assert "CAold1" not in store.calls_with_status(*store.count_by_status())
        assert store.count_by_status().get(runner.get("CArecent").status) == 2
        left = store.read_all(0, 100)
        assert {e.call_sid for e in left} == {"CAoldlive", "CArecent", "CAnewest"}
        assert len(left) == len(before) - 5
        # Nothing more to do: the next pass removes nothing.
        assert Pruner(runner, KEEP, clock=lambda: NOW).run_pass().removed == 0


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_positions_are_never_handed_out_again_and_cursors_stay_valid(tmp_path, kind):
    with each_store(tmp_path, kind) as store:
        runner = Runner(store)
        record(runner, "CAa", FINAL, NOW - timedelta(days=30))
        record(runner, "CAb", FINAL, NOW - timedelta(days=29))
        cursor = store.read_all(0, 100)[-1].position  # a reader that has read everything
        removed = Pruner(runner, KEEP, clock=lambda: NOW).run_pass().removed
        # SQLite keeps the call holding the newest position (its next is the largest + 1).
        assert removed == (1 if kind == "sqlite" else 2)
        record(runner, "CAc", LIVE, NOW)
        new = store.read_all(cursor, 100)
        assert [(e.call_sid, e.version) for e in new] == [("CAc", 1)]
        assert new[0].position > cursor
        # Once CAc is the newest, CAb goes too, and positions still grow.
        if kind == "sqlite":
            assert Pruner(runner, KEEP, clock=lambda: NOW).run_pass().removed == 1
            record(runner, "CAd", LIVE, NOW)
            assert store.read_all(new[0].position, 100)[0].position > new[0].position


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_late_callback_for_a_removed_call_starts_it_anew(tmp_path, kind):
    with each_store(tmp_path, kind) as store:
        runner = Runner(store)
        record(runner, "CAgone", FINAL, NOW - timedelta(days=30))
        record(runner, "CAkeep", LIVE, NOW)
        assert Pruner(runner, KEEP, clock=lambda: NOW).run_pass().removed == 1
        # A writer that knew the call before (its caches hold the old row) writes on.
        other = Runner(store)
        for writer in (runner, other):
            writer.handle(RecordDelivery(delivery=delivery("CAgone", 9, "completed")))
        # Stored anew (version 1), then its copy is a copy (version 2).
        kinds = [type(e.event).__name__ for e in store.load("CAgone")]
        assert kinds == ["DeliveryAccepted", "DuplicateIgnored"]
        if kind == "sqlite":
            # Removed by another process (cron's prune): this store's id cache and
            # this runner's states still hold the call; the next writes start it anew.
            record(runner, "CAx", FINAL, NOW - timedelta(days=30))
            record(runner, "CAlast", LIVE, NOW)
            with SQLiteStore(store.path) as cron:
                assert cron.delete_calls({"CAx": 3}) == ("CAx",)
            runner.handle(RecordDelivery(delivery=delivery("CAx", 7, "busy")))
            runner.handle(RecordDelivery(delivery=delivery("CAx", 8, "failed")))
            assert [e.version for e in store.load("CAx")] == [1, 2]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_call_that_moved_on_since_it_was_read_is_kept(tmp_path, kind):
    with each_store(tmp_path, kind) as store:
        runner = Runner(store)
        record(runner, "CAmoved", FINAL, NOW - timedelta(days=30))
        record(runner, "CAlast", LIVE, NOW)
        assert store.delete_calls({"CAmoved": 2}) == ()  # it is at version 3
        assert store.delete_calls({"CAmoved": 3}) == ("CAmoved",)


def test_passes_go_a_batch_at_a_time_and_a_floor_holds_calls_back(tmp_path):
    with SQLiteStore(tmp_path / "calls.sqlite") as store:
        runner = Runner(store)
        for n in range(10):
            record(runner, f"CA{n:02d}", FINAL, NOW - timedelta(days=30, minutes=-n))
        record(runner, "CAlast", LIVE, NOW)
        positions = {e.call_sid: e.position for e in store.read_all(0, 100)}
        floor = positions["CA04"]  # a forwarder has got as far as CA04's last event
        pruner = Pruner(
            runner, KEEP, batch=3, max_batches=2, clock=lambda: NOW, floor=lambda: floor
        )
        first = pruner.run_pass()
        assert (first.scanned, first.reached_cutoff) == (6, False)
        reports = [first]
        while not reports[-1].reached_cutoff:
            reports.append(pruner.run_pass())
        assert sum(r.removed for r in reports) == 5
        assert sorted({e.call_sid for e in store.read_all(0, 100)}) == [
            "CA05", "CA06", "CA07", "CA08", "CA09", "CAlast",
        ]  # fmt: skip


def test_a_new_sqlite_file_gives_freed_pages_back(tmp_path):
    path = tmp_path / "calls.sqlite"
    with SQLiteStore(path) as store:
        runner = Runner(store)
        for n in range(300):
            record(runner, f"CA{n:04d}", FINAL, NOW - timedelta(days=30))
        record(runner, "CAlast", LIVE, NOW)
        checkpoint(path)
        size = os.path.getsize(path)
        report = Pruner(runner, KEEP, clock=lambda: NOW).run_until_done()
        assert report.removed == 300
        assert report.pages_freed > 0
    checkpoint(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
    assert os.path.getsize(path) < size / 2


def checkpoint(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callstate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_callstate_prune_runs_until_the_cutoff_and_reports(tmp_path):
    path = tmp_path / "calls.sqlite"
    with SQLiteStore(path) as store:
        runner = Runner(store)
        for n in range(3):
            record(runner, f"CAold{n}", FINAL, datetime.now(UTC) - timedelta(days=40))
        record(runner, "CAnow", LIVE, datetime.now(UTC))
    done = run_cli("prune", "--store", str(path), "--keep-days", "30")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["removed"] == 3
    with SQLiteStore(path) as store:
        assert {e.call_sid for e in store.read_all(0, 100)} == {"CAnow"}
    for bad in (["--keep-days", "-1"], ["--keep-days", "x"], []):
        refused = run_cli("prune", "--store", str(path), *bad)
        assert refused.returncode == 2, (bad, refused.stderr)
        assert "keep_days" in refused.stderr


def test_serve_removes_old_calls_while_it_takes_callbacks(tmp_path):
    path = tmp_path / "calls.sqlite"  # where test_serve.serving keeps its store
    long_ago = datetime.now(UTC) - timedelta(days=10)
    with SQLiteStore(path) as store:
        runner = Runner(store)
        for n in range(50):
            record(runner, f"CAold{n:02d}", FINAL, long_ago)
    env = {"CALLSTATE_KEEP_DAYS": "2", "CALLSTATE_RETENTION_INTERVAL": "0.2"}
    with serving(tmp_path, env=env) as (base, _):
        for n in range(20):
            params = callback(f"CAnew{n:02d}", "ringing", 1)
            assert request(base + "/callbacks", urlencode(params).encode())[0] == 204
        # CAold49 holds the file's newest position until the callbacks above came, so a
        # pass that ran before them kept it; a later pass removes it: wait for that one.
        deadline = time.monotonic() + 30
        while request(base + "/calls/CAold49", headers=AUTH)[0] != 404:
            assert time.monotonic() < deadline, "retention did not remove every old call"
            time.sleep(0.1)
        text = request(base + "/metrics")[1].decode()
        listed = json.loads(request(base + "/calls?limit=1000", headers=AUTH)[1])["calls"]
    assert "callstate_retention_removed_calls_total 50.0" in text, text
    assert listed == [f"CAnew{n:02d}" for n in range(20)]


def states(store: Any) -> dict[str, Any]:
    runner = Runner(store)
    sids = store.calls_with_status(*store.count_by_status())
    return {sid: state_json(runner.state(sid)) for sid in sids}


def test_export_then_replay_gives_the_same_call_states(tmp_path):
    source = tmp_path / "calls.sqlite"
    with SQLiteStore(source) as store:
        runner = Runner(store)
        fill(runner)
        # A copy, a conflicting delivery, a final out of order, extra parameters.
        old = NOW - timedelta(days=30)
        for n, (seq, status, extra) in enumerate(
            (
                (3, "completed", {"Custom": "a&b=c ü", "From": "+15550100"}),
                (1, "ringing", {}),
                (1, "ringing", {}),  # a copy, received a second later
                (2, "busy", {}),
                (2, "in-progress", {}),
            )
        ):
            received = old + timedelta(seconds=n)
            sent = delivery("CAmix", seq, status, **extra)
            runner.handle(RecordDelivery(delivery=sent, received_at=received))
        # A call whose final came from the Calls API (reconciliation).
        record(runner, "CAfetched", ["ringing"], old)
        fields = {"sid": "CAfetched", "status": "completed", "duration": "12", "to": "+15550100"}
        (resource,) = parse_call_resources(fields)
        runner.handle(Reconcile(resource=resource, observed_at=old + timedelta(minutes=5)))
        assert runner.state("CAfetched").status.value == "completed"
        want = states(store)
    out = tmp_path / "export.jsonl"
    done = run_cli("export", "--store", str(source), "--since", "2000-01-01T00:00:00+00:00",
                   "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1])["exported"]["calls"] == len(want)
    replayed = run_cli("replay", str(out), "--store", str(tmp_path / "fresh.sqlite"))
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["rejected"] == []
    with SQLiteStore(tmp_path / "fresh.sqlite") as fresh:
        assert states(fresh) == want


def placed_calls(store: Any) -> None:
    """Two calls placed by the app: one ringing until flagged overdue, one completed."""
    runner = Runner(store)
    placed = NOW - timedelta(days=30)
    # As POST /calls records it: the create POST's answer, as received.
    (answer,) = parse_call_resources({"sid": "CAplaced", "status": "queued", "to": "+15550100"})
    record_placed_call(runner, [answer], placed_at=placed, ring_timeout=timedelta(seconds=45))
    record(runner, "CAplaced", LIVE, placed)
    # Overdue a day later: the request a reconciliation pass (or replay --now) appends.
    stored = store.load("CAplaced")
    state = runner.state("CAplaced")
    (request,) = runner.decider.decide(Tick(now=placed + timedelta(days=1)), state)
    after, _ = runner.decider.advance(state, (request,))
    store.append("CAplaced", stored[-1].version, (request,), status=after.status)
    runner.forget("CAplaced")
    # A resource built by hand (no fields as received), a ring timeout in fractions.
    by_hand = CallResource(
        sid="CAbyhand", status="queued", to="+15550101", from_="+15550102",
        date_created=placed, duration=0, uri="/Calls/CAbyhand",
    )  # fmt: skip
    record_placed_call(
        runner, [by_hand], placed_at=placed + timedelta(minutes=1),
        answered_at=placed + timedelta(minutes=1, seconds=1),
        ring_timeout=timedelta(seconds=12.25),
    )  # fmt: skip
    record(runner, "CAbyhand", FINAL, placed + timedelta(minutes=1))


KINDS_WITHOUT_DELIVERY = (CallRegistered, ReconciliationRequested, ResourceObserved)


def placement(store: Any, sid: str) -> tuple[Any, ...]:
    """A call's events that are not deliveries, its state, its placement and ring timeout."""
    events = [item.event for item in store.load(sid)]
    state = Runner(store).state(sid)
    return (
        [e for e in events if isinstance(e, KINDS_WITHOUT_DELIVERY)],
        state,
        state._record.placed_at,
        state._record.ring_timeout,
        state.overdue_since,
    )


def test_export_writes_placements_and_requests_and_replays_them(tmp_path):
    source = tmp_path / "calls.sqlite"
    with SQLiteStore(source) as store:
        placed_calls(store)
        want = states(store)
        want_placed = {sid: placement(store, sid) for sid in want}
        stored_events = len(store.read_all(0, 100))
    assert want_placed["CAplaced"][4] is not None  # the request is there to export
    out = tmp_path / "export.jsonl"
    done = run_cli("export", "--store", str(source), "--since", "2000-01-01T00:00:00+00:00",
                   "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stderr.strip().splitlines()[-1])["exported"]
    assert (report["calls"], report["left_out"]) == (2, 0)
    assert report["lines"] == stored_events
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    placed_at = (NOW - timedelta(days=30) + timedelta(minutes=1)).isoformat()
    by_hand = {"call_sid": "CAbyhand", "placed_at": placed_at, "ring_timeout": 12.25}
    assert {"registered": by_hand} in lines
    fresh = tmp_path / "fresh.sqlite"
    for _ in range(2):  # the second replay stores nothing twice
        replayed = run_cli("replay", str(out), "--store", str(fresh))
        assert replayed.returncode == 0, replayed.stderr
        assert json.loads(replayed.stdout)["rejected"] == []
        with SQLiteStore(fresh) as again:
            assert states(again) == want
            assert {sid: placement(again, sid) for sid in want} == want_placed
            assert len(again.read_all(0, 100)) == stored_events


def test_export_keep_days_writes_what_prune_removes(tmp_path):
    path = tmp_path / "calls.sqlite"
    now = datetime.now(UTC)
    with SQLiteStore(path) as store:
        runner = Runner(store)
        record(runner, "CAold", FINAL, now - timedelta(days=40))
        record(runner, "CAoldlive", LIVE, now - timedelta(days=40))
        record(runner, "CAnow", FINAL, now)
    out = tmp_path / "doomed.jsonl"
    done = run_cli("export", "--store", str(path), "--keep-days", "30", "-o", str(out))
    assert done.returncode == 0, done.stderr
    exported = {json.loads(line)["body"].split("CallSid=")[1].split("&")[0]
                for line in out.read_text().splitlines()}  # fmt: skip
    pruned = run_cli("prune", "--store", str(path), "--keep-days", "30")
    assert json.loads(pruned.stdout)["removed"] == 1
    assert exported == {"CAold"}
    for bad in ([], ["--keep-days", "3", "--since", "2026-01-01T00:00:00+00:00"]):
        refused = run_cli("export", "--store", str(path), *bad)
        assert refused.returncode == 2, (bad, refused.stderr)


def test_retention_never_passes_a_forward_cursor(tmp_path):
    """The cursors ``--forward`` keeps in the store (``set_forward_position``) hold calls back."""
    with SQLiteStore(tmp_path / "calls.sqlite") as store:
        runner = Runner(store)
        for n in range(5):
            record(runner, f"CA{n:02d}", FINAL, NOW - timedelta(days=30, minutes=-n))
        record(runner, "CAlast", LIVE, NOW)
        last = {e.call_sid: e.position for e in store.read_all(0, 100)}
        store.set_forward_position("https://app.example/hook", last["CA02"])
        store.set_forward_position("https://b.example/", 10_000)
        assert Pruner(runner, KEEP, clock=lambda: NOW).run_pass().removed == 3
        # A target configured with no cursor yet holds everything back, as serve configures it.
        config = ServeConfig(keep_days=7, forward=["https://new.example/"])
        held = pruner_for(config, runner)
        assert held is not None
        store.set_forward_position("https://app.example/hook", 10_000)
        assert held.run_pass().removed == 0
        assert Pruner(runner, KEEP, clock=lambda: NOW).run_pass().removed == 2
