"""The webhook path's fast paths equal the slow paths they replace.

The handler splits a form once and reads the delivery from those pairs; the
signature keys SHA-1 once per token; a decoded value is remembered; a
``CallBook`` outcome makes its states only when read. Each law here says the
result is what the straightforward computation gives.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import pickle
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import attrs
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from callstate import CallBook, Decider, InvalidCallback, Limits, Outcome, parse_form
from callstate._core._parse import (
    parse_known,
    parse_split,
    split_form,
    split_known,
)
from callstate._core._values import (
    DeliveryAccepted,
    Reconcile,
    RecordDelivery,
    RegisterCall,
)
from callstate.testing import strategies as cst
from callstate.web import (
    AsyncWebhookHandler,
    BasicAuth,
    TwilioSignature,
    Unverified,
    WebhookHandler,
    WebhookRequest,
    WebhookResponse,
)
from callstate.web._environ import _UNPREFIXED, headers_of
from callstate.web._scope import body_of as scope_body_of
from callstate.web._scope import headers_of as scope_headers_of
from callstate.web._signature import (
    body_sha256,
    sign,
    signed_fields,
    signed_params,
    twilio_signature,
)
from callstate.web._url import port_variants
from callstate.web.asgi import webhook_app

KNOWN = ("CallSid", "CallStatus", "SequenceNumber", "Timestamp", "CallDuration", "AccountSid")
NOW = datetime(2026, 11, 24, 10, 15, 33, tzinfo=UTC)


def _reference_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    signed = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@given(st.text(max_size=100), st.binary(max_size=300))
def test_the_keyed_hmac_is_hmac_sha1(token, message):
    # Tokens longer than SHA-1's 64-byte block are hashed first, as RFC 2104 says.
    expected = base64.b64encode(hmac.new(token.encode(), message, hashlib.sha1).digest())
    assert sign(token, message) == expected
    assert sign(token, message) == expected  # and again, from the kept key states


@given(
    st.text(min_size=1, max_size=80),
    st.text(max_size=40),
    st.lists(st.tuples(st.text(max_size=8), st.text(max_size=12)), max_size=8),
)
def test_the_signature_is_the_reference_computation(token, url, params):
    assert twilio_signature(token, url, params) == _reference_signature(token, url, params)
    assert signed_params(params) == "".join(n + v for n, v in sorted(set(params)))


_field_values = st.one_of(
    st.sampled_from(["ringing", "COMPLETED", "no_answer", "x", "", "1", "007", "+", "%2B1"]),
    st.sampled_from(["Tue, 24 Nov 2026 10:15:32 +0000", "2026-11-24T10:15:32Z", "soon"]),
    st.sampled_from(["CA1", "CA 1", "C%41", "99999999999", "-1"]),
    st.text(max_size=12),
)
_pairs = st.lists(
    st.tuples(st.sampled_from(KNOWN) | st.text(max_size=6), _field_values), max_size=9
)
_raw_forms = st.one_of(
    _pairs.map(urlencode),
    _pairs.map(lambda pairs: "&".join(f"{n}={quote(v, safe='+%')}" for n, v in pairs)),
    st.text(alphabet="CalSdtusq=&%+2B4Fe0x;\u00e9", max_size=60),
    st.binary(max_size=60),
)


def _result(parse: object, raw: object) -> object:
    try:
        delivery = parse(raw)  # type: ignore[operator]
    except InvalidCallback as exc:
        return ("error", str(exc))
    return ("delivery", delivery, list(delivery.params))


@given(_raw_forms, st.sampled_from([Limits(), Limits(max_body_bytes=30)]))
def test_parsing_the_split_pairs_is_parsing_the_form(raw, limits):
    # The handler splits once (the signature needs the pairs), then parses the
    # pairs: the same delivery, or the same error, as parsing the raw form.
    try:
        pairs = split_form(raw, limits)
    except InvalidCallback:
        with pytest.raises(InvalidCallback):
            parse_form(raw, limits=limits)
        return
    expected = _result(lambda r: parse_form(r, limits=limits), raw)
    assert _result(parse_split, pairs) == expected
    assert _result(parse_split, tuple(pairs)) == expected
    # The handler's way: the pairs and, when no name repeats, the pairs by name.
    known, by_name = split_known(raw, limits)
    assert known == tuple(pairs)
    assert by_name == (dict(pairs) if len(dict(pairs)) == len(pairs) else None)
    assert _result(lambda k: parse_known(k, by_name), known) == expected


def _split_result(raw: object, limits: Limits) -> object:
    try:
        return split_form(raw, limits)  # type: ignore[arg-type]
    except InvalidCallback as exc:
        return str(exc)


@given(_raw_forms, st.sampled_from([Limits(max_body_bytes=30), Limits()]))
def test_a_remembered_field_is_read_as_it_was_first(raw, limits):
    # Fields read once are remembered: read again, under other limits or in
    # another body, they give what reading them afresh gives.
    fresh = _split_result(raw, limits)
    for other in (Limits(), Limits(max_body_bytes=30)):
        _split_result(raw, other)
        _split_result(raw + b"&" if isinstance(raw, bytes) else raw + "&", other)
        assert _split_result(raw, limits) == fresh


@given(cst.deliveries())
def test_parsing_split_pairs_of_any_delivery_gives_it_back(delivery):
    raw = urlencode(list(delivery.params))
    assert parse_split(split_form(raw)) == delivery


@given(st.lists(st.tuples(st.text(max_size=8).filter(bool), st.text(max_size=12)), max_size=8))
def test_a_remembered_decoding_is_the_decoding(pairs):
    from urllib.parse import parse_qsl

    raw = urlencode(pairs)
    try:
        first = split_form(raw)
    except InvalidCallback:
        return
    assert split_form(raw) == first == parse_qsl(raw, keep_blank_values=True)
    # "+" is a space only when encoded: a decoded value is never taken for encoded text.
    assert split_form(urlencode([(n, v) for n, v in first])) == first


@given(st.lists(cst.deliveries(), max_size=12))
def test_callbook_outcomes_are_the_deciders_and_stay_put(deliveries):
    book = CallBook()
    decider = Decider()
    states: dict[str, object] = {}
    outcomes = []
    for delivery in deliveries:
        command = RecordDelivery(delivery=delivery, received_at=NOW)
        outcome = book.handle(command)
        before = states.get(delivery.call_sid) or decider.initial_state(delivery.call_sid)
        events = decider.decide(command, before)  # type: ignore[arg-type]
        after, changes = decider.advance(before, events)  # type: ignore[arg-type]
        expected = Outcome(events=events, changes=changes, before=before, after=after)  # type: ignore[arg-type]
        states[delivery.call_sid] = after
        outcomes.append((outcome, expected))
    # Read only after every command: each outcome still shows its own moment.
    for outcome, expected in outcomes:
        assert outcome == expected
        assert outcome.before == expected.before and outcome.after == expected.after
        assert outcome.duplicate == expected.duplicate
        assert outcome.new_anomalies == expected.new_anomalies
        assert hash(outcome) == hash(expected)
        assert repr(outcome) == repr(expected)


_SIDS = st.sampled_from(["CA1", "CA2"])
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("handle"), cst.deliveries(_SIDS)),
        st.tuples(st.just("record"), cst.deliveries(_SIDS)),
        st.tuples(st.just("apply"), cst.deliveries(_SIDS)),
        st.tuples(st.just("reconcile"), cst.call_resources("CA1") | cst.call_resources("CA2")),
        st.tuples(st.just("register"), _SIDS),
        st.tuples(st.just("tick"), st.integers(0, 30)),
    ),
    max_size=14,
)


@given(_steps)
def test_outcomes_stay_put_whatever_changes_the_book_next(steps):
    # CallBook hands an outcome the call's record itself as its "after" and
    # copies it before the next change, however the book is changed next.
    book, reference = CallBook(), CallBook()
    outcomes = []
    for how, value in steps:
        if how == "tick":
            now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC) + timedelta(hours=value)
            assert book.tick(now) == reference.tick(now)
            continue
        if how in ("record", "apply"):
            if how == "record":
                assert book.record(value, NOW) == reference.record(value, NOW)
            else:
                event = DeliveryAccepted(delivery=value, received_at=NOW)
                assert book.apply(event) == reference.apply(event)
            continue
        command: RecordDelivery | Reconcile | RegisterCall
        if how == "handle":
            command, sid = RecordDelivery(delivery=value, received_at=NOW), value.call_sid
        elif how == "reconcile":
            command, sid = Reconcile(resource=value, observed_at=NOW), value.sid
        else:
            command, sid = RegisterCall(call_sid=value, placed_at=NOW), value
        before = reference.get(sid) or reference.decider.initial_state(sid)
        expected = reference.handle(command)
        outcomes.append((book.handle(command), expected, before, reference.state(sid)))
    # Read only now: each outcome still shows its own moment.
    for outcome, expected, before, after in outcomes:
        assert outcome.before == before and outcome.after == after
        assert outcome.events == expected.events and outcome.changes == expected.changes
        assert outcome.duplicate == expected.duplicate
    assert list(book.states()) == list(reference.states())


def test_an_outcome_is_a_frozen_value():
    book = CallBook()
    delivery = parse_form(
        urlencode({"CallSid": "CA1", "CallStatus": "ringing", "SequenceNumber": "1"})
    )
    outcome = book.handle(RecordDelivery(delivery=delivery, received_at=NOW))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        outcome.events = ()  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del outcome.changes
    assert pickle.loads(pickle.dumps(outcome)) == outcome
    assert outcome.after.status.value == "ringing" and outcome.before.status.value == "queued"
    assert not outcome.duplicate
    again = book.handle(RecordDelivery(delivery=delivery, received_at=NOW))
    assert again.duplicate and again.changes == ()
    assert outcome.after.duplicates == 0 and again.after.duplicates == 1


def _reference_headers(environ: dict[str, str]) -> dict[str, str]:
    # Every key of every environ tested, as the WSGI adapters did before planning.
    headers: dict[str, str] = {}
    items = [
        (key[5:].replace("_", "-").lower(), value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    ]
    items += [(name, environ[key]) for key, name in _UNPREFIXED.items() if key in environ]
    for name, value in items:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


_environ_keys = st.sampled_from(
    [
        "HTTP_HOST",
        "HTTP_X_TWILIO_SIGNATURE",
        "HTTP_CONTENT_TYPE",
        "HTTP_X-TWILIO-SIGNATURE",
        "HTTP_x_twilio_signature",
        "HTTP_",
        "HTTP",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "REQUEST_METHOD",
        "wsgi.input",
        "",
    ]
) | st.text(max_size=8)


@given(st.lists(st.dictionaries(_environ_keys, st.text(max_size=5), max_size=8), max_size=4))
def test_planned_environ_headers_are_every_key_tested(environs):
    # The same keys again (the plan remembered), then other values, other orders.
    for environ in [*environs, *environs, *(dict(reversed(e.items())) for e in environs)]:
        assert headers_of(environ) == _reference_headers(environ)
        same = dict.fromkeys(environ, "v")
        assert headers_of(same) == _reference_headers(same)


class _ThroughRequest:
    """A verifier the handler must hand a WebhookRequest: the one path there was."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def verify(self, request: WebhookRequest) -> None:
        self.inner.verify(request)  # type: ignore[attr-defined]


_CALLBACK = [("CallSid", "CA1"), ("CallStatus", "ringing"), ("SequenceNumber", "1")]
_params = st.lists(
    st.tuples(
        st.sampled_from(["AccountSid", "CallSid", "SequenceNumber", "To"]),
        st.sampled_from(["AC1", "AC2", "CA2", "2", "+1 2"]),
    ),
    max_size=3,
).flatmap(lambda extra: st.permutations(_CALLBACK + extra))
_webhooks = st.tuples(
    st.sampled_from(["POST", "GET", "json", "post"]),
    st.sampled_from(["https://h.example/s", "https://h.example:443/s?x=1", "http://h:8080/s"]),
    _params,
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
    st.lists(
        st.tuples(st.text(max_size=4), st.text(max_size=4)), max_size=8, unique_by=lambda p: p[0]
    )
)
def test_signing_pairs_known_distinct_is_signing_them(pairs):
    assert signed_params(tuple(pairs), distinct=True) == signed_params(pairs)
    # The template made for this order of names, then the one remembered.
    assert signed_fields(dict(pairs)) == signed_params(pairs)
    assert signed_fields(dict(pairs)) == signed_params(pairs)


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


def test_the_small_numbers_are_the_numbers():
    from callstate._core._parse import _SMALL_NUMBERS, _number

    assert all(_number("SequenceNumber", text) == n for text, n in _SMALL_NUMBERS.items())


def _reference_scope_headers(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], str | None]:
    headers: dict[str, str] = {}
    host = None
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        if key in headers:
            headers[key] = f"{headers[key]}, {text}"
        else:
            headers[key] = text
            host = text if key == "host" else host
    return headers, host


_raw_names = st.sampled_from([b"host", b"Host", b"HOST", b"content-type", b"x-a", b"\xe9"])


@given(st.lists(st.lists(st.tuples(_raw_names | st.binary(max_size=3), st.binary(max_size=4)))))
def test_remembered_header_names_are_the_names(requests):
    for raw in [*requests, *requests]:
        assert scope_headers_of({"headers": raw}) == _reference_scope_headers(raw)


async def _reference_body(messages: list[dict[str, object]], limit: int) -> bytes | None:
    # None: the client went away before the body ended (or before reading stopped).
    chunks, size = [], 0
    for message in messages:
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)  # type: ignore[arg-type]
        if size > limit or not message.get("more_body", False):
            break
    return b"".join(chunks)  # type: ignore[arg-type]


_messages = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["http.request", "http.request", "http.disconnect"])},
        optional={"body": st.binary(max_size=6), "more_body": st.booleans()},
    ),
    min_size=1,
    max_size=5,
).map(lambda ms: [*ms, {"type": "http.disconnect"}])


@given(_messages, st.integers(0, 12))
def test_reading_an_asgi_body_is_reading_its_messages(messages, limit):
    async def read() -> tuple[bytes | None, bytes | None]:
        pending = iter(messages)

        async def receive() -> dict[str, object]:
            return next(pending)

        return await scope_body_of(receive, limit), await _reference_body(messages, limit)

    body, expected = asyncio.run(read())
    assert body == expected
    assert body is None or type(body) is bytes


def _through_asgi(app: object, messages: list[dict[str, object]]) -> list[dict[str, object]]:
    """What ``app`` sends for one POST whose body arrives in ``messages``."""
    pending, sent = iter(messages), []

    async def receive() -> dict[str, object]:
        return next(pending)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/hook",
        "raw_path": b"/hook",
        "query_string": b"",
        "headers": [(b"host", b"h"), (b"content-type", b"application/x-www-form-urlencoded")],
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[operator]
    return sent


@given(_messages)
def test_the_asgi_app_reads_the_body_its_messages_carry(messages):
    # The app reads the body through body_of: the handler gets the body the
    # reference reads, and nothing when the client went away mid-body.
    seen: list[bytes] = []

    class Recording(AsyncWebhookHandler):
        async def respond(self, method, url, headers, body, received_at, peer=None):  # type: ignore[override]
            seen.append(body)
            return WebhookResponse.no_content()

    limit = 8
    handler = Recording(CallBook(), verifier=Unverified(), limits=Limits(max_body_bytes=limit))
    sent = _through_asgi(webhook_app(handler), messages)
    expected = asyncio.run(_reference_body(messages, limit))
    if expected is None:  # the client went away mid-body: not handled, not answered
        assert (seen, sent) == ([], [])
    else:
        assert seen == [expected]
        assert sent[0]["status"] == 204


def test_adapters_call_a_subclass_respond():
    # An adapter calls the handler's respond (no coroutine when the sink
    # answers at once): a subclass that overrides it, async or not, is called.
    class Refusing(AsyncWebhookHandler):
        async def respond(self, method, url, headers, body, received_at, peer=None):  # type: ignore[override]
            return WebhookResponse.text(418, "teapot")

    class SyncRefusing(WebhookHandler):
        def respond(self, method, url, headers, body, received_at, peer=None):  # type: ignore[override]
            return WebhookResponse.text(418, "teapot")

    for handler in (Refusing, SyncRefusing):
        app = webhook_app(handler(CallBook(), verifier=Unverified()))
        sent = _through_asgi(app, [{"type": "http.request", "body": b"x=1"}])
        assert sent[0]["status"] == 418
