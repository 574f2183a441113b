"""The sans-I/O webhook handler: verification, limits, answers. No server here."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import callstate._errors
import callstate.web
from callstate import (
    CallBook,
    CallStatus,
    CredentialsRequired,
    InvalidCallback,
    InvalidInput,
    Limits,
    Outcome,
    RecordDelivery,
    StoreUnavailable,
    UsageError,
    VerificationFailed,
    VersionConflict,
)
from callstate.stores import Runner, SQLiteStore
from callstate.testing.web_contract import SwitchableSink, callback
from callstate.web import (
    AllOf,
    AnyOf,
    AsyncWebhookHandler,
    BasicAuth,
    Hooks,
    TrustedProxy,
    TwilioSignature,
    Unverified,
    WebhookHandler,
    WebhookRequest,
)
from callstate.web._handler import refusal_status
from callstate.web._signature import body_sha256, twilio_signature
from callstate.web._url import port_variants

AT = datetime(2026, 11, 24, 10, 15, 33, tzinfo=UTC)
URL = "https://calls.example.com/status?tenant=7"
TOKEN = "token-now"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# The published vectors (DOMAIN.md).
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
]


def signed(url: str, params: list[tuple[str, str]], token: str = TOKEN) -> dict[str, str]:
    return {**FORM, "X-Twilio-Signature": twilio_signature(token, url, params)}


def post(handler: WebhookHandler, params: list[tuple[str, str]], **kw: object) -> tuple[int, str]:
    """The status and the body, or for a 204 (no body) its ``Callstate-Result``."""
    url = str(kw.pop("url", URL))
    headers = kw.pop("headers", None) or signed(url, params)
    answer = handler("POST", url, headers, urlencode(params).encode(), AT)  # type: ignore[arg-type]
    if answer.status == 204:
        assert answer.body == b""
        return 204, dict(answer.headers)["Callstate-Result"]
    return answer.status, answer.body.decode()


@pytest.fixture
def book() -> CallBook:
    return CallBook()


@pytest.fixture
def handler(book: CallBook) -> WebhookHandler:
    return WebhookHandler(book, verifier=TwilioSignature(secrets=[TOKEN]))


def request(url: str, params: list[tuple[str, str]], headers: dict[str, str]) -> WebhookRequest:
    lowered = {name.lower(): value for name, value in headers.items()}
    return WebhookRequest(
        method="POST",
        url=url,
        headers=lowered,
        body=urlencode(params).encode(),
        params=tuple(params),
        form=True,
        received_at=AT,
    )


# Signatures.


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (VECTOR_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        # Signed with the port, received without it, and the other way round.
        (VECTOR_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    ],
)
def test_published_vectors(url: str, signature: str) -> None:
    verifier = TwilioSignature(secrets=["12345"])
    verifier.verify(request(url, VECTOR_PARAMS, {"X-Twilio-Signature": signature}))


def test_published_vector_rejects_a_changed_parameter() -> None:
    params = [*VECTOR_PARAMS[:-1], ("Caller", "+14158675300")]
    verifier = TwilioSignature(secrets=["12345"])
    with pytest.raises(callstate.VerificationFailed, match="does not match"):
        verifier.verify(
            request(VECTOR_URL, params, {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="})
        )


def test_port_variants() -> None:
    assert port_variants("https://a.b/x?y") == ("https://a.b/x?y", "https://a.b:443/x?y")
    assert port_variants("http://a.b:80/x") == ("http://a.b:80/x", "http://a.b/x")
    # A non-default port: also without it, as Twilio's validator tries (issue 15.2).
    assert port_variants("http://a.b:8080/x") == ("http://a.b:8080/x", "http://a.b/x")
    assert port_variants("https://a.b:80/x") == ("https://a.b:80/x", "https://a.b/x")
    assert port_variants("ftp://a.b:21/x") == ("ftp://a.b:21/x",)
    assert port_variants("https://[::1]/x") == ("https://[::1]/x", "https://[::1]:443/x")


def test_accepted_then_duplicate(handler: WebhookHandler, book: CallBook) -> None:
    params = callback(status="completed", seq=3)
    assert post(handler, params) == (204, "accepted")
    assert post(handler, params) == (204, "duplicate")
    assert book.state("CA0001").status is CallStatus.COMPLETED


def test_rotation_accepts_every_listed_secret(book: CallBook) -> None:
    handler = WebhookHandler(book, verifier=TwilioSignature(secrets=["new", "old"]))
    params = callback()
    for token in ("new", "old"):
        assert post(handler, params, headers=signed(URL, params, token))[0] == 204
    assert post(handler, params, headers=signed(URL, params, "retired"))[0] == 403


def test_per_account_secrets(book: CallBook) -> None:
    secrets = {"AC1": ["one"], "AC2": "two"}
    handler = WebhookHandler(book, verifier=TwilioSignature(secrets=secrets))
    one = [*callback(call_sid="CA1")[1:], ("AccountSid", "AC1")]
    two = [*callback(call_sid="CA2")[1:], ("AccountSid", "AC2")]
    assert post(handler, one, headers=signed(URL, one, "one"))[0] == 204
    assert post(handler, two, headers=signed(URL, two, "two"))[0] == 204
    # Each account's secret is good for that account only.
    assert post(handler, one, headers=signed(URL, one, "two"))[0] == 403
    stranger = [*callback(call_sid="CA3")[1:], ("AccountSid", "AC3")]
    status, text = post(handler, stranger, headers=signed(URL, stranger, "one"))
    assert (status, text) == (403, "AccountSid: has no secret configured\n")
    twice = [*one, ("AccountSid", "AC2")]
    assert post(handler, twice, headers=signed(URL, twice, "one")) == (
        403,
        "AccountSid: is repeated\n",
    )


def test_a_signed_callback_reshaped_with_a_repeated_name_is_refused(book: CallBook) -> None:
    # Twilio's signature covers each distinct (name, value) pair once: a copy of a
    # pair still verifies. No provider repeats a name, so the copy is refused.
    handler = WebhookHandler(book, verifier=TwilioSignature(secrets=[TOKEN]))
    captured = [*callback(status="busy", seq=3), ("From", "+14155550100")]
    headers = signed(URL, captured)
    reshaped = [*captured, ("From", "+14155550100")]
    assert twilio_signature(TOKEN, URL, reshaped) == headers["X-Twilio-Signature"]
    assert post(handler, reshaped, headers=headers) == (400, "From: is repeated\n")
    assert "CA0001" not in book
    assert post(handler, captured, headers=headers) == (204, "accepted")


def test_secrets_looked_up_by_a_function(book: CallBook) -> None:
    asked: list[str | None] = []

    def lookup(account_sid: str | None) -> list[str]:
        asked.append(account_sid)
        return [f"token-of-{account_sid}"]

    handler = WebhookHandler(book, verifier=TwilioSignature(secrets=lookup))
    params = callback()
    account = dict(params)["AccountSid"]
    assert post(handler, params, headers=signed(URL, params, f"token-of-{account}"))[0] == 204
    assert asked == [account]


@pytest.mark.parametrize("bad", [[], [""], "", {"AC1": [""]}])
def test_secrets_must_be_usable(bad: object) -> None:
    with pytest.raises(UsageError):
        TwilioSignature(secrets=bad)  # type: ignore[arg-type]


@settings(max_examples=75, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(signature=st.text(max_size=60) | st.sampled_from(["", "=" * 28, "A" * 27 + "=", "A" * 28]))
def test_any_malformed_signature_is_a_403_never_an_exception(
    handler: WebhookHandler, signature: str
) -> None:
    params = callback(call_sid="CA-fuzz")
    headers = {**FORM, "X-Twilio-Signature": signature}
    assert post(handler, params, headers=headers)[0] == 403


def test_get_signs_the_url_alone(handler: WebhookHandler, book: CallBook) -> None:
    url = f"{URL}&{urlencode(callback(status='in-progress', seq=2))}"
    headers = {"X-Twilio-Signature": twilio_signature(TOKEN, url)}
    answer = handler("GET", url, headers, b"", AT)
    assert answer.status == 204
    assert book.state("CA0001").answered


def test_json_body_is_covered_by_body_sha256(handler: WebhookHandler, book: CallBook) -> None:
    body = json.dumps({**dict(callback(status="busy", seq=3)), "SequenceNumber": 3}).encode()
    url = f"{URL}&bodySHA256={body_sha256(body)}"
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Signature": twilio_signature(TOKEN, url),
    }
    assert handler("POST", url, headers, body, AT).status == 204
    assert book.state("CA0001").status is CallStatus.BUSY
    tampered = body.replace(b"busy", b"failed")
    answer = handler("POST", url, headers, tampered, AT)
    assert (answer.status, answer.body) == (403, b"bodySHA256: does not match the body\n")
    bare = {"Content-Type": "application/json", "X-Twilio-Signature": twilio_signature(TOKEN, URL)}
    answer = handler("POST", URL, bare, body, AT)
    assert answer.status == 403
    assert answer.body.startswith(b"bodySHA256: is missing")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "body: is not valid JSON"),
        (b"[1, 2]", "body: must be a JSON object of parameters"),
        (b'{"CallSid": {"a": 1}}', "CallSid: must be a string or a whole number"),
        (b'{"CallSid": true}', "CallSid: must be a string or a whole number"),
        (b"[" * 5000 + b"]" * 5000, "body: is not valid JSON"),
    ],
)
def test_bad_json_is_a_400(body: bytes, reason: str) -> None:
    handler = WebhookHandler(CallBook(), verifier=Unverified())
    answer = handler("POST", URL, {"Content-Type": "application/json"}, body, AT)
    assert (answer.status, answer.body.decode()) == (400, f"{reason}\n")


def test_a_null_in_a_json_callback_is_an_absent_field() -> None:
    # What a JSON writer puts where a value is missing; only the fields the core
    # reads may refuse a callback (a provider does not send a 4xx'd one again).
    book = CallBook()
    kept: list[RecordDelivery] = []

    class Keeping:
        def handle(self, command: RecordDelivery) -> Outcome:
            kept.append(command)
            return book.handle(command)

    handler = WebhookHandler(Keeping(), verifier=Unverified())
    document = {
        **dict(callback(status="busy", seq=3)),
        "SequenceNumber": 3,
        "ForwardedFrom": None,
        "CallerName": None,
        "Timestamp": None,
        "Price": -0.013,
        "Recording": False,
        "StirVerstat": {"level": "A"},
        "Codecs": ["PCMU", None],
    }
    headers = {"Content-Type": "application/json"}
    answer = handler("POST", URL, headers, json.dumps(document).encode(), AT)
    assert answer.status == 204, answer.body
    assert book.state("CA0001").status is CallStatus.BUSY
    (command,) = kept
    assert command.delivery.timestamp is None
    params = dict(command.delivery.params)
    assert "ForwardedFrom" not in params and "CallerName" not in params
    assert (params["SequenceNumber"], params["Price"], params["Recording"]) == (
        "3",
        "-0.013",
        "false",
    )
    assert (params["StirVerstat"], params["Codecs"]) == ('{"level":"A"}', '["PCMU",null]')
    for field, value, reason in (
        ("SequenceNumber", None, "SequenceNumber: is missing"),
        ("CallStatus", ["busy"], "CallStatus: must be a string or a whole number"),
        ("CallDuration", 7.5, "CallDuration: must be a string or a whole number"),
    ):
        body = json.dumps({**document, field: value}).encode()
        answer = handler("POST", URL, headers, body, AT)
        assert (answer.status, answer.body.decode()) == (400, f"{reason}\n")


def test_other_content_types_are_refused(handler: WebhookHandler) -> None:
    answer = handler("POST", URL, {"Content-Type": "text/xml"}, b"<x/>", AT)
    assert answer.status == 400
    assert answer.body.startswith(b"Content-Type: must be")


def test_other_methods_are_405(handler: WebhookHandler) -> None:
    answer = handler("DELETE", URL, {}, b"", AT)
    assert answer.status == 405
    assert ("Allow", "GET, POST") in answer.headers


# Basic auth.


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth(book: CallBook) -> None:
    verifier = BasicAuth(credentials={"twilio": ["new-pass", "old-pass"]}, realm="calls")
    handler = WebhookHandler(book, verifier=verifier)
    params = callback()
    answer = handler("POST", URL, FORM, urlencode(params).encode(), AT)
    assert answer.status == 401
    assert ("WWW-Authenticate", 'Basic realm="calls"') in answer.headers
    for password in ("new-pass", "old-pass"):
        headers = {**FORM, "Authorization": basic("twilio", password)}
        assert post(handler, params, headers=headers)[0] == 204
    for user, password in (("twilio", "nope"), ("other", "new-pass")):
        headers = {**FORM, "Authorization": basic(user, password)}
        assert post(handler, params, headers=headers) == (
            403,
            "Authorization: credentials are not accepted\n",
        )
    for header in ("Bearer abc", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()):
        status, _ = post(handler, params, headers={**FORM, "Authorization": header})
        assert status == 401


def test_all_of_and_any_of(book: CallBook) -> None:
    auth = BasicAuth(credentials={"u": "p"})
    signature = TwilioSignature(secrets=[TOKEN])
    params = callback()
    both = {**signed(URL, params), "Authorization": basic("u", "p")}
    only_signed = signed(URL, params)
    strict = WebhookHandler(book, verifier=AllOf([auth, signature]))
    assert post(strict, params, headers=both)[0] == 204
    assert post(strict, params, headers=only_signed)[0] == 401
    lenient = WebhookHandler(book, verifier=AnyOf([auth, signature]))
    assert post(lenient, params, headers=only_signed)[0] == 204
    assert post(lenient, params, headers=FORM)[0] == 401  # the first one's failure
    with pytest.raises(UsageError):
        AllOf([])


# Input limits: each a 400 naming the field, and the next good request still works.

SMALL = Limits(max_body_bytes=400)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"CallSid=CA1&To=" + b"x" * 500, "body: is larger than 400 bytes"),
        (
            b"CallSid=CA1&CallStatus=ringing&CallStatus=busy&SequenceNumber=1",
            "CallStatus: is repeated",
        ),
        (b"CallSid=CA1&To=\xff", "body: is not valid UTF-8"),
        (b"CallSid=CA1&To=%C3%28", "To: is not valid UTF-8 once percent-decoded"),
        (
            b"CallSid=CA1;CallStatus=ringing",
            "body: uses ';', which is not a separator of form fields",
        ),
        (
            b"CallSid=CA1&CallStatus=ringing&SequenceNumber=2147483648",
            "SequenceNumber: is out of range (at most 2147483647)",
        ),
        (
            b"CallSid=CA1&CallStatus=busy&SequenceNumber=3&CallDuration=99999999999",
            "CallDuration: is out of range (at most 2147483647)",
        ),
        (b"CallSid=CA1&SequenceNumber=1", "CallStatus: is missing"),
        (
            b"CallSid=CA1&CallStatus=dancing&SequenceNumber=1",
            "CallStatus: is not a call status: 'dancing'",
        ),
    ],
)
def test_each_limit_is_a_400_with_its_reason(body: bytes, reason: str) -> None:
    sink = SwitchableSink()
    handler = WebhookHandler(sink, verifier=Unverified(), limits=SMALL)
    answer = handler("POST", URL, FORM, body, AT)
    assert (answer.status, answer.body.decode()) == (400, f"{reason}\n")
    assert sink.handled == 0
    good = handler("POST", URL, FORM, urlencode(callback()[1:]).encode(), AT)
    assert good.status == 204


@pytest.mark.parametrize(
    "extra",
    [
        [(f"F{i}", "1") for i in range(150)],  # more fields than the old limit of 100
        [("CallToken", "t" * 3_000)],  # longer than the old 2,048
        [("N" * 100, "1")],  # a name longer than the old 64
    ],
    ids=["many-fields", "long-value", "long-name"],
)
def test_fields_the_core_does_not_read_are_kept_however_long_or_many(
    extra: list[tuple[str, str]],
) -> None:
    # Refusing them lost the event: a provider does not send a 4xx'd callback again.
    book = CallBook()
    kept: list[RecordDelivery] = []

    class Keeping:
        def handle(self, command: RecordDelivery) -> Outcome:
            kept.append(command)
            return book.handle(command)

    handler = WebhookHandler(Keeping(), verifier=Unverified())
    params = [*callback(status="busy", seq=3), *extra]
    for method, url, body in (
        ("POST", URL, urlencode(params).encode()),
        ("GET", f"https://calls.example.com/status?{urlencode(params)}", b""),
        ("POST", URL, json.dumps(dict(params)).encode()),
    ):
        headers = {"Content-Type": "application/json"} if body.startswith(b"{") else FORM
        answer = handler(method, url, headers, body, AT)
        assert answer.status == 204, answer.body
    assert book.state("CA0001").status is CallStatus.BUSY
    assert len(kept) == 3
    for command in kept:
        assert list(command.delivery.params) == params


@settings(max_examples=100)
@given(body=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_any_body_gets_a_2xx_or_a_4xx(body: bytes) -> None:
    handler = WebhookHandler(CallBook(), verifier=Unverified(), limits=SMALL)
    for content_type in ("application/x-www-form-urlencoded", "application/json"):
        answer = handler("POST", URL, {"Content-Type": content_type}, body, AT)
        assert answer.status in (204, 400)
        assert all("\n" not in v and "\r" not in v for _, v in answer.headers)


# The sink: stored or not, and nothing else.


class Failing:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def handle(self, command: RecordDelivery) -> Outcome:
        raise self.exc


@pytest.mark.parametrize(
    "exc", [StoreUnavailable("down"), VersionConflict("CA1", 1, 2), RuntimeError("a bug")]
)
def test_a_sink_that_cannot_store_is_a_503(
    exc: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    handler = WebhookHandler(Failing(exc), verifier=Unverified())
    answer = handler("POST", URL, FORM, urlencode(callback()).encode(), AT)
    assert answer.status == 503
    assert ("a bug" in caplog.text) == isinstance(exc, RuntimeError)


@pytest.mark.parametrize(
    "received_at",
    [
        datetime(2026, 11, 24, 10, 15),  # naive: a clock that forgot its zone
        datetime(9999, 12, 31, tzinfo=UTC),  # past what callstate can hold
        "2026-11-24T10:15:00Z",
    ],
    ids=["naive", "out-of-range", "text"],
)
def test_an_unusable_receive_time_is_a_503_and_nothing_is_stored(
    received_at: object, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The adapter's clock is at fault, not the provider: retry, and store
    # nothing that every later read of the call would trip on.
    with SQLiteStore(tmp_path / "calls.db") as store:
        for sink in (Runner(store), CallBook()):
            handler = WebhookHandler(sink, verifier=Unverified())
            body = urlencode(callback()).encode()
            answer = handler("POST", URL, FORM, body, received_at)  # type: ignore[arg-type]
            assert answer.status == 503
            assert "unusable received_at" in caplog.text
            assert handler("POST", URL, FORM, body, AT).status == 204
        assert Runner(store).state("CA0001").status is CallStatus.RINGING
        assert [s.version for s in store.load("CA0001")] == [1]


def test_a_verifier_bug_is_a_503_not_an_exception(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def verify(self, request: WebhookRequest) -> None:
            raise KeyError("oops")

    handler = WebhookHandler(CallBook(), verifier=Broken())
    assert handler("POST", URL, FORM, urlencode(callback()).encode(), AT).status == 503
    assert "verifying a webhook failed unexpectedly" in caplog.text


def test_the_async_handler_awaits_an_async_sink() -> None:
    sink = SwitchableSink()

    class Async:
        async def handle(self, command: RecordDelivery) -> Outcome:
            await asyncio.sleep(0)
            return sink.handle(command)

    handler = AsyncWebhookHandler(Async(), verifier=Unverified())
    body = urlencode(callback(status="completed", seq=3)).encode()
    answer = asyncio.run(handler("POST", URL, FORM, body, AT))
    assert answer.status == 204
    assert sink.book.state("CA0001").final
    sink.down = True
    assert asyncio.run(handler("POST", URL, FORM, body, AT)).status == 503


# Hooks: after the sink, failures reported, never raised.


def test_a_failing_hook_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    hooks = Hooks()
    seen: list[CallStatus] = []

    @hooks.on_final
    def broken(state: object) -> None:
        raise ValueError("hook bug")

    @hooks.on_final
    def fine(state: callstate.CallState) -> None:
        seen.append(state.status)

    book = CallBook()
    handler = WebhookHandler(book, verifier=Unverified(), hooks=hooks)
    with caplog.at_level(logging.ERROR, logger="callstate.web"):
        answer = handler("POST", URL, FORM, urlencode(callback(status="busy", seq=3)).encode(), AT)
    assert answer.status == 204
    assert book.state("CA0001").status is CallStatus.BUSY
    assert (hooks.failures, seen) == (1, [CallStatus.BUSY])
    assert "hook bug" in caplog.text
    assert "broken" in caplog.text


def test_an_async_hook_under_a_sync_handler_is_reported_not_raised() -> None:
    hooks = Hooks()

    @hooks.on_answered
    async def later(state: object) -> None:
        raise AssertionError("never awaited")

    handler = WebhookHandler(CallBook(), verifier=Unverified(), hooks=hooks)
    body = urlencode(callback(status="in-progress", seq=2)).encode()
    assert handler("POST", URL, FORM, body, AT).status == 204
    assert hooks.failures == 1


def test_async_hooks_are_awaited() -> None:
    hooks = Hooks()
    seen: list[str] = []

    @hooks.on_status("in-progress")
    async def answered(state: callstate.CallState, change: callstate.StatusChange) -> None:
        seen.append(change.status.value)

    handler = AsyncWebhookHandler(CallBook(), verifier=Unverified(), hooks=hooks)
    body = urlencode(callback(status="in-progress", seq=2)).encode()
    assert asyncio.run(handler("POST", URL, FORM, body, AT)).status == 204
    assert seen == ["in-progress"]


# Behind a proxy.


def test_forwarded_headers_only_when_trusted() -> None:
    headers = {
        "x-forwarded-proto": "http, https",
        "x-forwarded-host": "evil.example, calls.example.com",
        "x-forwarded-port": "8443",
        "forwarded": 'for=1.2.3.4;proto=http;host="a.example", proto=https;host=b.example:444',
    }
    seen = "http://10.0.0.5:8000/status?x=1"
    assert TrustedProxy(trust=()).public_url(seen, headers) == seen
    xf = TrustedProxy(trust={"X-Forwarded-Proto", "X-Forwarded-Host"})
    assert xf.public_url(seen, headers) == "https://calls.example.com/status?x=1"
    xfp = TrustedProxy(trust={"x-forwarded-proto", "x-forwarded-host", "x-forwarded-port"})
    assert xfp.public_url(seen, headers) == "https://calls.example.com:8443/status?x=1"
    fwd = TrustedProxy(trust={"forwarded"})
    assert fwd.public_url(seen, headers) == "https://b.example:444/status?x=1"
    proto_only = TrustedProxy(trust={"x-forwarded-proto"})
    assert proto_only.public_url(seen, headers) == "https://10.0.0.5/status?x=1"


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("x-forwarded-proto", "gopher", "X-Forwarded-Proto"),
        ("x-forwarded-host", "a b", "X-Forwarded-Host"),
        ("x-forwarded-port", "99999", "X-Forwarded-Port"),
        ("forwarded", "host=a/b", "Forwarded"),
    ],
)
def test_unreadable_trusted_headers_are_400s(name: str, value: str, field: str) -> None:
    proxy = TrustedProxy(trust={name})
    with pytest.raises(InvalidInput) as caught:
        proxy.public_url("http://h/x", {name: value})
    assert caught.value.field == field
    handler = WebhookHandler(CallBook(), verifier=Unverified(), proxy=proxy)
    answer = handler("POST", "http://h/x", {name: value, **FORM}, b"", AT)
    assert answer.status == 400


def test_only_forwarding_headers_can_be_trusted() -> None:
    with pytest.raises(UsageError):
        TrustedProxy(trust={"x-real-ip"})


def test_public_names() -> None:
    # "@py_*" names are pytest's: it rewrites the asserts of every module of a
    # distribution that ships a pytest plugin, as callstate does.
    assert set(callstate.web.__all__) == {
        name for name in dir(callstate.web) if not name.startswith(("_", "@"))
    } - {"aiohttp", "asgi", "django", "flask", "starlette", "wsgi"}


@pytest.mark.parametrize("name", ["aiohttp", "asgi", "django", "flask", "starlette", "wsgi"])
def test_each_adapter_exports_what_it_defines(name: str) -> None:
    import importlib
    import inspect

    module = importlib.import_module(f"callstate.web.{name}")
    defined = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == module.__name__
    }
    assert set(module.__all__) == defined


def test_wsgi_without_a_length_or_a_terminated_stream_is_a_411() -> None:
    import io

    from callstate.web.wsgi import webhook_app

    sink = SwitchableSink()
    app = webhook_app(WebhookHandler(sink, verifier=Unverified()), clock=lambda: AT)
    started: list[str] = []
    environ = {
        "REQUEST_METHOD": "POST",
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "calls.example.com",
        "PATH_INFO": "/status",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "wsgi.input": io.BytesIO(urlencode(callback()).encode()),
    }
    body = b"".join(app(environ, lambda status, headers, exc_info=None: started.append(status)))  # type: ignore[arg-type, misc]
    assert (started, body) == (["411 Length Required"], b"Content-Length: is required\n")
    assert sink.handled == 0
    environ["wsgi.input"] = io.BytesIO(urlencode(callback()).encode())
    environ["wsgi.input_terminated"] = True
    started.clear()
    app(environ, lambda status, headers, exc_info=None: started.append(status))  # type: ignore[arg-type, misc]
    assert started == ["204 No Content"]
    assert sink.book.state("CA0001").status is CallStatus.RINGING


def test_framed_headers_give_a_length_to_every_answer_but_a_204(handler: WebhookHandler) -> None:
    stored = handler("POST", URL, signed(URL, callback()), urlencode(callback()).encode(), AT)
    assert (stored.status, stored.body) == (204, b"")
    assert stored.framed_headers() == (("Callstate-Result", "accepted"),)
    refused = handler("POST", URL, FORM, urlencode(callback()).encode(), AT)
    assert refused.status == 403
    assert refused.framed_headers()[-1] == ("Content-Length", str(len(refused.body)))


# The Host header and the public URL (issue 22.1).


@pytest.mark.parametrize(
    "host",
    ["other-app.example/tenant7", "a.example?x=1", "a.example#x", "u@a.example", "a b", "a, b"],
)
def test_a_host_that_is_no_host_is_a_400(book: CallBook, host: str) -> None:
    handler = WebhookHandler(book, verifier=Unverified())
    params = callback()
    answer = handler("POST", URL, {**FORM, "Host": host}, urlencode(params).encode(), AT)
    assert answer.status == 400
    assert answer.body.decode() == f"Host: is not a host: {host!r}\n"
    assert len(book) == 0


@pytest.mark.parametrize("host", ["calls.example.com", "calls.example.com:8443", "[::1]:80", "h"])
def test_a_host_with_a_port_is_a_host(book: CallBook, host: str) -> None:
    handler = WebhookHandler(book, verifier=Unverified())
    answer = handler("POST", URL, {**FORM, "Host": host}, urlencode(callback()).encode(), AT)
    assert answer.status == 204


@pytest.mark.parametrize(
    ("public", "seen", "signed"),
    [
        (
            "https://calls.example.com",
            "http://10.0.0.5:8000/s?x=1",
            "https://calls.example.com/s?x=1",
        ),
        ("https://calls.example.com/", "http://10.0.0.5/s", "https://calls.example.com/s"),
        ("https://c.example:8443/hook", "http://h/s?x=1", "https://c.example:8443/hook?x=1"),
        ("https://c.example/hook/", "http://h/other", "https://c.example/hook/"),
    ],
)
def test_the_public_url_is_what_is_signed(public: str, seen: str, signed: str) -> None:
    handler = WebhookHandler(
        CallBook(), verifier=TwilioSignature(secrets=[TOKEN]), public_url=public
    )
    params = callback()
    assert post(handler, params, url=seen, headers=signed_headers(signed, params))[0] == 204
    assert post(handler, params, url=seen, headers=signed_headers(seen, params))[0] == 403


def signed_headers(url: str, params: list[tuple[str, str]]) -> dict[str, str]:
    return {**signed(url, params), "Host": "anything.example"}


@pytest.mark.parametrize(
    "public", ["calls.example.com", "ftp://a/", "https://a/?x=1", "https://u:p@a/", "https:///x"]
)
def test_an_unusable_public_url_is_a_usage_error(public: str) -> None:
    with pytest.raises(UsageError, match="public_url"):
        WebhookHandler(CallBook(), verifier=Unverified(), public_url=public)


def test_a_public_url_and_a_trusted_proxy_are_one_too_many() -> None:
    proxy = TrustedProxy(trust={"x-forwarded-proto"})
    with pytest.raises(UsageError, match="not both"):
        AsyncWebhookHandler(CallBook(), verifier=Unverified(), proxy=proxy, public_url="https://a")


# Forwarded headers from the named proxies only (issue 22.2).


def test_forwarded_headers_are_read_only_from_the_named_proxies() -> None:
    seen, headers = "http://10.0.0.5:8000/s", {"x-forwarded-proto": "https"}
    proxy = TrustedProxy(trust={"x-forwarded-proto"}, proxies=["10.0.0.0/8", "::1", "192.0.2.7"])
    for peer in ("10.1.2.3", "::1", "192.0.2.7", "::ffff:10.0.0.9"):
        assert proxy.trusts(peer), peer
        assert proxy.public_url(seen, headers, peer) == "https://10.0.0.5/s"
    for peer in ("127.0.0.1", "192.0.2.8", "2001:db8::1", "/run/app.sock", "", None):
        assert not proxy.trusts(peer), peer
        assert proxy.public_url(seen, headers, peer) == seen
    # With no proxies named, every peer is (as before).
    anyone = TrustedProxy(trust={"x-forwarded-proto"})
    assert anyone.trusts(None) and anyone.public_url(seen, headers) == "https://10.0.0.5/s"


@pytest.mark.parametrize("bad", [["10.0.0.300"], ["proxy.example"], ["10.0.0.0/33"]])
def test_an_unusable_proxy_address_is_a_usage_error(bad: list[str]) -> None:
    with pytest.raises(UsageError, match="IP address or network"):
        TrustedProxy(trust={"x-forwarded-proto"}, proxies=bad)


def test_the_handler_reads_forwarded_headers_from_its_peer(book: CallBook) -> None:
    proxy = TrustedProxy(trust={"x-forwarded-proto"}, proxies=["10.0.0.2"])
    handler = WebhookHandler(book, verifier=TwilioSignature(secrets=[TOKEN]), proxy=proxy)
    seen, public = "http://calls.example.com/s", "https://calls.example.com/s"
    params = callback()
    headers = {**signed(public, params), "X-Forwarded-Proto": "https"}
    body = urlencode(params).encode()
    assert handler("POST", seen, headers, body, AT, peer="10.0.0.2").status == 204
    assert handler("POST", seen, headers, body, AT, peer="10.0.0.3").status == 403
    assert handler("POST", seen, headers, body, AT).status == 403  # no peer: not a proxy


def test_the_adapters_call_a_subclass_respond() -> None:
    # The adapters call ``respond``: a subclass that overrides it answers (handler(...) too).
    import io
    import wsgiref.util

    from callstate.web.wsgi import webhook_app

    class Teapot(WebhookHandler):
        def respond(self, method, url, headers, body, received_at, peer=None):  # type: ignore[override]
            return callstate.web.WebhookResponse.text(418, f"teapot {method}")

    environ: dict[str, object] = {
        "REQUEST_METHOD": "POST",
        "wsgi.input": io.BytesIO(b""),
        "CONTENT_LENGTH": "0",
    }
    wsgiref.util.setup_testing_defaults(environ)
    started: list[str] = []
    teapot = Teapot(CallBook(), verifier=Unverified())
    app = webhook_app(teapot)
    body = app(environ, lambda status, headers: started.append(status))  # type: ignore[arg-type]
    assert (started, b"".join(body)) == (["418 I'm a Teapot"], b"teapot POST\n")
    assert teapot("GET", URL, {}, b"", AT).status == 418


class _Refusing:
    """A verifier that refuses every webhook with ``error``."""

    def __init__(self, error: InvalidInput) -> None:
        self.error = error

    def verify(self, request: WebhookRequest) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidCallback("CallSid", "is missing"), 400),
        (VerificationFailed("X-Twilio-Signature", "does not match"), 403),
        (CredentialsRequired("Authorization", "is missing", "Basic realm=x"), 401),
    ],
)
def test_the_web_layer_answers_each_refusal_by_its_kind(error, status) -> None:
    # The errors carry no HTTP status: the web layer maps their kinds, in one
    # place. Reading the deprecated ``status_code`` warns, and warnings are
    # errors here: the handler never reads it.
    for handler in (
        WebhookHandler(CallBook(), verifier=_Refusing(error)),
        AsyncWebhookHandler(CallBook(), verifier=_Refusing(error)),
    ):
        answer = handler.respond("POST", URL, FORM, b"CallSid=CA1", AT)
        assert isinstance(answer, callstate.web.WebhookResponse)
        assert answer.status == status
        assert answer.body.decode().startswith(str(error))
    with pytest.warns(DeprecationWarning, match="status_code"):
        assert error.status_code == status  # the deprecated read: the web layer's answer


def test_the_deprecated_status_of_every_input_error_is_the_web_layers_answer() -> None:
    # ``status_code`` keeps its own copy of the statuses (the error root imports
    # nothing of the web layer): every kind of InvalidInput reads what the web maps.
    kinds = [
        kind
        for kind in vars(callstate._errors).values()
        if isinstance(kind, type) and issubclass(kind, InvalidInput)
    ]
    assert len(kinds) >= 6
    for kind in kinds:
        error = kind.__new__(kind)
        with pytest.warns(DeprecationWarning, match="status_code"):
            assert error.status_code == refusal_status(error), kind


# Verifying by parts equals verifying the request (from test_web_fast_paths.py).


NOW = datetime(2026, 11, 24, 10, 15, 33, tzinfo=UTC)


def _reference_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    signed = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class _ThroughRequest:
    """A verifier the handler must hand a WebhookRequest: the one path there was."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def verify(self, request: WebhookRequest) -> None:
        self.inner.verify(request)  # type: ignore[attr-defined]


_CALLBACK = [("CallSid", "CA1"), ("CallStatus", "ringing"), ("SequenceNumber", "1")]


_signed_params = st.lists(
    st.tuples(
        st.sampled_from(["AccountSid", "CallSid", "SequenceNumber", "To"]),
        st.sampled_from(["AC1", "AC2", "CA2", "2", "+1 2"]),
    ),
    max_size=3,
).flatmap(lambda extra: st.permutations(_CALLBACK + extra))


_webhooks = st.tuples(
    st.sampled_from(["POST", "GET", "json", "post"]),
    st.sampled_from(["https://h.example/s", "https://h.example:443/s?x=1", "http://h:8080/s"]),
    _signed_params,
    st.sampled_from(["right", "other token", "bad header", "none", "port toggled"]),
)


def _webhook(
    kind: str, base: str, params: list[tuple[str, str]], signing: str
) -> tuple[str, str, dict[str, str], bytes]:
    """A webhook's method, URL, headers and body, signed as ``signing`` says."""
    method, url, body, signed = kind, base, urlencode(params).encode(), params
    headers: dict[str, str] = {}
    joiner = "&" if "?" in base else "?"
    if kind == "GET":
        url, body, signed = f"{base}{joiner}{urlencode(params)}", b"", []
    elif kind == "json":
        method, body, signed = "POST", json.dumps(dict(params)).encode(), []
        url = f"{base}{joiner}bodySHA256={body_sha256(body)}"
        headers["Content-Type"] = "application/json"
    token = "t9" if signing == "other token" else "t2" if ("AccountSid", "AC2") in params else "t1"
    signed_url = port_variants(url)[-1] if signing == "port toggled" else url
    signature = twilio_signature(token, signed_url, signed)
    if signing == "bad header":
        signature = signature[:-2] + "A="
    if signing != "none":
        headers["X-Twilio-Signature"] = signature
        headers["Authorization"] = "Basic " + base64.b64encode(b"u:p").decode()
    return method, url, headers, body


@given(st.lists(_webhooks, max_size=6), st.booleans())
def test_verifying_by_parts_is_verifying_the_request(webhooks, per_account):
    # The handler hands a signature (or Basic auth) the request's parts, not a
    # WebhookRequest: every answer is the one the request would have had.
    secrets = {"AC1": ["t1", "t0"], "AC2": ["t2"]} if per_account else ["t1", "t0"]
    verifiers = [TwilioSignature(secrets=secrets), BasicAuth(credentials={"u": "p"}), Unverified()]
    for verifier in verifiers:
        fast = WebhookHandler(CallBook(), verifier=verifier)
        slow = WebhookHandler(CallBook(), verifier=_ThroughRequest(verifier))
        assert fast._check is not None and slow._check is None
        for webhook in webhooks:
            answer = fast(*_webhook(*webhook), NOW)
            assert answer == slow(*_webhook(*webhook), NOW)
            event(f"{type(verifier).__name__} {answer.status}")


@given(
    st.lists(st.tuples(st.text(max_size=4), st.text(max_size=4)), max_size=8),
    st.sampled_from(["https://h.example/s", "https://h.example:443/s", "http://h:8080/s"]),
    st.booleans(),
    st.booleans(),
)
def test_a_form_signed_as_the_reference_says_is_accepted(pairs, url, per_account, toggled):
    # Signed by the reference HMAC (hmac.new), with either token or the other
    # form of the URL: accepted; the same with a token not configured: refused.
    # A repeated name passes the signature and is refused by the parser.
    params = [("AccountSid", "AC1"), *_CALLBACK, *((f"x{name}", value) for name, value in pairs)]
    secrets = {"AC1": ["t0", "t1"]} if per_account else ["t0", "t1"]
    signed_url = port_variants(url)[-1] if toggled else url
    handler = WebhookHandler(CallBook(), verifier=TwilioSignature(secrets=secrets))
    signed = 400 if len(dict(params)) < len(params) else 204
    for token, status in (("t1", signed), ("t0", signed), ("t9", 403)):
        headers = {"X-Twilio-Signature": _reference_signature(token, signed_url, params)}
        answer = handler("POST", url, headers, urlencode(params).encode(), NOW)
        assert answer.status == status, answer.body
