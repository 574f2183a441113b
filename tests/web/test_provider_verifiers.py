"""The providers' verifiers (issue 21): SignalWire, Telnyx, Plivo, Vonage, Bandwidth.

Each is checked against the vectors its provider (or its SDK) publishes, and
against the provider's own validator as an oracle where one installs from
PyPI (test-only, pinned in constraints/ci.txt): signalwire-sdk's
``webhook_validator``, telnyx's ``verify_webhook_signature``, plivo's
``validate_v3_signature``, PyJWT for Vonage's tokens. Where a provider
publishes no vector for its webhooks, the research notes derived some
(tests/web/providers/fixtures/SOURCES.md says which, and how).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from callstate import CallBook, Limits, UsageError, VerificationFailed
from callstate.testing.servers import serve_wsgi
from callstate.web import (
    SignalWireSignature,
    TelnyxSignature,
    WebhookHandler,
    WebhookRequest,
)
from callstate.web._request import normalize_headers, params_of
from callstate.web.wsgi import webhook_app

FIXTURES = Path(__file__).parent / "providers" / "fixtures"
FORM = "application/x-www-form-urlencoded"
AT = datetime(2026, 11, 24, 10, 15, 33, tzinfo=UTC)


def fixture(name: str, index: int) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))[index]
    return entry


def request(
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    method: str = "POST",
    at: datetime = AT,
) -> WebhookRequest:
    """The request a handler would hand a verifier: the parameters read as it reads them."""
    fields = normalize_headers(headers)
    params, form, _ = params_of(method, url, fields, body, Limits())
    return WebhookRequest(
        method=method,
        url=url,
        headers=fields,
        body=body,
        params=params,
        form=form,
        received_at=at,
    )


def refusal(verifier: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    """The field and reason of the verifier's refusal of the request."""
    with pytest.raises(VerificationFailed) as caught:
        verifier.verify(request(*args, **kwargs))
    return caught.value.field, caught.value.reason


def answer(
    verifier: Any,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    method: str = "POST",
    at: datetime = AT,
) -> tuple[int, str]:
    """What a sans-I/O handler with this verifier answers: status and text."""
    handler = WebhookHandler(CallBook(), verifier=verifier)
    got = handler(method, url, headers, body, at)
    return got.status, got.body.decode().rstrip("\n")


def one_byte_changed(body: bytes, data: st.DataObject) -> bytes:
    """``body`` with one byte replaced by another (or one byte added to an empty body)."""
    if not body:
        return bytes([data.draw(st.integers(0, 255), label="added")])
    at = data.draw(st.integers(0, len(body) - 1), label="at")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != body[at]), label="byte")
    return body[:at] + bytes([new]) + body[at + 1 :]


def callback(sid: str, status: str, sequence: int) -> list[tuple[str, str]]:
    return [("CallSid", sid), ("CallStatus", status), ("SequenceNumber", str(sequence))]


# SignalWire. Vectors verbatim from signalwire-python's tests (SOURCES.md 1.2:
# VECTOR_A hex JSON, VECTOR_B Twilio's form vector, VECTOR_C bodySHA256) and, from
# the older signalwire 2.1.1 package's tests, two callbacks SignalWire's servers
# signed (busy and no-answer over ngrok) and one RELAY JSON webhook.

SW_KEY = "PSKtest1234567890abcdef"
SW_CAPTURED_KEY = "PSK_V3bF8oyeRNpJWGoRWHNYQMUU"
SW_CAPTURED = [
    (
        "http://0aac-189-71-169-171.ngrok-free.app/voice",
        "lf3nWPmUr2y6jSeeoMW4mg58vgI=",
        {
            "AccountSid": "6bfbbe86-a901-4197-8759-2a0de1fa319d",
            "ApiVersion": "2010-04-01",
            "CallbackSource": "call-progress-events",
            "CallSid": "0703574f-b151-465d-aedb-28972eb513c7",
            "CallStatus": "busy",
            "Direction": "outbound-api",
            "From": "sip:+17063958228@sip.swire.io",
            "HangupBy": "sip:jpsantos@joaosantos-2a0de1fa319d.sip.swire.io",
            "HangupDirection": "inbound",
            "Timestamp": "Thu, 09 Nov 2023 17:05:04 +0000",
            "To": "sip:jpsantos@joaosantos-2a0de1fa319d.sip.swire.io",
            "SipResultCode": "486",
        },
    ),
    (
        "https://675d-189-71-169-171.ngrok-free.app/voice",
        "muUMpldcBHlzuXGZ5gbw1ETZCYA=",
        {
            "CallSid": "a97d4e8a-6047-4e2b-be48-fb96b33b5642",
            "AccountSid": "6bfbbe86-a901-4197-8759-2a0de1fa319d",
            "ApiVersion": "2010-04-01",
            "Direction": "outbound-api",
            "From": "sip:+17063958228@sip.swire.io",
            "To": "sip:jpsantos@joaosantos-2a0de1fa319d.sip.swire.io",
            "Timestamp": "Thu, 09 Nov 2023 14:40:55 +0000",
            "CallStatus": "no-answer",
            "CallbackSource": "call-progress-events",
            "HangupDirection": "outbound",
            "HangupBy": "sip:+17063958228@sip.swire.io",
            "SipResultCode": "487",
        },
    ),
]
SW_RELAY = (
    "https://81f2-2-45-18-191.ngrok-free.app/",
    "PSK_7TruNcSNTxp4zNrykMj4EPzF",
    "b18500437ebb010220ddd770cbe6fd531ea0ba0d",
    '{"call":{"call_id":"b5d63b2e-f75b-4dc8-b6d4-269b635f96c0","node_id":"fa3570ae-f8bd-42c2'
    '-83f4-9950d906c91b@us-west","segment_id":"b5d63b2e-f75b-4dc8-b6d4-269b635f96c0","call_st'
    'ate":"created","direction":"inbound","type":"phone","from":"+12135877632","to":"+120898'
    '06814","from_number":"+12135877632","to_number":"+12089806814","project_id":"4b7ae78a-d0'
    '2e-4889-a63b-08b156d5916e","space_id":"62615f44-2a34-4235-b38b-76b5a1de6ef8"},"vars":{}}',
)


def sw_sign(key: str, url: str, params: list[tuple[str, str]]) -> str:
    """base64 HMAC-SHA1 over the URL and the pairs sorted by name, a name's values as sent."""
    text = url + "".join(name + value for name, value in sorted(params, key=lambda p: p[0]))
    digest = hmac.new(key.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def form_headers(signature: str, header: str = "X-SignalWire-Signature") -> dict[str, str]:
    return {"Content-Type": FORM, header: signature}


def test_signalwire_vector_b_twilios_form_vector():
    entry = fixture("signalwire", 3)
    verifier = SignalWireSignature(secrets=["12345"])
    body = entry["body"].encode()
    verifier.verify(request(entry["url"], entry["headers"] | {"Content-Type": FORM}, body))
    # The same vector under the alias header, as legacy cXML apps receive it.
    alias = {"X-Twilio-Signature": entry["headers"]["X-SignalWire-Signature"]}
    verifier.verify(request(entry["url"], alias | {"Content-Type": FORM}, body))


def test_signalwire_vector_a_hex_over_the_url_and_raw_body():
    body = b'{"event":"call.state","params":{"call_id":"abc-123","state":"answered"}}'
    url = "https://example.ngrok.io/webhook"
    headers = {
        "Content-Type": "application/json",
        "X-SignalWire-Signature": "c3c08c1fefaf9ee198a100d5906765a6f394bf0f",
    }
    verifier = SignalWireSignature(secrets=[SW_KEY])
    verifier.verify(request(url, headers, body))
    # Tamper cases of the same file: the body's state, the key, the path.
    tampered = body.replace(b"answered", b"ringing")
    assert refusal(verifier, url, headers, tampered) == (
        "X-SignalWire-Signature",
        "does not match the URL and body",
    )
    assert refusal(SignalWireSignature(secrets=["other"]), url, headers, body)[1] == (
        "does not match the URL and body"
    )
    assert refusal(verifier, url + "2", headers, body)[0] == "X-SignalWire-Signature"


def test_signalwire_vector_c_body_sha256():
    body = b'{"event":"call.state"}'
    url = (
        "https://example.ngrok.io/webhook?bodySHA256="
        "69f3cbfc18e386ef8236cb7008cd5a54b7fed637a8cb3373b5a1591d7f0fd5f4"
    )
    headers = {
        "Content-Type": "application/json",
        "X-SignalWire-Signature": "dfO9ek8mxyFtn2nMz24plPmPfIY=",
    }
    verifier = SignalWireSignature(secrets=[SW_KEY])
    verifier.verify(request(url, headers, body))
    assert refusal(verifier, url, headers, b'{"event":"call.ended"}') == (
        "bodySHA256",
        "does not match the body",
    )


@pytest.mark.parametrize(("url", "signature", "params"), SW_CAPTURED)
def test_signalwire_callbacks_its_servers_signed(url, signature, params):
    verifier = SignalWireSignature(secrets=[SW_CAPTURED_KEY])
    body = urlencode(params).encode()
    verifier.verify(request(url, form_headers(signature), body))
    tampered = urlencode(params | {"CallStatus": "completed"}).encode()
    assert refusal(verifier, url, form_headers(signature), tampered) == (
        "X-SignalWire-Signature",
        "does not match the request",
    )


def test_signalwire_relay_json_its_servers_signed():
    url, key, signature, body = SW_RELAY
    headers = {"Content-Type": "application/json", "X-SignalWire-Signature": signature}
    SignalWireSignature(secrets=[key]).verify(request(url, headers, body.encode()))


def test_signalwire_through_the_handler_alias_rotation_and_refusals():
    url = "https://calls.example.com/status?tenant=7"
    params = callback("b3877c40-da60-4998-90ad-b792e98472ca", "ringing", 1)
    body = urlencode(params).encode()
    verifier = SignalWireSignature(secrets=["new-key", SW_KEY])  # rotating: both accepted
    signature = sw_sign(SW_KEY, url, params)
    assert answer(verifier, url, form_headers(signature), body)[0] == 204
    assert answer(verifier, url, form_headers(signature, "X-Twilio-Signature"), body)[0] == 204
    # Refusals name the header that was read.
    assert answer(verifier, url, {"Content-Type": FORM}, body) == (
        403,
        "X-SignalWire-Signature: is missing",
    )
    assert answer(verifier, url + "8", form_headers(signature), body) == (
        403,
        "X-SignalWire-Signature: does not match the request",
    )
    assert answer(verifier, url, form_headers(signature, "X-Twilio-Signature"), body + b"0") == (
        403,
        "X-Twilio-Signature: does not match the request",
    )
    assert answer(verifier, url, form_headers("short"), body) == (
        403,
        "X-SignalWire-Signature: is neither a base64 nor a hex HMAC-SHA1 (28 or 40 characters)",
    )
    # The SignalWire header is the one read when both are sent.
    both = form_headers(signature) | {"X-Twilio-Signature": "A" * 27 + "="}
    assert answer(verifier, url, both, body)[0] == 204
    # Per project: the AccountSid (the project id) picks the keys.
    per_project = SignalWireSignature(secrets={"project-1": [SW_KEY]})
    signed = [*params, ("AccountSid", "project-1")]
    headers = form_headers(sw_sign(SW_KEY, url, signed))
    assert answer(per_project, url, headers, urlencode(signed).encode())[0] == 204
    other = [*params, ("AccountSid", "project-2")]
    headers = form_headers(sw_sign(SW_KEY, url, other))
    assert answer(per_project, url, headers, urlencode(other).encode()) == (
        403,
        "AccountSid: has no secret configured",
    )


def test_signalwire_a_repeated_name_in_the_order_sent_or_sorted():
    url = "https://calls.example.com/status"
    params = [*callback("sw-1", "ringing", 1), ("To", "b"), ("To", "a")]
    body = urlencode(params).encode()
    verifier = SignalWireSignature(secrets=[SW_KEY])
    in_order = sw_sign(SW_KEY, url, params)  # signalwire-sdk: ...TobToa
    twilio_sorted = sw_sign(SW_KEY, url, sorted(params))  # Twilio's validator: ...ToaTob
    assert in_order != twilio_sorted
    for signature in (in_order, twilio_sorted):
        verifier.verify(request(url, form_headers(signature), body))
    assert refusal(verifier, url, form_headers(sw_sign(SW_KEY, url, params[:-1])), body) == (
        "X-SignalWire-Signature",
        "does not match the request",
    )


def test_signalwire_a_body_the_signature_does_not_cover_is_refused():
    """SignalWire's validator accepts a signature over the URL alone for any body; we do not."""
    from signalwire.core.security.webhook_validator import validate_webhook_signature

    url = "https://calls.example.com/status"
    params = callback("sw-1", "completed", 3)
    body = urlencode(params).encode()
    url_only = sw_sign(SW_KEY, url, [])
    assert validate_webhook_signature(SW_KEY, url_only, url, body.decode())
    assert refusal(SignalWireSignature(secrets=[SW_KEY]), url, form_headers(url_only), body) == (
        "X-SignalWire-Signature",
        "does not match the request",
    )
    json_headers = {"Content-Type": "application/json", "X-SignalWire-Signature": url_only}
    assert refusal(SignalWireSignature(secrets=[SW_KEY]), url, json_headers, b"{}")[0] == (
        "bodySHA256"
    )


sw_names = st.text(
    st.characters(categories=["Lu", "Ll", "Nd"], max_codepoint=127), min_size=1, max_size=8
)
sw_values = st.text(st.characters(codec="utf-8", exclude_characters="\x00\r"), max_size=12)
sw_urls = st.sampled_from(
    [
        "https://calls.example.com/status",
        "https://calls.example.com:443/status?x=1",
        "http://calls.example.com/s?a=b&c=%20",
        "http://calls.example.com:80/s",
        "https://calls.example.com:8443/s",
    ]
)


def sw_variants(url: str) -> list[str]:
    """The URLs signalwire-sdk tries: as given, and the default port added or removed."""
    from signalwire.core.security.webhook_validator import _candidate_urls

    return list(_candidate_urls(url))


@given(
    st.text(min_size=1, max_size=40),
    sw_urls,
    st.lists(st.tuples(sw_names, sw_values), min_size=1, max_size=6),
    st.data(),
)
def test_signalwire_accepts_what_signalwires_validator_accepts(key, url, params, data):
    from signalwire.core.security.webhook_validator import validate_webhook_signature

    body = urlencode(params).encode()
    signed_url = data.draw(st.sampled_from(sw_variants(url)), label="signed URL")
    signature = sw_sign(key, signed_url, params)
    assert validate_webhook_signature(key, signature, url, body.decode())
    verifier = SignalWireSignature(secrets=[key])
    verifier.verify(request(url, form_headers(signature), body))
    # A signature made with another key: both refuse.
    forged = sw_sign(key + "x", signed_url, params)
    assert not validate_webhook_signature(key, forged, url, body.decode())
    assert refusal(verifier, url, form_headers(forged), body)[0] == "X-SignalWire-Signature"


@given(st.text(min_size=1, max_size=40), st.binary(max_size=200), st.data())
def test_signalwire_hex_is_refused_for_any_changed_byte_of_the_body(key, body, data):
    url = "https://calls.example.com/relay"
    signature = hmac.new(key.encode(), url.encode() + body, hashlib.sha1).hexdigest()
    headers = {"Content-Type": "application/octet-stream", "X-SignalWire-Signature": signature}
    verifier = SignalWireSignature(secrets=[key])
    # Any body type: the hex form covers the raw bytes (the handler reads JSON or forms only).
    verifier.verify(
        WebhookRequest(
            method="POST",
            url=url,
            headers=normalize_headers(headers),
            body=body,
            params=(),
            form=False,
            received_at=AT,
        )
    )
    changed = one_byte_changed(body, data)
    with pytest.raises(VerificationFailed) as caught:
        verifier.verify(
            WebhookRequest(
                method="POST",
                url=url,
                headers=normalize_headers(headers),
                body=changed,
                params=(),
                form=False,
                received_at=AT,
            )
        )
    assert caught.value.field == "X-SignalWire-Signature"


@given(st.dictionaries(sw_names.map("X".__add__), sw_values, max_size=4), st.data())
def test_signalwire_form_any_changed_byte_is_refused_unless_the_parameters_are_the_same(
    extra, data
):
    """A form signature covers the parameters read, not their encoding: ``%2B`` is ``%2b``."""
    url = "https://calls.example.com/status"
    params = list(extra.items())
    body = urlencode([*callback("sw-1", "busy", 3), *params]).encode()
    signature = sw_sign(SW_KEY, url, [*callback("sw-1", "busy", 3), *params])
    verifier = SignalWireSignature(secrets=[SW_KEY])
    assert answer(verifier, url, form_headers(signature), body)[0] == 204
    changed = one_byte_changed(body, data)
    status, text = answer(verifier, url, form_headers(signature), changed)
    try:
        same = (
            request(url, form_headers(signature), changed).params
            == request(url, form_headers(signature), body).params
        )
    except Exception:  # the changed body is no form the handler reads: a 400 naming why
        same = False
    if same:
        assert status == 204
    else:
        assert status in (400, 403), text
        assert status == 400 or text.startswith("X-SignalWire-Signature: ")


# Telnyx. Telnyx publishes no vector: the research notes signed a TeXML form
# and a Call Control JSON body with RFC 8032's TEST 1 key (SOURCES.md 3.2), and
# telnyx-python's own verifier is the oracle for keys made here.

RFC8032_TEST1_SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_TEST1_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
TEST1_PUBLIC_B64 = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
SIG = "telnyx-signature-ed25519"
TS = "telnyx-timestamp"


def test_the_derived_vectors_key_is_rfc8032_test_1():
    secret = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC8032_TEST1_SECRET))
    public = secret.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert public.hex() == RFC8032_TEST1_PUBLIC
    assert base64.b64encode(public).decode() == TEST1_PUBLIC_B64
    # RFC 8032 7.1 TEST 1: the empty message's signature.
    assert secret.sign(b"").hex().startswith("e5564300c360ac729086e2cc806e828a84877f1e")


@pytest.mark.parametrize(("name", "index"), [("telnyx_texml", 4), ("telnyx_call_control", 3)])
def test_telnyx_derived_vectors(name, index):
    entry = fixture(name, index)
    headers = entry["headers"] | {"Content-Type": entry["content_type"]}
    body = entry["body"].encode()
    sent = datetime.fromtimestamp(int(entry["headers"][TS]), UTC)
    verifier = TelnyxSignature(public_keys=TEST1_PUBLIC_B64)
    verifier.verify(request("https://calls.example.com/telnyx", headers, body, at=sent))
    # One byte more, a changed timestamp, or the same webhook an hour later.
    assert refusal(verifier, "https://x.example/", headers, body + b" ", at=sent) == (
        SIG,
        "does not match the timestamp and body",
    )
    moved = headers | {TS: str(int(headers[TS]) + 1)}
    assert refusal(verifier, "https://x.example/", moved, body, at=sent)[0] == SIG
    assert refusal(verifier, "https://x.example/", headers, body, at=sent + timedelta(hours=1)) == (
        TS,
        "is 3600 s from when the webhook was received, outside the 300 s replay window",
    )


class TelnyxSigner:
    """A Telnyx account's key pair, made here: signs as Telnyx does."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public = base64.b64encode(raw).decode()

    def headers(self, body: bytes, at: datetime | int, content_type: str) -> dict[str, str]:
        stamp = str(at if isinstance(at, int) else int(at.timestamp()))
        signature = self.key.sign(stamp.encode() + b"|" + body)
        return {
            "Content-Type": content_type,
            TS: stamp,
            SIG: base64.b64encode(signature).decode(),
        }


TELNYX = TelnyxSigner()
TELNYX_VERIFIER = TelnyxSignature(public_keys=[TELNYX.public])


def texml(status: str, sequence: int) -> bytes:
    return urlencode(
        callback("v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBj", status, sequence)
    ).encode()


def test_telnyx_texml_through_the_handler():
    url = "https://calls.example.com/telnyx"
    body = texml("ringing", 1)
    headers = TELNYX.headers(body, AT, FORM)
    assert answer(TELNYX_VERIFIER, url, headers, body) == (204, "")
    # The URL is not signed: another path is still Telnyx's webhook.
    assert answer(TELNYX_VERIFIER, url + "/other", headers, body)[0] == 204
    tampered = body.replace(b"ringing", b"completed")
    assert answer(TELNYX_VERIFIER, url, headers, tampered) == (
        403,
        f"{SIG}: does not match the timestamp and body",
    )
    assert answer(TELNYX_VERIFIER, url, {k: v for k, v in headers.items() if k != SIG}, body) == (
        403,
        f"{SIG}: is missing",
    )
    assert answer(TELNYX_VERIFIER, url, {k: v for k, v in headers.items() if k != TS}, body) == (
        403,
        f"{TS}: is missing",
    )
    assert answer(TELNYX_VERIFIER, url, headers | {TS: "1.5e9"}, body) == (
        403,
        f"{TS}: is not a Unix time in whole seconds",
    )
    assert answer(TELNYX_VERIFIER, url, headers | {SIG: "c2hvcnQ="}, body) == (
        403,
        f"{SIG}: is not a base64 Ed25519 signature (64 bytes)",
    )
    assert answer(TELNYX_VERIFIER, url, headers | {SIG: "!" * 88}, body)[1] == (
        f"{SIG}: is not a base64 Ed25519 signature (64 bytes)"
    )
    # Another account's key: refused; both while rotating: accepted.
    other = TelnyxSigner()
    assert answer(TelnyxSignature(public_keys=[other.public]), url, headers, body)[0] == 403
    both = TelnyxSignature(public_keys=[other.public, TELNYX.public])
    assert answer(both, url, headers, body)[0] == 204


@pytest.mark.parametrize("seconds", [-300, -1, 0, 1, 300])
def test_telnyx_timestamps_within_the_window_either_way(seconds):
    body = texml("ringing", 1)
    headers = TELNYX.headers(body, AT + timedelta(seconds=seconds), FORM)
    TELNYX_VERIFIER.verify(request("https://x.example/", headers, body))


@pytest.mark.parametrize("seconds", [-301, 301, 10**6])
def test_telnyx_timestamps_outside_the_window_are_refused(seconds):
    body = texml("ringing", 1)
    headers = TELNYX.headers(body, AT + timedelta(seconds=seconds), FORM)
    field, reason = refusal(TELNYX_VERIFIER, "https://x.example/", headers, body)
    assert (field, reason) == (
        TS,
        f"is {abs(seconds)} s from when the webhook was received, outside the 300 s replay window",
    )
    wider = TelnyxSignature(public_keys=TELNYX.public, replay_window=timedelta(days=30))
    wider.verify(request("https://x.example/", headers, body))


def test_telnyx_settings_are_checked():
    with pytest.raises(UsageError, match="at least one public key"):
        TelnyxSignature(public_keys=[])
    with pytest.raises(UsageError, match="must be base64"):
        TelnyxSignature(public_keys="not base64!")
    with pytest.raises(UsageError, match="32 bytes of Ed25519, not 3"):
        TelnyxSignature(public_keys="YWJj")
    with pytest.raises(UsageError, match="positive timedelta"):
        TelnyxSignature(public_keys=TELNYX.public, replay_window=timedelta(0))
    with pytest.raises(UsageError, match="positive timedelta"):
        TelnyxSignature(public_keys=TELNYX.public, replay_window=300)  # type: ignore[arg-type]


@given(st.binary(max_size=300), st.data())
def test_telnyx_refuses_any_changed_byte_of_the_body(body, data):
    headers = TELNYX.headers(body, AT, "application/json")
    url = "https://calls.example.com/telnyx"

    def verify(raw: bytes) -> None:
        TELNYX_VERIFIER.verify(
            WebhookRequest(
                method="POST",
                url=url,
                headers=normalize_headers(headers),
                body=raw,
                params=(),
                form=False,
                received_at=AT,
            )
        )

    verify(body)
    with pytest.raises(VerificationFailed) as caught:
        verify(one_byte_changed(body, data))
    assert (caught.value.field, caught.value.reason) == (
        SIG,
        "does not match the timestamp and body",
    )


@given(st.text(max_size=200), st.booleans())
def test_telnyx_accepts_exactly_what_telnyxs_verifier_accepts(text, tamper):
    """telnyx-python's verifier reads the clock: the webhook is signed and received now."""
    from telnyx.lib.webhook_verification import WebhookVerificationError, verify_webhook_signature

    body = text.encode()
    stamp = int(time.time())
    headers = TELNYX.headers(body, stamp, "application/json")
    sent = body + b"x" if tamper else body
    at = datetime.fromtimestamp(stamp, UTC)
    try:
        verify_webhook_signature(sent, headers, TELNYX.public)
    except WebhookVerificationError:
        oracle = False
    else:
        oracle = True
    ours = True
    try:
        TELNYX_VERIFIER.verify(
            WebhookRequest(
                method="POST",
                url="https://x.example/",
                headers=normalize_headers(headers),
                body=sent,
                params=(),
                form=False,
                received_at=at,
            )
        )
    except VerificationFailed:
        ours = False
    assert ours == oracle == (not tamper)


def test_telnyx_call_control_json_through_a_real_server():
    """Call Control's JSON, signed, through the WSGI adapter over a real socket.

    Until the Call Control dialect reads it, a verified event is answered 400
    naming what the Twilio-shaped parser missed; a tampered one is refused 403
    before anything is read. A Twilio-shaped JSON body is recorded (204).
    """
    entry = fixture("telnyx_call_control", 2)
    body = json.dumps(entry["body"], separators=(",", ":")).encode()
    handler = WebhookHandler(CallBook(), verifier=TELNYX_VERIFIER)

    def post(url: str, payload: bytes, headers: dict[str, str]) -> tuple[int, str]:
        sent = urllib.request.Request(url, data=payload, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(sent, timeout=10) as got:
                return got.status, got.read().decode()
        except urllib.error.HTTPError as refused:
            with refused:
                return refused.code, refused.read().decode().rstrip("\n")

    with serve_wsgi(webhook_app(handler, clock=lambda: AT)) as base:
        url = base + "/telnyx"
        headers = TELNYX.headers(body, AT, "application/json")
        assert post(url, body, headers) == (400, "CallSid: is missing")
        tampered = body.replace(b"call_rejected", b"user_busy")
        assert tampered != body
        assert post(url, tampered, headers) == (
            403,
            f"{SIG}: does not match the timestamp and body",
        )
        stale = TELNYX.headers(body, AT - timedelta(minutes=10), "application/json")
        assert post(url, body, stale)[0] == 403
        flat = json.dumps(
            {"CallSid": "v3:abc", "CallStatus": "completed", "SequenceNumber": 3}
        ).encode()
        assert post(url, flat, TELNYX.headers(flat, AT, "application/json")) == (204, "")


def test_importing_callstate_web_needs_no_cryptography():
    script = textwrap.dedent(
        """
        import sys

        class NoCryptography:
            def find_spec(self, name, path=None, target=None):
                if name == "cryptography" or name.startswith("cryptography."):
                    raise ImportError("no cryptography here")
                return None

        sys.meta_path.insert(0, NoCryptography())
        import callstate.web
        from callstate import UsageError
        try:
            callstate.web.TelnyxSignature(public_keys="11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
        except UsageError as exc:
            print(exc)
        assert not any(m.startswith("cryptography") for m in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'callstate[telnyx]'" in done.stdout
