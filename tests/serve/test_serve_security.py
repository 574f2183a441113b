"""``callstate serve`` under attack: the signed URL, the proxy headers, the logs, the errors.

Each test runs the receiver as users run it, a real process on a real socket,
and talks to it with ``http.client`` (so a hostile ``Host`` goes out as written).
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from callstate.web._signature import twilio_signature
from tests.serve.test_serve import AUTH, TOKEN, callback, request, serving

#: Signatures checked (the suite's serving() turns them off by default).
SIGNED = {"CALLSTATE_AUTH_TOKEN": TOKEN, "CALLSTATE_INSECURE_NO_SIGNATURES": ""}


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
        assert request(base + "/calls/CA1", headers=AUTH)[0] == 404
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
        assert request(base + "/calls/CA1", headers=AUTH)[0] == 200
        assert request(base + "/calls/CA3", headers=AUTH)[0] == 404
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
            [
                sys.executable,
                "-m",
                "callstate",
                "serve",
                "--insecure-no-signatures",
                "--store",
                store,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert reason in result.stderr


# Issue 22.3: control characters from a request reached the log unescaped.

HOSTILE = "\x1b[2J\x9b31m\u2028\u2029\u202eevil\x7f"
#: What no line of the log may hold as it is (a line break ends a line).
UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def raw_request(base: str, head: bytes, body: bytes = b"") -> bytes:
    """Send ``head`` (request line and headers, as bytes) and ``body``; the answer's status line."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            head + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer.partition(b"\r\n")[0]


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_controls_from_a_request_never_reach_the_log_as_they_are(tmp_path, log_format):
    hostile = HOSTILE.encode()
    args = ("--log-level", "debug", "--log-format", log_format)
    with serving(tmp_path, *args, "--trust-proxy-header", "x-forwarded-proto") as (base, _):
        # A parameter name the refusal's reason quotes (repeated: issue 22.7),
        # hostile headers (one trusted, so read), a hostile path (percent-encoded,
        # then raw).
        body = urlencode([(HOSTILE, "1"), (HOSTILE, "2")]).encode()
        head = (
            b"POST /callbacks?x=%1b%9b%e2%80%a8 HTTP/1.1\r\nHost: h\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nUser-Agent: " + hostile + b"\r\n"
            b"X-Forwarded-For: " + hostile
        )
        assert raw_request(base, head, body) == b"HTTP/1.1 400 Bad Request"
        head = b"POST /callbacks HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: " + hostile
        assert raw_request(base, head) == b"HTTP/1.1 400 Bad Request"
        assert raw_request(base, b"GET /calls/" + hostile + b" HTTP/1.1\r\nHost: h").startswith(
            b"HTTP/1.1 400"
        )
    text = (tmp_path / "serve.log").read_bytes().decode("utf-8")  # strict: no lone surrogate
    for line in text.splitlines():
        assert UNSAFE.search(line) is None, line
    if log_format == "json":
        lines = log_lines(tmp_path)  # every line is one JSON object
        reasons = [line["reason"] for line in lines if line["message"] == "webhook refused"]
        # Escaped in the log, read back as sent: the name, and the trusted header's repr.
        assert reasons[0] == f"{HOSTILE}: is repeated"
        assert reasons[1].startswith("X-Forwarded-Proto: has an unknown protocol '\\x1b[2J")
    else:
        assert 'reason="\\x1b[2J\\x9b31m\\u2028\\u2029\\u202eevil\\x7f: is repeated' in text
        stamp = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00 [a-z]+ [\w.]+: ")
        assert all(stamp.match(line) or line.startswith("  ") for line in text.splitlines())


# Issue 22.6: store errors were shown to whoever asked.

GENERIC = {"error": "the store is unavailable"}


def _answers_while_down(base: str) -> list[tuple[int, bytes]]:
    """Every route that touches the store, asked while it is down."""
    return [
        request(base + "/calls", headers=AUTH),
        request(base + "/calls/CA1", headers=AUTH),
        request(base + "/calls/CA1/events", headers=AUTH),
        request(base + "/callbacks", urlencode(callback("CA2", "ringing", 1)).encode()),
    ]


def _check_generic(answers: list[tuple[int, bytes]], secrets: list[str]) -> None:
    *reads, webhook = answers
    for status, body in reads:
        assert (status, json.loads(body)) == (503, GENERIC)
    assert webhook == (503, b"the store is unavailable; retry later\n")
    for _, body in answers:
        for secret in secrets:
            assert secret not in body.decode(), body


def test_an_unreadable_sqlite_store_is_503_with_a_generic_reason(tmp_path):
    with serving(tmp_path) as (base, _):
        assert (
            request(base + "/callbacks", urlencode(callback("CA1", "ringing", 1)).encode())[0]
            == 204
        )
        for path in tmp_path.glob("calls.sqlite*"):  # the file, its WAL and shared memory
            path.write_bytes(b"not a database" * 512)
        answers = _answers_while_down(base)
    _check_generic(answers, [str(tmp_path), "calls.sqlite", "not a database"])
    # The detail is for the operator: in the log, once a request.
    failed = [
        line for line in log_lines(tmp_path) if line["message"] == "the store failed; answered 503"
    ]
    assert [line.get("route") for line in failed] == [
        "GET /calls",
        "GET /calls/{CallSid}",
        "GET /calls/{CallSid}/events",
        None,
    ]
    assert all("file is not a database" in line["error"] for line in failed)
    assert all(str(tmp_path) in line["error"] for line in failed)


def test_a_postgresql_store_gone_is_503_with_a_generic_reason(tmp_path):
    import psycopg

    from tests.serve.test_faults import private_database
    from tests.stores._store_fixtures import postgres_dsn_or_skip

    with (
        private_database(postgres_dsn_or_skip()) as database,
        serving(tmp_path, "--store", database) as (base, _),
    ):
        assert (
            request(base + "/callbacks", urlencode(callback("CA1", "ringing", 1)).encode())[0]
            == 204
        )
        with psycopg.connect(database, autocommit=True) as admin:
            admin.execute('ALTER SCHEMA "callstate" RENAME TO "callstate_gone"')
        answers = _answers_while_down(base)
    _check_generic(
        answers, ["PostgreSQL", "callstate", "relation", "migrate", urlsplit(database).path]
    )
    failed = [
        line for line in log_lines(tmp_path) if line["message"] == "the store failed; answered 503"
    ]
    assert len(failed) == 4
    assert all("is not migrated" in line["error"] for line in failed)
