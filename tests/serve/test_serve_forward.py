"""``callstate serve --forward``: real receivers, a real HTTP target, the fake provider.

The target is an HTTP server on a real socket that checks every signature
with the Standard Webhooks reference library (``standardwebhooks``, a
test-only oracle). Calls are placed through ``POST /calls``; the provider's
callbacks go to the receiver, which forwards each status change.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from callstate._core._decider import Decider
from callstate.serve._config import open_store
from callstate.serve._forward import read_secret, sign
from callstate.testing.fake_provider import Chaos, FakeProvider
from tests.serve._serve_process import Receiver, free_port
from tests.stores._store_fixtures import postgres_dsn_or_skip, private_database

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
CALL = {"to": "+15550100001", "from": "+15550199999", "url": "https://app.example/answer"}


class Target:
    """The app's webhook endpoint: records each request, verified, and answers as told."""

    def __init__(self, *, fail_first: int = 0, delay: float = 0.0) -> None:
        self.received: list[tuple[str, bytes, dict[str, Any]]] = []
        self.refused: list[str] = []
        self.fail_first = fail_first
        self.delay = delay
        #: Cleared: requests wait (a slow app), so the receiver falls behind the log.
        self.open = threading.Event()
        self.open.set()
        self.lock = threading.Lock()
        verifier = Webhook(SECRET)
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                target.open.wait(60)
                time.sleep(target.delay)
                with target.lock:
                    if target.fail_first > 0:
                        target.fail_first -= 1
                        self.send_response(500)
                        self.end_headers()
                        return
                    try:
                        data = verifier.verify(body, dict(self.headers.items()))
                    except WebhookVerificationError as exc:
                        target.refused.append(str(exc))
                        self.send_response(400)
                        self.end_headers()
                        return
                    target.received.append((self.headers["webhook-id"], body, data))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/calls"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def data(self) -> list[dict[str, Any]]:
        with self.lock:
            return [d["data"] for _, _, d in self.received]


@pytest.fixture
def target() -> Iterator[Target]:
    made = Target()
    yield made
    made.close()


def forward_env(provider: FakeProvider, port: int, target: Target) -> dict[str, str]:
    return {
        "CALLSTATE_ACCOUNT_SID": provider.account_sid,
        "CALLSTATE_AUTH_TOKEN": provider.token,
        "CALLSTATE_PROFILE": "api19",
        "CALLSTATE_API_BASE_URL": provider.profile("api19").base_url,
        "CALLSTATE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CALLSTATE_RECONCILE_INTERVAL": "3600",
        "CALLSTATE_FORWARD": target.url,
        "CALLSTATE_FORWARD_SECRET": SECRET,
    }


def wait_until(done, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def expected_changes(store_target: str) -> set[tuple[str, int, str, str]]:
    """Every status change the store's log holds: (call, version, previous, status).

    Folded here call by call with the core's decider, apart from the forwarder.
    """
    store = open_store(store_target)
    try:
        found = set()
        logs: dict[str, list[Any]] = defaultdict(list)
        after = 0
        while page := store.read_all(after=after, limit=1000):
            for stored in page:
                logs[stored.call_sid].append(stored)
            after = page[-1].position
        decider = Decider()
        for sid, log in logs.items():
            state = decider.initial_state(sid)
            for stored in log:
                state, changes = decider.advance(state, [stored.event])
                for change in changes:
                    found.add((sid, stored.version, change.previous.value, change.status.value))
        return found
    finally:
        store.close()


def metrics(base: str) -> dict[str, float]:
    """The receiver's /metrics, read with prometheus_client's own parser."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("callstate_forwards")
    }


def received_changes(target: Target) -> set[tuple[str, int, str, str]]:
    return {(d["call_sid"], d["version"], d["previous"], d["status"]) for d in target.data()}


def test_every_change_is_forwarded_signed_and_once(tmp_path: Path, target: Target) -> None:
    chaos = Chaos(seed=11, duplicate=0.3, reorder=0.4, max_delay=0.05, sign=True)
    with FakeProvider(pace=0.01, chaos=chaos) as provider:
        port = free_port()
        store = str(tmp_path / "calls.sqlite")
        env = forward_env(provider, port, target)
        with Receiver(store, tmp_path / "serve.log", env, port=port) as serve:
            sids = [serve.request("POST", "/calls", CALL)[2]["call_sid"] for _ in range(12)]
            assert provider.wait_idle(20)
            expected = expected_changes(store)
            wait_until(lambda: received_changes(target) >= expected, 20, "changes missing")
            time.sleep(0.5)  # nothing more comes
        assert target.refused == []
        ids = [webhook for webhook, _, _ in target.received]
        assert len(ids) == len(set(ids)) == len(expected)  # no failure, no restart: once each
        assert received_changes(target) == expected
        by_call: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for data in target.data():
            by_call[data["call_sid"]].append(data)
        assert set(by_call) == set(sids)
        for sid, changes in by_call.items():
            statuses = [c["status"] for c in changes]
            # Answered once and the outcome once, whatever order the callbacks came in.
            assert statuses.count("in-progress") <= 1, statuses
            assert [c["outcome_known"] for c in changes].count(True) == 1, statuses
            assert statuses[-1] == provider.true_outcome(sid)
            assert [c["version"] for c in changes] == sorted(c["version"] for c in changes)


def test_a_refused_delivery_is_retried_with_its_id_and_body(tmp_path: Path) -> None:
    target = Target(fail_first=3)
    try:
        with FakeProvider(outcome="busy", pace=0.01, chaos=Chaos(sign=True)) as provider:
            port = free_port()
            store = str(tmp_path / "calls.sqlite")
            env = forward_env(provider, port, target)
            log = tmp_path / "serve.log"
            with Receiver(store, log, env, port=port) as serve:
                serve.request("POST", "/calls", CALL)
                assert provider.wait_idle(20)
                expected = expected_changes(store)
                wait_until(lambda: received_changes(target) >= expected, 30, "changes missing")
                numbers = metrics(serve.base)
        assert received_changes(target) == expected
        assert numbers["callstate_forwards_failed_total"] == 3
        assert numbers["callstate_forwards_pending"] == 0
        assert numbers["callstate_forwards_delivered_total"] == len(expected)
        assert log.read_text().count("forwarding failed; retrying") == 3
    finally:
        target.close()


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])
def test_a_killed_receiver_skips_nothing(tmp_path: Path, store_kind: str) -> None:
    """SIGKILL mid-forwarding: every change arrives at least once, each id's body the same."""
    target = Target(delay=0.02)
    try:
        with FakeProvider(pace=0.005, chaos=Chaos(seed=23, reorder=0.3, sign=True)) as provider:
            if store_kind == "sqlite":
                _killed_and_restarted(tmp_path, provider, target, str(tmp_path / "calls.sqlite"))
            else:
                with private_database(postgres_dsn_or_skip()) as dsn:
                    _killed_and_restarted(tmp_path, provider, target, dsn)
    finally:
        target.close()
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for webhook, body, _ in target.received:
        bodies[webhook].add(body)
    assert all(len(seen) == 1 for seen in bodies.values())
    assert target.refused == []


def _killed_and_restarted(
    tmp_path: Path, provider: FakeProvider, target: Target, store: str
) -> None:
    port = free_port()
    env = forward_env(provider, port, target)
    log = tmp_path / "serve.log"
    serve = Receiver(store, log, env, port=port)
    try:
        target.open.clear()  # the app is stuck: the whole log waits behind its first change
        for _ in range(30):
            assert serve.request("POST", "/calls", CALL)[0] == 201
        assert provider.wait_idle(30)
        expected = expected_changes(store)
        assert len(expected) >= 60
        target.open.set()
        wait_until(lambda: len(target.received) >= len(expected) // 3, 30, "nothing forwarded")
        serve.kill()  # SIGKILL: no goodbye, a delivery may be in flight
        at_kill = len(target.received)
        assert at_kill < len(expected), "the kill came too late to test anything"
        serve = Receiver(store, log, env, port=port)
        wait_until(lambda: received_changes(target) >= expected, 60, "changes were skipped")
    finally:
        serve.stop()
    assert received_changes(target) == expected
    # The restart resumed from the cursor: only the event in flight was sent again.
    counts: dict[str, int] = defaultdict(int)
    events_of: dict[str, tuple[str, int]] = {}
    for webhook, _, data in target.received:
        counts[webhook] += 1
        events_of[webhook] = (data["data"]["call_sid"], data["data"]["version"])
    again = {events_of[webhook] for webhook, n in counts.items() if n > 1}
    assert len(again) <= 1, (at_kill, len(expected), again)


def test_the_secret_and_signature_are_standard_webhooks() -> None:
    key = read_secret(SECRET)
    body = b'{"type":"call.status_changed"}'
    stamp = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(key, "msg_1", stamp, body),
    }
    assert Webhook(SECRET).verify(body, headers) == json.loads(body)
    tampered = {**headers, "webhook-id": "msg_2"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, tampered)


def test_forwarding_refuses_bad_settings(tmp_path: Path) -> None:
    import subprocess
    import sys

    settings = {k: v for k, v in os.environ.items() if not k.startswith("CALLSTATE_")}

    def serve(**env: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "callstate", "serve", "--store", str(tmp_path / "x")]
        return subprocess.run(
            command,
            check=False,
            env={**settings, "CALLSTATE_INSECURE_NO_SIGNATURES": "1", **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    unsigned = serve(CALLSTATE_FORWARD="https://app.example/hooks")
    assert unsigned.returncode == 2 and "CALLSTATE_FORWARD_SECRET" in unsigned.stderr
    short = serve(
        CALLSTATE_FORWARD="https://app.example/hooks", CALLSTATE_FORWARD_SECRET="whsec_YWJj"
    )
    assert short.returncode == 2 and "24 to 64 bytes" in short.stderr
    no_prefix = serve(CALLSTATE_FORWARD="https://app.example/hooks", CALLSTATE_FORWARD_SECRET="abc")
    assert no_prefix.returncode == 2 and "whsec_<base64>" in no_prefix.stderr
    not_http = serve(CALLSTATE_FORWARD="ftp://app.example/hooks", CALLSTATE_FORWARD_SECRET=SECRET)
    assert not_http.returncode == 2 and "--forward" in not_http.stderr
