"""``callstate serve`` under attack: the signed URL, the proxy headers, the logs, the errors.

Each test runs the receiver as users run it, a real process on a real socket,
and talks to it with ``http.client`` (so a hostile ``Host`` goes out as written).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from callstate._signature import twilio_signature
from test_serve import TOKEN, callback, request, serving

SIGNED = {"CALLSTATE_AUTH_TOKEN": TOKEN}


def post(
    base: str, params: dict[str, str], headers: dict[str, str], path: str = "/callbacks"
) -> tuple[int, bytes]:
    """POST a form to ``base + path`` with exactly ``headers`` (a ``Host`` among them)."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(
            "POST",
            path,
            body=urlencode(params).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        )
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def log_lines(tmp_path: Path) -> list[dict[str, Any]]:
    """The receiver's log, one JSON object a line."""
    text = (tmp_path / "serve.log").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def signature(url: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": twilio_signature(TOKEN, url, params.items())}


# Issue 22.1: the signed URL follows the Host header.


def test_a_callback_signed_for_another_app_is_not_replayed_through_the_host_header(tmp_path):
    with serving(tmp_path, env=SIGNED) as (base, _):
        params = callback("CA1", "completed", 3, CallDuration="9")
        other = "http://other-app.example/tenant7/callbacks"
        host = {"Host": "other-app.example/tenant7"}
        status, body = post(base, params, {**host, **signature(other, params)})
        assert (status, body) == (400, b"Host: is not a host: 'other-app.example/tenant7'\n")
        assert request(base + "/calls/CA1")[0] == 404
        # Signed for this receiver as it is called: accepted.
        assert post(base, params, signature(base + "/callbacks", params))[0] == 204


def test_signatures_are_checked_against_the_public_url(tmp_path):
    public = "https://calls.example.com/callbacks"
    with serving(tmp_path, "--public-url", public, env=SIGNED) as (base, _):
        params = callback("CA1", "ringing", 1)
        assert post(base, params, signature(public, params))[0] == 204
        # Signed for the URL the socket is on, or for the host a request names: refused.
        assert (
            post(base, callback("CA2", "ringing", 1), signature(base + "/callbacks", params))[0]
            == 403
        )
        replay = callback("CA3", "ringing", 1)
        other = {
            "Host": "other-app.example",
            **signature("http://other-app.example/callbacks", replay),
        }
        assert post(base, replay, other)[0] == 403
        assert request(base + "/calls/CA1")[0] == 200
        assert request(base + "/calls/CA3")[0] == 404
    # The origin alone, from the environment: each request keeps its path.
    env = {**SIGNED, "CALLSTATE_PUBLIC_URL": "https://calls.example.com:8443"}
    with serving(tmp_path, env=env) as (base, _):
        params = callback("CA4", "ringing", 1)
        signed = signature("https://calls.example.com:8443/callbacks", params)
        assert post(base, params, signed)[0] == 204
        # Twilio's validator also tries the URL without its port (issue 15.2).
        params = callback("CA5", "ringing", 1)
        assert (
            post(base, params, signature("https://calls.example.com/callbacks", params))[0] == 204
        )


def test_an_unusable_public_url_is_refused_at_start(tmp_path):
    for bad in ("calls.example.com", "https://calls.example.com/callbacks?x=1"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "callstate",
                "serve",
                "--public-url",
                bad,
                "--store",
                str(tmp_path / "calls.sqlite"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert "public_url" in result.stderr


# Issue 22.2: uvicorn's own proxy handling overrode "trust nothing unless named".


def test_forwarded_headers_are_not_trusted_unless_named(tmp_path):
    with serving(tmp_path, env=SIGNED) as (base, _):
        params = callback("CA1", "ringing", 1)
        https = "https://" + base.partition("://")[2] + "/callbacks"
        forged = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        # Signed for https://... and sent over http with X-Forwarded-Proto: refused.
        assert post(base, params, {**forged, **signature(https, params)})[0] == 403
        # The header is ignored: the URL is the one the socket is on.
        assert post(base, params, {**forged, **signature(base + "/callbacks", params)})[0] == 204
    # The access log's client is the connection's peer, not what a header says.
    assert "203.0.113.9" not in (tmp_path / "serve.log").read_text()
    access = [line["message"] for line in log_lines(tmp_path) if line["logger"] == "uvicorn.access"]
    assert [m.split(" - ")[0].rpartition(":")[0] for m in access] == ["127.0.0.1", "127.0.0.1"]


def test_named_forwarded_headers_are_read_only_from_the_named_proxies(tmp_path):
    params = callback("CA1", "ringing", 1)
    trust = ("--trust-proxy-header", "x-forwarded-proto")
    # X-Forwarded-Proto alone: the proxy's own port is the scheme's default.
    https = "https://127.0.0.1/callbacks"
    # Loopback is the default proxy: the test's client is there.
    with serving(tmp_path, *trust, env=SIGNED) as (base, _):
        headers = {"X-Forwarded-Proto": "https", **signature(https, params)}
        assert post(base, params, headers)[0] == 204
    env = {**SIGNED, "CALLSTATE_TRUSTED_PROXY_IPS": "192.0.2.0/24, 10.1.2.3"}
    with serving(tmp_path, *trust, env=env) as (base, _):
        headers = {"X-Forwarded-Proto": "https", **signature(https, params)}
        assert post(base, params, headers)[0] == 403
    with serving(tmp_path, *trust, "--trusted-proxy-ips", "10.0.0.0/8,127.0.0.0/8", env=SIGNED) as (
        base,
        _,
    ):
        headers = {"X-Forwarded-Proto": "https", **signature(https, params)}
        assert post(base, params, headers)[0] == 204


def test_unusable_proxy_settings_are_refused_at_start(tmp_path):
    store = str(tmp_path / "calls.sqlite")
    for args, reason in (
        (["--trusted-proxy-ips", "10.0.0.300"], "IP address or network"),
        (
            ["--public-url", "https://a.example", "--trust-proxy-header", "x-forwarded-proto"],
            "not both",
        ),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "callstate", "serve", "--store", store, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert reason in result.stderr
