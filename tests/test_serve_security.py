"""``callstate serve`` under attack: the signed URL, the proxy headers, the logs, the errors.

Each test runs the receiver as users run it, a real process on a real socket,
and talks to it with ``http.client`` (so a hostile ``Host`` goes out as written).
"""

from __future__ import annotations

import http.client
import subprocess
import sys
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
