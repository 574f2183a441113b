"""``callstate serve``: the receiver as users run it, a real process on a real socket."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest

from callstate.stores import SQLiteStore
from callstate.web._signature import twilio_signature

TOKEN = "serve-test-token"
KEY = "serve-test-api-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
#: What the tests' receivers run with unless a test says otherwise: unsigned
#: callbacks on loopback (said out loud), and one API key for the reads.
DEFAULT_ENV = {"CALLSTATE_INSECURE_NO_SIGNATURES": "1", "CALLSTATE_API_KEYS": KEY}


@contextmanager
def serving(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    store = tmp_path / "calls.sqlite"
    log = tmp_path / "serve.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "callstate",
                "serve",
                "--port",
                "0",
                "--store",
                str(store),
                *args,
            ],
            stderr=sink,
            stdout=subprocess.DEVNULL,
            env={**os.environ, **DEFAULT_ENV, **(env or {})},
        )
    base = None
    deadline = time.monotonic() + 20
    while base is None and time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"running on (http://127\.0\.0\.1:\d+)", log.read_text())
        if found:
            base = found.group(1)
        else:
            time.sleep(0.05)
    try:
        assert base is not None, log.read_text()
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def callback(sid: str, status: str, seq: int, **extra: str) -> dict[str, str]:
    return {"CallSid": sid, "CallStatus": status, "SequenceNumber": str(seq), **extra}


def test_callbacks_in_calls_out(tmp_path):
    with serving(tmp_path) as (base, _):
        for params in (
            callback("CA1", "completed", 3, CallDuration="0"),  # arrives first
            callback("CA1", "ringing", 1),
            callback("CA1", "ringing", 1),  # a duplicate
            callback("CA2", "in-progress", 2),
        ):
            status, body = request(base + "/callbacks", urlencode(params).encode())
            assert status == 204, body
        assert request(base + "/callbacks?" + urlencode(callback("CA3", "busy", 3)))[0] == 204

        status, body = request(base + "/calls/CA1", headers=AUTH)
        assert status == 200
        call = json.loads(body)
        assert (call["status"], call["deliveries"], call["duplicates"]) == ("ended", 2, 1)
        assert call["needs_reconciliation"]

        listed = json.loads(
            request(base + "/calls?status=in-progress&status=busy", headers=AUTH)[1]
        )
        assert listed == {"calls": ["CA2", "CA3"], "limit": 50, "next": None}
        first = json.loads(request(base + "/calls?limit=2", headers=AUTH)[1])
        assert (first["calls"], first["next"]) == (["CA1", "CA2"], "CA2")
        rest = json.loads(request(base + "/calls?limit=2&after=CA2", headers=AUTH)[1])
        assert (rest["calls"], rest["next"]) == (["CA3"], None)
        # The numbered pages of before still answer, deprecated.
        paged = json.loads(request(base + "/calls?page=1&page_size=2", headers=AUTH)[1])
        assert (paged["total"], paged["calls"]) == (3, ["CA3"])
        assert "after" in paged["deprecated"]

        events = json.loads(request(base + "/calls/CA1/events", headers=AUTH)[1])["events"]
        assert [e["type"] for e in events] == ["delivery", "delivery", "duplicate"]
        assert [e["version"] for e in events] == [1, 2, 3]

        assert request(base + "/calls/CAnope", headers=AUTH)[0] == 404
        assert request(base + "/calls/CAnope/events", headers=AUTH)[0] == 404
        for bad in (
            "status=bogus",
            "page_size=0",
            "limit=0",
            "limit=1001",
            "limit=x",
            "page=1&after=CA1",
            "after=" + "C" * 257,
        ):
            status, body = request(base + "/calls?" + bad, headers=AUTH)
            assert status == 400, (bad, body)
            assert json.loads(body)["error"], bad
        assert json.loads(request(base + "/healthz")[1]) == {"status": "ok"}


def test_bad_callbacks_get_a_4xx_with_the_reason(tmp_path):
    with serving(tmp_path) as (base, _):
        status, body = request(base + "/callbacks", b"CallSid=CA1&CallStatus=ringing")
        assert status == 400
        assert b"SequenceNumber" in body
        status, body = request(
            base + "/callbacks", b"CallSid=CA1&CallStatus=ringing&CallStatus=busy&SequenceNumber=1"
        )
        assert (status, b"repeated" in body) == (400, True)
        assert request(base + "/callbacks", b"x" * 100_000)[0] in (400, 413)
        # The next good request still works.
        assert (
            request(base + "/callbacks", urlencode(callback("CA9", "ringing", 1)).encode())[0]
            == 204
        )


def test_with_an_auth_token_only_signed_callbacks_are_accepted(tmp_path):
    env = {"CALLSTATE_AUTH_TOKEN": TOKEN, "CALLSTATE_INSECURE_NO_SIGNATURES": ""}
    with serving(tmp_path, env=env) as (base, _):
        params = callback("CA1", "ringing", 1)
        body = urlencode(params).encode()
        assert request(base + "/callbacks", body)[0] == 403
        bad = {"X-Twilio-Signature": twilio_signature("wrong", base + "/callbacks", params.items())}
        assert request(base + "/callbacks", body, bad)[0] == 403
        good = {"X-Twilio-Signature": twilio_signature(TOKEN, base + "/callbacks", params.items())}
        assert request(base + "/callbacks", body, good)[0] == 204
        assert json.loads(request(base + "/calls/CA1", headers=AUTH)[1])["status"] == "ringing"


@pytest.mark.parametrize(("provider", "signed"), [("twilio", True), ("bandwidth", False)])
def test_the_serving_line_says_whether_signatures_are_checked(tmp_path, provider, signed):
    # Bandwidth signs nothing: its auth token is the Calls API's, and its
    # callbacks are checked by Basic auth only. The log must not say "signed".
    env = {"CALLSTATE_AUTH_TOKEN": TOKEN, "CALLSTATE_INSECURE_NO_SIGNATURES": ""}
    args = ("--provider", provider, "--basic-auth", "user:a-password-of-length")
    with serving(tmp_path, *args, env=env):
        pass
    (line,) = [
        json.loads(text)
        for text in (tmp_path / "serve.log").read_text().splitlines()
        if '"message": "serving"' in text
    ]
    assert line["signatures"] is signed
    assert line["basic_auth"] is True


def test_a_graceful_stop_loses_nothing_that_was_answered_2xx(tmp_path):
    answered: list[str] = []
    lock = threading.Lock()

    with serving(tmp_path) as (base, process):

        def send(worker: int) -> None:
            for n in range(200):
                sid = f"CA{worker:02d}{n:04d}"
                try:
                    status, _ = request(
                        base + "/callbacks", urlencode(callback(sid, "ringing", 1)).encode()
                    )
                except OSError:
                    return  # the server stopped listening
                if status == 204:
                    with lock:
                        answered.append(sid)

        threads = [threading.Thread(target=send, args=(w,)) for w in range(6)]
        for thread in threads:
            thread.start()
        while len(answered) < 100:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=60)
        # uvicorn stops gracefully, then re-raises SIGTERM as its exit status.
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)

    with SQLiteStore(tmp_path / "calls.sqlite") as store:
        stored = {item.call_sid for item in store.read_all(0, 100_000)}
    assert len(answered) >= 100
    assert set(answered) <= stored


def test_serve_refuses_unusable_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "callstate", "serve", "--store", str(tmp_path / "no" / "x.sqlite")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **DEFAULT_ENV},
    )
    assert result.returncode == 2
    assert "no folder" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "callstate", "serve", "--port", "99999"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2


@pytest.mark.parametrize("vocabulary", ["twilio", "restcomm"])
def test_the_demo_converges(tmp_path, vocabulary):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "callstate",
            "demo",
            "--calls",
            "30",
            "--vocabulary",
            vocabulary,
            "--store",
            str(tmp_path / "demo.sqlite"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "converged to the truth   30/30" in result.stdout
    duplicates = int(re.search(r"duplicates absorbed\s+(\d+)", result.stdout).group(1))
    assert duplicates > 0  # the chaos was real


def test_replay_into_a_store_twice_changes_nothing(tmp_path):
    example = Path(__file__).resolve().parent.parent.parent / "examples" / "calls.jsonl"
    store = str(tmp_path / "replay.sqlite")
    runs = [
        subprocess.run(
            [sys.executable, "-m", "callstate", "replay", str(example), "--store", store],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    memory = subprocess.run(
        [sys.executable, "-m", "callstate", "replay", str(example)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert json.loads(runs[0]) == json.loads(runs[1]) == json.loads(memory)
    with SQLiteStore(store) as opened:
        count = len(opened.read_all(0, 100_000))
    listed = subprocess.run(
        [sys.executable, "-m", "callstate", "calls", "--store", store, "--status", "busy"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert json.loads(listed)["calls"] == [{"call_sid": "CA" + "b" * 32, "status": "busy"}]
    assert count > 0


def test_replay_into_a_store_with_now_flags_what_memory_flags(tmp_path):
    example = Path(__file__).resolve().parent.parent.parent / "examples" / "calls.jsonl"
    now = ["--now", "2026-11-24T18:00:00+00:00"]
    stored, memory = (
        subprocess.run(
            [sys.executable, "-m", "callstate", "replay", str(example), *now, *extra],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        for extra in (["--store", str(tmp_path / "t.sqlite")], [])
    )
    assert json.loads(stored) == json.loads(memory)
    assert json.loads(stored)["calls"]["CA" + "c" * 32]["needs_reconciliation"]
