"""``POST /calls`` through real ``callstate serve`` processes and the fake provider.

The fake provider is the Calls API on a real socket and sends signed
callbacks to the receiver's public URL; the receivers run over a SQLite file
or the real PostgreSQL server.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from callstate.serve._place import callback_url, params_of
from callstate.testing.fake_provider import Chaos, FakeProvider, Fault
from tests.serve._serve_process import Receiver, free_port
from tests.stores._store_fixtures import postgres_dsn_or_skip, private_database

CALL = {"to": "+15550100001", "from": "+15550199999", "url": "https://app.example/answer"}


def place_env(provider: FakeProvider, port: int) -> dict[str, str]:
    return {
        "CALLSTATE_ACCOUNT_SID": provider.account_sid,
        "CALLSTATE_AUTH_TOKEN": provider.token,
        "CALLSTATE_PROFILE": "api19",
        "CALLSTATE_API_BASE_URL": provider.profile("api19").base_url,
        "CALLSTATE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CALLSTATE_RECONCILE_INTERVAL": "3600",
    }


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(outcome="completed", pace=0.01, chaos=Chaos(seed=3, sign=True)) as fake:
        yield fake


def wait_until(done, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_call_is_placed_recorded_and_followed(tmp_path: Path, provider: FakeProvider) -> None:
    port = free_port()
    store = str(tmp_path / "calls.sqlite")
    with Receiver(store, tmp_path / "serve.log", place_env(provider, port), port=port) as serve:
        status, headers, body = serve.request("POST", "/calls", {**CALL, "timeout": 25})
        assert status == 201, body
        sid = body["call_sid"]
        assert headers["location"] == f"/calls/{sid}"
        (placed,) = provider.calls()
        assert placed.sid == sid
        assert placed.status_callback == f"http://127.0.0.1:{port}/callbacks"
        assert placed.events == ("initiated", "ringing", "answered", "completed")
        assert body["status"] in ("queued", "initiated", "ringing", "in-progress", "completed")
        # The callbacks the provider sends reach this receiver and are verified.
        wait_until(
            lambda: serve.request("GET", f"/calls/{sid}")[2]["status"] == "completed",
            20,
            "the call never completed",
        )
        assert all(c.answer == 204 for c in provider.sent()), provider.sent()
        _, _, shown = serve.request("GET", f"/calls/{sid}")
        assert shown["call_sid"] == sid


def test_callbacks_that_beat_the_create_answer_are_kept(tmp_path: Path) -> None:
    chaos = Chaos(seed=5, sign=True, early=1.0)  # every callback before the create's answer
    with FakeProvider(outcome="busy", pace=0.01, chaos=chaos) as provider:
        port = free_port()
        env = place_env(provider, port)
        with Receiver(str(tmp_path / "c.sqlite"), tmp_path / "s.log", env, port=port) as serve:
            status, _, body = serve.request("POST", "/calls", CALL)
            assert status == 201, body
            assert body["status"] == "busy"  # the create's "queued" undid nothing


def test_one_key_places_one_call_across_restarts(tmp_path: Path, provider: FakeProvider) -> None:
    port = free_port()
    store = str(tmp_path / "calls.sqlite")
    env = place_env(provider, port)
    key = {"Idempotency-Key": "order-1234-attempt"}
    with Receiver(store, tmp_path / "serve.log", env, port=port) as serve:
        first = serve.request("POST", "/calls", CALL, headers=key)
        assert first[0] == 201, first
        again = serve.request("POST", "/calls", CALL, headers=key)
        assert again[0] == 201 and again[1]["idempotent-replayed"] == "true"
        assert again[2]["call_sid"] == first[2]["call_sid"]
        # The same JSON, spaced and ordered otherwise, is the same request.
        respaced = json.dumps(dict(reversed(list(CALL.items()))), indent=2).encode()
        assert serve.request("POST", "/calls", raw=respaced, headers=key)[0] == 201
        other = serve.request("POST", "/calls", {**CALL, "to": "+15550100002"}, headers=key)
        assert other[0] == 422 and "Idempotency-Key" in other[2]["error"]
    with Receiver(store, tmp_path / "serve.log", env, port=port) as serve:
        after = serve.request("POST", "/calls", CALL, headers=key)
        assert after[0] == 201 and after[2]["call_sid"] == first[2]["call_sid"]
        # Without a key, each request is a call of its own.
        assert serve.request("POST", "/calls", CALL)[0] == 201
    assert len(provider.calls()) == 2


def test_concurrent_posts_with_one_key_over_postgres_place_one_call(
    tmp_path: Path, provider: FakeProvider
) -> None:
    with private_database(postgres_dsn_or_skip()) as dsn:
        ports = [free_port(), free_port()]
        receivers = [
            Receiver(dsn, tmp_path / f"serve{n}.log", place_env(provider, port), port=port)
            for n, port in enumerate(ports)
        ]
        try:
            for round_ in range(4):
                key = {"Idempotency-Key": f"race-{round_}"}
                start = threading.Barrier(8)
                answers: list[tuple[int, dict[str, str], object]] = []

                def post(serve: Receiver, start=start, key=key, answers=answers) -> None:
                    start.wait()
                    answers.append(serve.request("POST", "/calls", CALL, headers=key))

                threads = [
                    threading.Thread(target=post, args=(receivers[n % 2],)) for n in range(8)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                placed = {a[2]["call_sid"] for a in answers if a[0] == 201}
                assert len(placed) == 1, answers
                assert {a[0] for a in answers} <= {201, 409}, answers
                for status, headers, _ in answers:
                    if status == 409:
                        assert headers["retry-after"] == "1"
                # Once placed, every receiver answers the one call.
                for serve in receivers:
                    status, _, body = serve.request("POST", "/calls", CALL, headers=key)
                    assert (status, body["call_sid"]) == (201, *placed)
            assert len(provider.calls()) == 4
        finally:
            for serve in receivers:
                serve.stop()


def test_bad_requests_name_the_field(tmp_path: Path, provider: FakeProvider) -> None:
    port = free_port()
    env = place_env(provider, port)
    with Receiver(str(tmp_path / "c.sqlite"), tmp_path / "s.log", env, port=port) as serve:
        cases = [
            (b"{not json", 400, "body: is not JSON"),
            (b"[1, 2]", 400, "body: must be a JSON object"),
            (json.dumps({"from": "+1555"}).encode(), 422, "to: is required"),
            (json.dumps({**CALL, "colour": "red"}).encode(), 422, "colour: is not a field"),
            (json.dumps({**CALL, "timeout": "30"}).encode(), 422, "Timeout: must be"),
            (json.dumps({**CALL, "timeout": 0}).encode(), 422, "Timeout: must be"),
            (json.dumps({**CALL, "twiml": "<Response/>"}).encode(), 422, "Twiml: cannot be"),
            (json.dumps({**CALL, "url": "ftp://x"}).encode(), 422, "Url: must be"),
            (json.dumps({**CALL, "status_callback": "https://x"}).encode(), 422,
             "status_callback: is this receiver's own"),
            (json.dumps({**CALL, "extra": {"Record": 1}}).encode(), 422, "extra: must be"),
        ]  # fmt: skip
        for raw, status, message in cases:
            answer = serve.request("POST", "/calls", raw=raw)
            assert answer[0] == status and message in answer[2]["error"], (raw, answer)
        long_key = {"Idempotency-Key": "k" * 256}
        assert serve.request("POST", "/calls", CALL, headers=long_key)[0] == 400
        assert serve.request("POST", "/calls", CALL, key=None)[0] == 401
        assert serve.request("POST", "/calls", CALL, key="wrong-key-0123456789abc")[0] == 401
    assert provider.calls() == []


def test_provider_errors_are_mapped_never_500(tmp_path: Path, provider: FakeProvider) -> None:
    port = free_port()
    env = place_env(provider, port)
    key = {"Idempotency-Key": "mapped-1"}
    with Receiver(str(tmp_path / "c.sqlite"), tmp_path / "s.log", env, port=port) as serve:
        limited = Fault(
            status=429, body=b'{"message": "slow down"}', headers=(("Retry-After", "7"),)
        )
        provider.inject(limited)
        status, headers, body = serve.request("POST", "/calls", CALL, headers=key)
        assert (status, headers["retry-after"]) == (429, "7"), body
        # Nothing was placed: the key is free for the retry.
        assert serve.request("POST", "/calls", CALL, headers=key)[0] == 201
        provider.inject(Fault(status=400, body=b'{"message": "To is not a number"}'))
        status, _, body = serve.request("POST", "/calls", CALL)
        assert status == 422 and "To is not a number" in body["error"]
        provider.inject(Fault(status=503, body=b"down"))
        unknown = {"Idempotency-Key": "mapped-2"}
        assert serve.request("POST", "/calls", CALL, headers=unknown)[0] == 502
        # A 5xx may have placed it: the key is not placed again.
        status, headers, body = serve.request("POST", "/calls", CALL, headers=unknown)
        assert status == 409 and headers["retry-after"] == "1", body
        provider.inject(Fault(action="close"))
        assert serve.request("POST", "/calls", CALL)[0] == 502
    assert len(provider.calls()) == 1


def test_placing_is_off_without_a_public_url(tmp_path: Path, provider: FakeProvider) -> None:
    env = place_env(provider, 0)
    del env["CALLSTATE_PUBLIC_URL"]
    with Receiver(str(tmp_path / "c.sqlite"), tmp_path / "s.log", env) as serve:
        status, _, body = serve.request("POST", "/calls", CALL)
        assert status == 501 and "--public-url" in body["error"]


def test_the_status_callback_is_the_public_url() -> None:
    assert callback_url("https://calls.example") == "https://calls.example/callbacks"
    assert callback_url("https://calls.example/hooks/in") == "https://calls.example/hooks/in"
    assert (
        callback_url("https://calls.example", ("rc:p@ss:word", "other:x"))
        == "https://rc:p%40ss%3Aword@calls.example/callbacks"
    )
    params = params_of(CALL, "https://calls.example/callbacks")
    assert params.status_callback == "https://calls.example/callbacks"
    assert params.status_callback_method == "POST"
