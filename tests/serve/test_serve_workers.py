"""``callstate serve --workers N``: one port, N receiver processes over one PostgreSQL store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from callstate.stores import Runner
from callstate.stores._open import open_store
from tests.serve._serve_process import API_KEY, Receiver
from tests.stores._store_fixtures import postgres_dsn_or_skip, private_database

ENV = {"CALLSTATE_INSECURE_NO_SIGNATURES": "1"}


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return sorted(int(line) for line in found.stdout.split())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose: it serves nothing.
    status = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()[0]
    return status != "Z"


def _wait_gone(pids: list[int], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def _wait_for(log: Path, text: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text().count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} x {text!r} not in the log:\n{log.read_text()[-3000:]}")


def _two_workers(database: str, log: Path) -> tuple[Receiver, list[int]]:
    """``serve --workers 2`` on ``database``, once both workers run; and their pids."""
    receiver = Receiver(database, log, ENV, "--workers", "2")
    try:
        _wait_for(log, '"message": "receiver started"', 2)
    except BaseException:
        receiver.stop()
        raise
    workers = _children(receiver.process.pid)
    assert len(workers) == 2
    return receiver, workers


def _refused(*args: str) -> subprocess.CompletedProcess[str]:
    """``callstate serve --port 0 ARGS``, expected to stop before serving."""
    return subprocess.run(
        [sys.executable, "-m", "callstate", "serve", "--port", "0", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env={**os.environ, "CALLSTATE_API_KEYS": API_KEY, **ENV},
    )


def _post(base: str, body: bytes) -> int:
    ask = urllib.request.Request(
        base + "/callbacks",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(ask, timeout=30) as answer:
        return answer.status


def test_workers_share_one_port_and_store_every_callback_once(tmp_path):
    dsn = postgres_dsn_or_skip()
    calls = 100
    bodies = [
        f"CallSid=CAwork{n:04d}&CallStatus={status}&SequenceNumber={seq}".encode()
        for n in range(calls)
        for seq, status in enumerate(("initiated", "ringing", "in-progress", "completed"))
    ]
    with private_database(dsn) as database:
        log = tmp_path / "serve.log"
        receiver, workers = _two_workers(database, log)
        try:
            with ThreadPoolExecutor(8) as pool:
                # Each delivery twice, from many connections at once: copies may
                # reach either worker, and are still recognised as copies.
                answers = list(pool.map(lambda b: _post(receiver.base, b), bodies + bodies))
            assert answers == [204] * len(answers)
            status, _, state = receiver.request("GET", "/calls/CAwork0007")
            assert status == 200
            assert state["status"] == "completed"
        finally:
            receiver.stop()
        assert receiver.process.returncode == 0
        assert _wait_gone(workers)
        store = open_store(database)
        try:
            runner = Runner(store)
            for n in range(calls):
                state = runner.state(f"CAwork{n:04d}")
                assert state.status.value == "completed"
                assert state.deliveries == 4
                assert state.duplicates == 4
        finally:
            store.close()
    text = log.read_text()
    assert text.count('"message": "serving"') == 2
    assert '"worker": 0' in text
    assert '"worker": 1' in text


def test_a_worker_that_dies_stops_the_others_and_the_service_exits_1(tmp_path):
    dsn = postgres_dsn_or_skip()
    with private_database(dsn) as database:
        log = tmp_path / "serve.log"
        receiver, workers = _two_workers(database, log)
        try:
            os.kill(workers[0], signal.SIGKILL)
            receiver.process.wait(timeout=60)
        finally:
            receiver.stop()
        assert receiver.process.returncode == 1
        assert _wait_gone(workers)
    assert "a worker exited on its own; stopping the others" in log.read_text()


def test_workers_die_with_their_parent(tmp_path):
    dsn = postgres_dsn_or_skip()
    with private_database(dsn) as database:
        receiver, workers = _two_workers(database, tmp_path / "serve.log")
        receiver.kill()  # SIGKILL: the parent cannot hand anything on
        assert _wait_gone(workers), "workers outlived their parent"


@pytest.mark.parametrize("store", ["{tmp}/calls.db", ":memory:"])
def test_workers_over_a_store_of_one_process_are_refused_with_the_reason(tmp_path, store):
    done = _refused("--workers", "2", "--store", store.format(tmp=tmp_path))
    assert done.returncode == 2
    assert "--workers 2: give a PostgreSQL --store" in done.stderr
    assert "one writer at a time" in done.stderr
    assert not (tmp_path / "calls.db").exists()


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_a_worker_count_out_of_range_is_refused(tmp_path, value):
    done = _refused("--workers", value, "--store", str(tmp_path / "calls.db"))
    assert done.returncode == 2
    assert "workers must be" in done.stderr
