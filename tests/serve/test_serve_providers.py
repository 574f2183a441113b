"""``callstate serve --provider NAME``: the provider's dialect and signature on /callbacks.

Real ``callstate serve`` processes on real sockets, fed the providers' fixture payloads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote_plus

import pytest

from callstate._errors import UsageError
from callstate.serve import ServeConfig
from callstate.testing.provider_contract import ProviderRequest
from callstate.web._signature import twilio_signature
from tests.serve.test_serve import AUTH, request, serving
from tests.web.providers._stories import ED25519_PUBLIC, fixture, telnyx_signed

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_telnyx_callbacks_in_calls_out(tmp_path):
    initiated, _, hangup, _ = (e["body"] for e in fixture("telnyx_call_control"))
    sid = hangup["data"]["payload"]["call_control_id"]
    with serving(tmp_path, "--provider", "telnyx") as (base, _):
        for body in (hangup, initiated, hangup):
            status, said = request(base + "/callbacks", json.dumps(body).encode(), JSON)
            assert status == 204, said
        refused = request(base + "/callbacks", b'{"data": {"payload": {}}}', JSON)
        assert refused == (400, b"data.event_type: is missing\n")
        # Telnyx posts its other events to the same URL: 204, counted as ignored, not stored.
        for event_type in ("call.bridged", "call.playback.ended"):
            other = {"data": {**hangup["data"], "event_type": event_type}}
            assert request(base + "/callbacks", json.dumps(other).encode(), JSON) == (204, b"")
        status, body = request(base + f"/calls/{sid}", headers=AUTH)
        assert status == 200, body
        call = json.loads(body)
        metrics = request(base + "/metrics")[1].decode()
    assert (call["status"], call["deliveries"], call["duplicates"]) == ("busy", 2, 1)
    assert 'callstate_callbacks_total{result="ignored"} 2.0' in metrics


def test_vonage_failure_then_completed_or_the_other_way(tmp_path):
    """Not answered either way, even with --dialect twilio: Vonage pins its vocabulary."""
    with serving(tmp_path, "--provider", "vonage", "--dialect", "twilio") as (base, _):
        for sid, order in (("aaaa01", ("busy", "completed")), ("aaaa02", ("completed", "busy"))):
            for said in order:
                body = {"uuid": sid, "status": said, "timestamp": "2026-12-06T12:00:20.000Z"}
                if said == "completed":
                    body["duration"] = "7"
                assert request(base + "/callbacks", json.dumps(body).encode(), JSON)[0] == 204
        calls = [
            json.loads(request(base + f"/calls/{sid}", headers=AUTH)[1])
            for sid in ("aaaa01", "aaaa02")
        ]
    for call in calls:
        # Read as answered, completed would conflict with busy (conflicting_final).
        assert (call["status"], call["anomalies"]) == ("busy", [])
        assert "in-progress" not in call["timeline"] and "completed" not in call["timeline"]


def test_signalwire_signatures_are_checked_with_its_signing_key(tmp_path):
    body = fixture("signalwire")[2]["body"]  # completed
    pairs = [tuple(part.split("=", 1)) for part in body.split("&")]
    env = {"CALLSTATE_INSECURE_NO_SIGNATURES": "", "CALLSTATE_AUTH_TOKEN": "signing-key"}
    with serving(tmp_path, "--provider", "signalwire", env=env) as (base, _):
        url = base + "/callbacks"
        params = [(unquote_plus(k), unquote_plus(v)) for k, v in pairs]
        signature = twilio_signature("signing-key", url, params)
        good = {**FORM, "X-SignalWire-Signature": signature}
        assert request(url, body.encode(), good)[0] == 204
        alias = {**FORM, "X-Twilio-Signature": signature}
        assert request(url, body.encode(), alias)[0] == 204  # the alias; a duplicate
        forged = {**FORM, "X-SignalWire-Signature": twilio_signature("guess", url, params)}
        assert request(url, body.encode(), forged)[0] == 403
        call = json.loads(
            request(base + "/calls/b3877c40-da60-4998-90ad-b792e98472ca", headers=AUTH)[1]
        )
    assert (call["status"], call["duplicates"]) == ("completed", 1)


def test_telnyx_signatures_are_checked_with_its_public_key(tmp_path):
    """The auth token is the provider's signature secret: for Telnyx, its public key."""
    body = fixture("telnyx_call_control")[3]["body"].encode()  # the exact bytes, a hangup
    env = {"CALLSTATE_INSECURE_NO_SIGNATURES": "", "CALLSTATE_AUTH_TOKEN": ED25519_PUBLIC}
    with serving(tmp_path, "--provider", "telnyx", env=env) as (base, _):
        url = base + "/callbacks"
        now = datetime.now(UTC)
        signed = telnyx_signed(ProviderRequest.json(body.decode(), url=url), at=now)
        assert request(url, signed.body, dict(signed.headers))[0] == 204
        assert request(url, signed.body + b" ", dict(signed.headers))[0] == 403
        stale = telnyx_signed(
            ProviderRequest.json(body.decode(), url=url), at=now - timedelta(hours=1)
        )
        status, said = request(url, stale.body, dict(stale.headers))
        assert status == 403 and b"replay window" in said
        sid = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"
        call = json.loads(request(base + f"/calls/{sid}", headers=AUTH)[1])
    assert (call["status"], call["deliveries"]) == ("busy", 1)


def test_the_signature_secret_apart_from_the_auth_token(tmp_path):
    """SignalWire signs with a signing key, not the API token the Calls API takes."""
    body = fixture("signalwire")[1]["body"]  # in-progress
    params = [
        (unquote_plus(k), unquote_plus(v)) for k, v in (p.split("=", 1) for p in body.split("&"))
    ]
    env = {
        "CALLSTATE_INSECURE_NO_SIGNATURES": "",
        "CALLSTATE_AUTH_TOKEN": "the-api-token",
        "CALLSTATE_SIGNATURE_SECRET": "the-signing-key",
    }
    with serving(tmp_path, "--provider", "signalwire", env=env) as (base, _):
        url = base + "/callbacks"
        for key, answer in (("the-signing-key", 204), ("the-api-token", 403)):
            headers = {**FORM, "X-SignalWire-Signature": twilio_signature(key, url, params)}
            assert request(url, body.encode(), headers)[0] == answer, key


def test_an_unknown_provider_is_a_usage_error_naming_the_known_ones(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "callstate",
            "serve",
            "--provider",
            "nope",
            "--store",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "no provider is named 'nope'" in done.stderr
    assert "telnyx" in done.stderr and "vonage" in done.stderr


def test_a_provider_with_no_signature_needs_basic_auth_or_insecure():
    from callstate import providers
    from callstate.serve._auth import callback_verifier

    bandwidth = providers.get("bandwidth")
    with pytest.raises(UsageError, match=r"--basic-auth .*checks no signature of bandwidth's"):
        callback_verifier(auth_token="token", basic_auth=(), insecure=False, provider=bandwidth)
    # The token stays the Calls API's; Basic auth checks the callbacks.
    verifier = callback_verifier(
        auth_token="token", basic_auth=("u:p",), insecure=False, provider=bandwidth
    )
    assert type(verifier).__name__ == "BasicAuth"


def test_the_provider_setting():
    assert ServeConfig().provider == "twilio"
    assert ServeConfig.from_env({"CALLSTATE_PROVIDER": "plivo"}).provider == "plivo"
    assert (
        ServeConfig.from_env({"CALLSTATE_PROVIDER": "plivo"}, provider="vonage").provider
        == "vonage"
    )
    with pytest.raises(UsageError, match="no provider is named 'twillio'"):
        ServeConfig(provider="twillio")
