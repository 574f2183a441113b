"""Who gets in to ``callstate serve``: API keys for the reads, a check on every callback.

Real ``callstate serve`` processes on real sockets. The settings are given as
environment variables where they can be, so a receiver without this feature
starts, and the tests show what it let through.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from callstate._errors import UsageError
from callstate.serve import ServeConfig, build_app
from callstate.serve._auth import is_loopback
from callstate.stores import MemoryStore, Runner
from callstate.web import Unverified
from callstate.web._signature import twilio_signature
from tests.serve.test_serve import AUTH, KEY, TOKEN, callback, request, serving

OLD = "old-key-0123456789abcdef"
NEW = "new-key-fedcba9876543210"
FROM, TO = "+14155550100", "+14155550199"
#: Every route that shows calls, and the route that will place them.
READS = [
    ("GET", "/calls"),
    ("GET", "/calls/CA1"),
    ("GET", "/calls/CA1/events"),
    ("POST", "/calls"),
]


def store_a_call(base: str) -> None:
    params = callback("CA1", "ringing", 1, From=FROM, To=TO)
    assert request(base + "/callbacks", urlencode(params).encode())[0] == 204


def call(base: str, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes, str]:
    """(status, body, WWW-Authenticate) of one request."""
    with httpx.Client(base_url=base, timeout=10) as client:
        answer = client.request(
            method, path, headers=headers, json={} if method == "POST" else None
        )
    return answer.status_code, answer.content, answer.headers.get("www-authenticate", "")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def assert_private_data_absent(body: bytes) -> None:
    for secret in (b"CA1", FROM.encode(), TO.encode(), b"4155550"):
        assert secret not in body, body


def test_each_read_route_needs_a_configured_key(tmp_path):
    with serving(tmp_path) as (base, _):
        store_a_call(base)
        for method, path in READS:
            status, body, challenge = call(base, method, path, {})
            assert (status, challenge) == (401, 'Bearer realm="callstate"'), (method, path, body)
            assert "Bearer" in json.loads(body)["error"]
            assert_private_data_absent(body)
            for wrong in (
                f"Bearer {KEY}x",
                f"Bearer {KEY[:-1]}",
                "Bearer",
                f"Basic {KEY}",
                KEY,
                f"Bearer {KEY} {KEY}",
            ):
                status, body, challenge = call(base, method, path, {"Authorization": wrong})
                assert status == 401, (method, path, wrong)
                assert challenge.startswith('Bearer realm="callstate"'), (method, path, wrong)
                assert_private_data_absent(body)
            assert call(base, method, path, {"Authorization": f"Bearer {OLD}"})[2].endswith(
                'error="invalid_token"'
            )
            status, body, _ = call(base, method, path, AUTH)
            if method == "GET":
                assert status == 200, (path, body)
                assert b"CA1" in body
            else:
                assert status not in (401, 403)  # let in: this receiver does not place calls yet
        # Two Authorization headers: neither is trusted.
        with httpx.Client(base_url=base, timeout=10) as client:
            twice = [("Authorization", f"Bearer {KEY}")] * 2
            assert client.get("/calls/CA1", headers=twice).status_code == 401
        # The scheme's name is case-insensitive (RFC 7235); the key is not.
        assert call(base, "GET", "/calls/CA1", {"Authorization": f"bearer {KEY}"})[0] == 200
        assert call(base, "GET", "/calls/CA1", {"Authorization": f"Bearer {KEY.upper()}"})[0] == 401
        # /healthz stays open, and says nothing of the calls.
        status, body, _ = call(base, "GET", "/healthz", {})
        assert status == 200
        assert_private_data_absent(body)


def test_rotated_keys_old_and_new_both_work_while_both_are_configured(tmp_path):
    with serving(tmp_path, env={"CALLSTATE_API_KEYS": f"{OLD}, {NEW}"}) as (base, _):
        store_a_call(base)
        for key in (OLD, NEW):
            for method, path in READS[:3]:
                assert call(base, method, path, {"Authorization": f"Bearer {key}"})[0] == 200
        assert call(base, "GET", "/calls/CA1", AUTH)[0] == 401  # KEY is not among them
    # The old key retired (with repeated flags, which win over the variable).
    with serving(tmp_path, "--api-key", NEW, "--api-key", KEY) as (base, _):
        for method, path in READS[:3]:
            assert call(base, method, path, {"Authorization": f"Bearer {OLD}"})[0] == 401
            assert call(base, method, path, {"Authorization": f"Bearer {NEW}"})[0] == 200
            assert call(base, method, path, AUTH)[0] == 200


def test_without_any_key_the_reads_are_off_for_everyone(tmp_path):
    with serving(tmp_path, env={"CALLSTATE_API_KEYS": ""}) as (base, _):
        store_a_call(base)
        for method, path in READS:
            for headers in ({}, AUTH, {"Authorization": "Bearer"}):
                status, body, challenge = call(base, method, path, headers)
                assert (status, challenge) == (403, ""), (method, path, headers)
                assert "no API key is configured" in json.loads(body)["error"]
                assert_private_data_absent(body)
        assert call(base, "GET", "/healthz", {})[0] == 200
        assert (
            request(base + "/callbacks", urlencode(callback("CA2", "busy", 3)).encode())[0] == 204
        )


def test_an_api_key_that_could_be_guessed_is_refused_at_startup(tmp_path):
    for keys in ("short", "sixteen chars ok", "a,b", "é" * 20):
        result = run_serve(tmp_path, env={"CALLSTATE_API_KEYS": keys})
        assert result.returncode == 2, keys
        assert "CALLSTATE_API_KEYS" in result.stderr and "16 characters" in result.stderr


def run_serve(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``callstate serve`` that must refuse to start: its exit status and stderr."""
    settings = {k: v for k, v in os.environ.items() if not k.startswith("CALLSTATE_")}
    try:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "callstate",
                "serve",
                "--port",
                "0",
                "--store",
                str(tmp_path / "refused.sqlite"),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            env={**settings, **(env or {})},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"callstate serve {' '.join(args)} {env} started instead of refusing")


def test_starting_without_any_callback_check_is_refused(tmp_path):
    result = run_serve(tmp_path, env={"CALLSTATE_API_KEYS": KEY})
    assert result.returncode == 2
    assert "--insecure-no-signatures" in result.stderr
    assert "--auth-token" in result.stderr and "--basic-auth" in result.stderr
    assert not (tmp_path / "refused.sqlite").exists()  # refused before anything was opened
    # Saying it and also giving a check is a contradiction, not a choice.
    result = run_serve(tmp_path, "--insecure-no-signatures", env={"CALLSTATE_AUTH_TOKEN": TOKEN})
    assert (result.returncode, "contradicts" in result.stderr) == (2, True)


def test_basic_auth_credentials_are_required_of_callbacks(tmp_path):
    env = {
        "CALLSTATE_INSECURE_NO_SIGNATURES": "",
        "CALLSTATE_BASIC_AUTH": "restcomm:old-secret,restcomm:new:secret",
    }
    with serving(tmp_path, env=env) as (base, _):
        body = urlencode(callback("CA1", "ringing", 1)).encode()
        status, answer, challenge = post(base, body, {})
        assert (status, challenge) == (401, 'Basic realm="callstate"'), answer
        assert post(base, body, basic("restcomm", "guess"))[0] == 403
        assert post(base, body, basic("other", "old-secret"))[0] == 403
        assert post(base, body, {"Authorization": f"Bearer {KEY}"})[0] == 401
        assert call(base, "GET", "/calls/CA1", AUTH)[0] == 404  # nothing was stored
        assert post(base, body, basic("restcomm", "old-secret"))[0] == 204
        again = urlencode(callback("CA1", "busy", 3)).encode()
        assert post(base, again, basic("restcomm", "new:secret"))[0] == 204  # rotated
        assert json.loads(call(base, "GET", "/calls/CA1", AUTH)[1])["status"] == "busy"


def test_a_signature_and_basic_auth_together_are_both_required(tmp_path):
    env = {
        "CALLSTATE_INSECURE_NO_SIGNATURES": "",
        "CALLSTATE_AUTH_TOKEN": TOKEN,
        "CALLSTATE_BASIC_AUTH": "twilio:pass-word",
    }
    with serving(tmp_path, env=env) as (base, _):
        params = callback("CA1", "ringing", 1)
        body = urlencode(params).encode()
        signed = {
            "X-Twilio-Signature": twilio_signature(TOKEN, base + "/callbacks", params.items())
        }
        assert post(base, body, signed)[0] == 401
        assert post(base, body, basic("twilio", "pass-word"))[0] == 403
        assert post(base, body, {**signed, **basic("twilio", "pass-word")})[0] == 204


def post(base: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
    with httpx.Client(timeout=10) as client:
        answer = client.post(
            base + "/callbacks",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        )
    return answer.status_code, answer.content, answer.headers.get("www-authenticate", "")


def test_the_insecure_flag_accepts_unsigned_callbacks_and_says_so_loudly(tmp_path):
    env = {"CALLSTATE_INSECURE_NO_SIGNATURES": ""}
    with serving(tmp_path, "--insecure-no-signatures", env=env) as (base, _):
        body = urlencode(callback("CA1", "ringing", 1)).encode()
        assert request(base + "/callbacks", body)[0] == 204
    lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()]
    warnings = [line for line in lines if line["level"] == "warning"]
    assert any("NOT VERIFIED" in line["message"] for line in warnings), lines


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "example.com"])
def test_an_address_others_can_reach_needs_a_callback_check(tmp_path, host):
    for env in ({"CALLSTATE_INSECURE_NO_SIGNATURES": "1"}, {}):
        result = run_serve(tmp_path, "--host", host, env={"CALLSTATE_API_KEYS": KEY, **env})
        assert result.returncode == 2, (host, env)
        assert "--insecure-no-signatures" in result.stderr, result.stderr
        if env:
            assert f"--host {host}" in result.stderr


def test_an_address_others_can_reach_is_served_with_a_callback_check(tmp_path):
    log = tmp_path / "serve.log"
    settings = {k: v for k, v in os.environ.items() if not k.startswith("CALLSTATE_")}
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "callstate",
                "serve",
                "--host",
                "0.0.0.0",
                "--port",
                "0",
                "--store",
                str(tmp_path / "calls.sqlite"),
            ],
            stderr=sink,
            stdout=subprocess.DEVNULL,
            env={**settings, "CALLSTATE_BASIC_AUTH": "restcomm:s3cret"},
        )
    try:
        found = None
        deadline = time.monotonic() + 20
        while found is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
            found = re.search(r"running on http://0\.0\.0\.0:(\d+)", log.read_text())
        assert found is not None, log.read_text()
        port = found.group(1)
        base = f"http://127.0.0.1:{port}"
        body = urlencode(callback("CA1", "ringing", 1)).encode()
        assert post(base, body, {})[0] == 401
        assert post(base, body, basic("restcomm", "s3cret"))[0] == 204
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_which_addresses_are_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_every_key_is_compared_whichever_matches(monkeypatch):
    # No early exit: the key presented is compared with every configured key,
    # so how long the check takes does not say which one it matched.
    import callstate.serve._auth as auth

    compared: list[bytes] = []
    real = auth.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    keys = [f"rotation-key-{n:04d}-abcdef" for n in range(5)]
    app = build_app(Runner(MemoryStore()), verifier=Unverified(), api_keys=keys)
    transport = httpx.ASGITransport(app=app)

    async def status_with(key: str) -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            answer = await client.get("/calls", headers={"Authorization": f"Bearer {key}"})
        return answer.status_code

    for key, expected in ((keys[0], 200), (keys[-1], 200), ("not-one-of-them-at-all", 401)):
        compared.clear()
        assert asyncio.run(status_with(key)) == expected
        assert len(compared) == len(keys), key
        assert len(set(compared)) == len(keys)  # each configured key once


def test_build_app_refuses_a_weak_key_and_is_closed_by_default():
    with pytest.raises(UsageError, match="16 characters"):
        build_app(Runner(MemoryStore()), verifier=Unverified(), api_keys=["password"])
    app = build_app(Runner(MemoryStore()), verifier=Unverified())

    async def status() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return (await client.get("/calls")).status_code

    assert asyncio.run(status()) == 403


def test_the_settings_never_show_a_key_or_a_password():
    config = ServeConfig.from_env(
        {"CALLSTATE_API_KEYS": f"{OLD},{NEW}", "CALLSTATE_BASIC_AUTH": "restcomm:pass-word-1"}
    )
    assert config.api_keys == (OLD, NEW)
    assert config.basic_auth == ("restcomm:pass-word-1",)
    for shown in (repr(config), str(config)):
        assert OLD not in shown and NEW not in shown and "pass-word-1" not in shown
