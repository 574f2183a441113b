"""The sans-I/O client: requests built, parameters validated, answers of every shape read."""

from __future__ import annotations

import asyncio
import base64
import importlib
import inspect
import json
import pickle
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import callstate.client
from callstate import CallBook, CallStatus, Decider, RecordDelivery, parse_call_resource
from callstate import parse_callback as parse_delivery
from callstate.client import (
    ApiConnectionError,
    ApiError,
    ApiResponseError,
    ApiTimeout,
    AuthenticationFailed,
    BadResponse,
    CallFilter,
    CallGone,
    CallNotFound,
    CallParams,
    CallsApi,
    InvalidParameter,
    ModificationRefused,
    NothingToModify,
    Profile,
    RateLimited,
    RequestRejected,
    Response,
    Retry,
    ServerError,
    record_placed_call,
    record_placed_call_async,
)
from callstate.client._answers import error_for, read_json
from callstate.testing._fake_api import check_create as _check_create
from callstate.testing._fake_plan import callback_params, steps_for
from callstate.web._handler import refusal_status

LAWS = settings(max_examples=60, deadline=None)
API = CallsApi(account_sid="AC123", token="s3cret")
GOOD = {"to": "+15550001111", "from_": "+15550002222", "url": "https://app.example/answer"}


def form_of(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode(), keep_blank_values=True)


@pytest.mark.parametrize(
    "name",
    [
        "callstate.client",
        "callstate.client.urllib",
        "callstate.client.requests",
        "callstate.client.httpx",
        "callstate.client.aiohttp",
        "callstate.testing.fake_provider",
    ],
)
def test_public_names_are_exactly_all(name):
    module = importlib.import_module(name)
    facade = name in ("callstate.client", "callstate.testing.fake_provider")
    public = {
        n
        for n, value in vars(module).items()
        if not n.startswith("_")
        and not inspect.ismodule(value)
        and n != "annotations"
        and (
            getattr(value, "__module__", None) == name
            or (facade and getattr(value, "__module__", "").startswith("callstate"))
            or (facade and isinstance(value, tuple))
        )
    }
    assert public == set(module.__all__)


def test_requests_carry_basic_auth_and_the_profile_urls():
    op = API.fetch_call("CA1")
    assert op.request.method == "GET"
    assert op.repeatable
    user, _, password = base64.b64decode(op.request.header("authorization")[6:]).partition(b":")
    assert (user, password) == (b"AC123", b"s3cret")
    assert op.request.url == "https://v1.api19.com/call/2012-04-24/Accounts/AC123/Calls/CA1.json"
    restcomm = CallsApi(
        account_sid="AC1", token="t", profile=Profile.restcomm("https://r.example/")
    )
    assert restcomm.fetch_call("CA1").request.url == (
        "https://r.example/restcomm/2012-04-24/Accounts/AC1/Calls/CA1.json"
    )
    twilio = CallsApi(account_sid="AC1", token="t", profile=Profile.twilio())
    assert twilio.fetch_call("CA1").request.url.startswith("https://api.twilio.com/2010-04-01/")
    moved = Profile.twilio().with_base_url("http://127.0.0.1:9/x/")
    assert moved.base_url == "http://127.0.0.1:9/x"
    assert moved.repeat_events


def test_create_sends_every_parameter_once_and_is_not_repeatable():
    params = CallParams(
        **GOOD, method="get", fallback_url="https://app.example/fallback", fallback_method="POST",
        status_callback="https://app.example/status", status_callback_method="GET",
        status_callback_event="completed,ringing", timeout=25, detect_voicemail=True,
        extra=[("MachineDetection", "Enable")],
    )  # fmt: skip
    op = API.create_call(params)
    assert not op.repeatable
    assert op.request.method == "POST"
    assert op.request.header("content-type") == "application/x-www-form-urlencoded"
    assert form_of(op.request.body) == [
        ("To", "+15550001111"), ("From", "+15550002222"), ("Url", "https://app.example/answer"),
        ("Method", "GET"), ("FallbackUrl", "https://app.example/fallback"),
        ("FallbackMethod", "POST"), ("StatusCallback", "https://app.example/status"),
        ("StatusCallbackMethod", "GET"), ("StatusCallbackEvent", "ringing,completed"),
        ("Timeout", "25"), ("DetectVoicemail", "yes"), ("MachineDetection", "Enable"),
    ]  # fmt: skip
    twilio = CallsApi(account_sid="AC1", token="t", profile=Profile.twilio())
    events = [v for k, v in form_of(twilio.create_call(params).request.body) if k.endswith("Event")]
    assert events == ["ringing", "completed"]


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"to": ""}, "To", "must not be empty"),
        ({"from_": None}, "From", "is required"),
        ({"url": "/relative"}, "Url", "absolute http"),
        ({"url": "ftp://x.example/"}, "Url", "absolute http"),
        ({"method": "PUT"}, "Method", "GET or POST"),
        ({"fallback_method": "DELETE"}, "FallbackMethod", "GET or POST"),
        ({"status_callback_method": "put"}, "StatusCallbackMethod", "GET or POST"),
        ({"status_callback": "https://a b.example/"}, "StatusCallback", "spaces"),
        ({"status_callback_event": "ringing,hungup"}, "StatusCallbackEvent", "'hungup'"),
        ({"timeout": 0}, "Timeout", "positive whole number"),
        ({"timeout": True}, "Timeout", "positive whole number"),
        ({"timeout": "30"}, "Timeout", "positive whole number"),
        ({"to": "+1\n2"}, "To", "control characters"),
        ({"extra": [("Timeout", "5")]}, "Timeout", "its own field"),
    ],
)
def test_a_broken_rule_names_the_parameter(change, field, rule):
    with pytest.raises(InvalidParameter, match=rule) as caught:
        CallParams(**{**GOOD, **change})
    assert caught.value.field == field
    assert refusal_status(caught.value) == 400  # what a webhook answers it with


def test_list_builds_filters_and_paging():
    where = CallFilter(to="+1", status=CallStatus.NO_ANSWER, start_time=date(2026, 1, 2))
    url = API.list_calls(where, page=3, page_size=20).request.url
    assert dict(parse_qsl(urlsplit(url).query)) == {
        "To": "+1", "Status": "no-answer", "StartTime": "2026-01-02", "Page": "3", "PageSize": "20",
    }  # fmt: skip
    for bad in ({"page": -1}, {"page_size": 0}, {"page_size": 1001}):
        with pytest.raises(InvalidParameter):
            API.list_calls(**bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="Status"):
        CallFilter(status=CallStatus.ENDED)


def test_modifications_send_the_documented_form():
    assert form_of(API.cancel_call("CA1").request.body) == [("Status", "canceled")]
    assert form_of(API.hang_up_call("CA1").request.body) == [("Status", "completed")]
    redirect = API.redirect_call("CA1", "https://a.example/", method="get")
    assert form_of(redirect.request.body) == [("Url", "https://a.example/"), ("Method", "GET")]
    assert not redirect.repeatable
    with pytest.raises(InvalidParameter, match="CallSid"):
        API.fetch_call("CA1/../x")


@given(st.sampled_from(list(CallStatus)))
@LAWS
def test_a_known_state_refuses_exactly_the_impossible_modifications(status):
    for action, allowed in (
        (API.cancel_call, {CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING}),
        # Status=completed hangs up a live call in any state (Twilio's and Restcomm's docs).
        (API.hang_up_call, {s for s in CallStatus if not s.is_final}),
        (lambda sid, known: API.redirect_call(sid, "https://a.example/", known=known),
         {s for s in CallStatus if not s.is_final}),
    ):  # fmt: skip
        if status in allowed:
            assert action("CA1", known=status).request.method == "POST"
        else:
            with pytest.raises(ModificationRefused):
                action("CA1", known=status)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, AuthenticationFailed), (403, AuthenticationFailed), (404, CallNotFound),
     (409, NothingToModify), (410, CallGone), (400, RequestRejected), (429, RateLimited),
     (500, ServerError), (503, ServerError), (302, BadResponse)],
)  # fmt: skip
def test_each_status_has_its_error(status, kind):
    assert type(error_for(Response(status=status, body=b"nope"), 100)) is kind


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        (b"From is required", "From is required", None),
        (b'{"message": "Call is over"}', "Call is over", None),
        (b'{"code": 20404, "message": "Not found", "more_info": "https://x", "status": 404}',
         "Not found", "20404"),
        (b"<RestcommResponse><RestException><Code>7</Code><Message>No &amp; way</Message>"
         b"</RestException></RestcommResponse>", "No & way", "7"),
        (b"<html><head><title>502 Bad Gateway</title></head></html>", "502 Bad Gateway", None),
        (b"", "no message (HTTP 400)", None),
        (b'[{"message": "first"}]', "first", None),
    ],
)  # fmt: skip
def test_the_message_is_read_from_every_body_shape(body, message, code):
    error = error_for(Response(status=400, body=body), 10_000)
    assert (error.message, error.code) == (message, code)


@given(st.integers(100, 599), st.binary(max_size=300), st.sampled_from(["", "application/json"]))
@LAWS
def test_any_answer_is_a_value_or_a_typed_error(status, body, content_type):
    response = Response(status=status, headers=(("Content-Type", content_type),), body=body)
    readers = (API.fetch_call("CA1").read, API.list_calls().read)
    for read in (*readers, API.create_call(CallParams(**GOOD)).read):
        caught: ApiResponseError | None = None
        try:
            read(response)
        except ApiResponseError as exc:
            caught = exc
        if caught is not None:
            assert caught.status == status
            assert len(caught.message) <= 500
            assert isinstance(caught, BadResponse) or not 200 <= status < 300


def test_the_next_page_stays_on_the_same_host():
    twilio = CallsApi(account_sid="AC1", token="t", profile=Profile.twilio())
    body = {"page": 0, "page_size": 1, "calls": [{"sid": "CA1", "status": "busy"}]}
    for uri, expected in [
        ("/2010-04-01/Accounts/AC1/Calls.json?PageToken=PA1", "https://api.twilio.com/2010-04-01/"),
        (None, None),
    ]:
        found = twilio.list_calls().read(
            Response(status=200, body=json.dumps({**body, "next_page_uri": uri}).encode())
        )
        following = twilio.next_page(found)
        assert (following is None) is (expected is None)
        if following is not None:
            assert following.request.url.startswith(expected)
            assert following.request.url.endswith("PageToken=PA1")
    for hostile in ("https://evil.example/x", "//evil.example/x", "x.json"):
        found = twilio.list_calls().read(
            Response(status=200, body=json.dumps({**body, "next_page_uri": hostile}).encode())
        )
        with pytest.raises(BadResponse, match="not a path on this host"):
            twilio.next_page(found)
    api19 = API.list_calls(page_size=1).read(
        Response(status=200, body=json.dumps({**body, "next_page_uri": "//evil"}).encode())
    )
    following = API.next_page(api19, page_size=1)
    assert following is not None
    assert "Page=1" in following.request.url
    assert following.request.url.startswith(API.profile.base_url)


@given(st.integers(0, 2_000))
@LAWS
def test_more_than_the_limit_is_a_bad_response(size):
    response = Response(status=200, body=b" " * size)
    if size > 1_000:
        with pytest.raises(BadResponse, match="larger than 1000"):
            read_json(response, 1_000)
    else:
        with pytest.raises(BadResponse, match="not JSON"):
            read_json(response, 1_000)


def test_pages_are_read_tolerantly():
    page = {
        "page": "1", "num_pages": "null", "page_size": 2, "total": None, "end": 3.0,
        "next_page_uri": "null",
        "calls": [{"sid": "CA1", "status": "NO_ANSWER", "date_created": "Tue, 24 Nov 2026 10:15:32"
                   " +0000", "start_time": "2026-11-24T10:15:00Z", "to": "null"}],
    }  # fmt: skip
    read = API.list_calls(page=1).read(Response(status=200, body=json.dumps(page).encode()))
    assert (read.page, read.num_pages, read.total, read.end) == (1, None, None, 3)
    assert read.is_last
    assert read.calls[0].status is CallStatus.NO_ANSWER
    assert read.calls[0].to is None
    for broken in ({"calls": {}}, {"calls": [], "page": -1}, [1]):
        with pytest.raises(BadResponse):
            API.list_calls().read(Response(status=200, body=json.dumps(broken).encode()))


@given(st.integers(1, 8), st.floats(0, 5), st.floats(0, 5))
@LAWS
def test_retry_pauses_are_bounded_and_counted(attempts, backoff, cap):
    delays = list(Retry(attempts=attempts, backoff=backoff, max_backoff=cap).delays())
    assert len(delays) == attempts - 1
    assert all(0 <= d <= cap for d in delays)
    assert delays == sorted(delays)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ((), None),
        ((("Retry-After", "7"),), 7.0),
        ((("retry-after", " 0 "),), 0.0),
        ((("Retry-After", "99999999"),), 86_400.0),
        ((("Retry-After", "soon"),), None),
        ((("Retry-After", "-1"),), None),
        ((("Retry-After", "Fri, 04 Dec 2026 03:00:30 GMT"),), None),  # a date, but no Date
        ((("Retry-After", "Fri, 04 Dec 2026 03:00:30 GMT"),
          ("Date", "Fri, 04 Dec 2026 03:00:00 GMT")), 30.0),
        ((("Retry-After", "Fri, 04 Dec 2026 02:59:00 GMT"),
          ("Date", "Fri, 04 Dec 2026 03:00:00 GMT")), 0.0),
        ((("Retry-After", "Fri, 04 Dec 2026 03:00:30 GMT"), ("Date", "garbage")), None),
    ],
)  # fmt: skip
def test_a_429_reads_its_retry_after(headers, seconds):
    error = error_for(Response(status=429, headers=headers, body=b"slow down"), 100)
    assert type(error) is RateLimited
    assert error.retryable and error.message == "slow down"
    assert error.retry_after == seconds
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.status, again.retry_after) == (RateLimited, 429, seconds)


def test_errors_keep_their_fields_through_pickle_and_builtin_bases():
    error = CallNotFound(404, "gone", code="20404", more_info="https://x")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is CallNotFound
    assert (again.status, again.message, again.code) == (404, "gone", "20404")
    refused = pickle.loads(pickle.dumps(ModificationRefused("CA1", "cancel", "busy", "over")))
    assert refused.call_sid == "CA1"
    assert isinstance(ApiTimeout("x"), TimeoutError)
    assert isinstance(ApiConnectionError("x"), ConnectionError)
    assert ServerError(500, "x").retryable
    assert not CallGone(410, "x").retryable
    assert issubclass(InvalidParameter, ValueError)
    assert not issubclass(InvalidParameter, ApiError)


# The law of the joined record: wherever the create answer falls among the
# callbacks, in whatever order and with whatever copies, the record is the same.

SID = "CA" + "ab" * 16


@st.composite
def evidence(draw: st.DrawFn) -> tuple[str, list[bytes], int]:
    outcome = draw(st.sampled_from(["completed", "busy", "no-answer", "failed", "canceled"]))
    base = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    bodies = []
    last = len(steps_for(outcome)) - 1
    for n, status in enumerate(steps_for(outcome)):
        params = callback_params(
            call_sid=SID, account_sid="AC1", to="+1", from_="+2", status=status,
            sequence_number=n, at=base + timedelta(seconds=n), vocabulary="twilio",
            duration=7 if status == "completed" else (0 if n == last else None),
            quirky=False,
        )  # fmt: skip
        copies = draw(st.integers(0, 2) if n < last else st.integers(1, 2))
        bodies.extend("&".join(f"{k}={v}" for k, v in params).replace("+", "%2B").encode()
                      for _ in range(copies))  # fmt: skip
    order = draw(st.permutations(bodies))
    return outcome, list(order), draw(st.integers(0, len(order)))


@given(evidence())
@LAWS
def test_the_create_answer_joins_the_callbacks_in_any_order(case):
    outcome, bodies, answer_at = case
    queued = parse_call_resource({"sid": SID, "status": "queued"})
    placed_at = datetime(2026, 11, 24, 9, 59, tzinfo=UTC)

    def fold(position: int) -> tuple[object, ...]:
        book = CallBook(Decider())
        for n, body in enumerate([*bodies[:position], None, *bodies[position:]]):
            if body is None:
                record_placed_call(book, [queued], placed_at=placed_at)
            else:
                book.handle(RecordDelivery(delivery=parse_delivery(body)))
            del n
        state = book.state(SID)
        return (state.status, state.answered, state.deliveries, state.duplicates)

    joined = fold(answer_at)
    assert joined == fold(0)
    assert joined[0] is CallStatus(outcome)
    assert joined[2] + joined[3] == len(bodies)


# Strategies for the client's values (to join callstate.testing.strategies).

PRINTABLE = st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_characters="\x7f")
TEXT = st.text(PRINTABLE, min_size=1, max_size=40).filter(str.strip)
URLS = st.builds(
    "{}://{}.example/{}".format,
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9/_.~-]{0,30}", fullmatch=True),
)
METHODS = st.none() | st.sampled_from(["GET", "POST", "get", "post"])


TWIML = st.text(
    st.characters(min_codepoint=9, max_codepoint=0x2FFF, exclude_characters="\x0b\x0c\x7f"),
    min_size=1,
    max_size=60,
).filter(lambda t: t.strip() and not any(0x0E <= ord(c) < 0x20 or c == "\x0d" for c in t))
APPLICATIONS = st.from_regex(r"AP[0-9a-f]{32}", fullmatch=True)


@st.composite
def call_params(draw: st.DrawFn, instruction: str = "Url") -> CallParams:
    optional = st.none() | URLS
    if instruction == "ApplicationSid":  # the application's own URLs and callback are used
        return CallParams(
            to=draw(TEXT), from_=draw(TEXT), application_sid=draw(APPLICATIONS),
            timeout=draw(st.none() | st.integers(1, 600)),
        )  # fmt: skip
    twiml = instruction == "Twiml"
    return CallParams(
        to=draw(TEXT), from_=draw(TEXT),
        url=None if twiml else draw(URLS), twiml=draw(TWIML) if twiml else None,
        method=None if twiml else draw(METHODS),
        fallback_url=draw(optional), fallback_method=draw(METHODS),
        status_callback=draw(optional), status_callback_method=draw(METHODS),
        status_callback_event=draw(st.lists(st.sampled_from(callstate.client.EVENTS), unique=True)),
        timeout=draw(st.none() | st.integers(1, 600)),
        detect_voicemail=draw(st.none() | st.booleans()),
    )  # fmt: skip


@given(
    st.sampled_from(["Url", "Twiml", "ApplicationSid"]).flatmap(
        lambda name: st.tuples(st.just(name), call_params(name))
    ),
    st.booleans(),
)
@LAWS
def test_the_form_carries_every_parameter_and_the_provider_accepts_it(drawn, repeat):
    instruction, params = drawn
    twilio = repeat or instruction != "Url"  # Twiml and ApplicationSid are Twilio's only
    profile = Profile.twilio() if twilio else Profile.api19()
    body = CallsApi(account_sid="AC1", token="t", profile=profile).create_call(params).request.body
    form = parse_qsl(body.decode(), keep_blank_values=True)
    fields = dict(form)
    assert (fields["To"], fields["From"]) == (params.to, params.from_)
    given_instruction = {"Url": params.url, "Twiml": params.twiml,
                         "ApplicationSid": params.application_sid}  # fmt: skip
    assert [n for n in ("Url", "Twiml", "ApplicationSid") if n in fields] == [instruction]
    assert fields[instruction] == given_instruction[instruction]
    events = [v for k, v in form if k == "StatusCallbackEvent"]
    joined = events if twilio else [e for v in events for e in v.split(",")]
    assert tuple(joined) == params.status_callback_event
    assert fields.get("Timeout") == (None if params.timeout is None else str(params.timeout))
    assert fields.get("Method") == params.method
    assert _check_create(fields, "twilio" if twilio else "api19") is None


def test_the_async_sink_gets_the_same_commands():
    book = CallBook(Decider())

    class AsyncBook:
        async def handle(self, command):  # type: ignore[no-untyped-def]
            return book.handle(command)

    resource = parse_call_resource({"sid": "CA9", "status": "queued"})
    placed_at = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    outcomes = asyncio.run(
        record_placed_call_async(AsyncBook(), [resource], placed_at=placed_at,
                                 ring_timeout=timedelta(seconds=30))
    )  # fmt: skip
    assert [type(e).__name__ for o in outcomes for e in o.events] == [
        "CallRegistered", "ResourceObserved",
    ]  # fmt: skip
    assert book.state("CA9").status is CallStatus.QUEUED


@given(
    st.text(max_size=40)
    | st.text("abcXYZ0189", min_size=1, max_size=40)
    | st.sampled_from(
        ["CA" + "f" * 32, "a" * 2048, "a" * 2049, "CA/1", "\u0663\u0664", "\uff23\uff211", " CA1"]
    )
)
def test_the_call_url_fast_path_agrees_with_the_careful_one(call_sid):
    from urllib.parse import quote

    from callstate.client._api import _sid

    try:
        careful: object = f"{API._calls_url}/{quote(_sid('CallSid', call_sid), safe='')}.json"
    except InvalidParameter as exc:
        careful = (exc.field, str(exc))
    try:
        fast: object = API.fetch_call(call_sid).request.url
    except InvalidParameter as exc:
        fast = (exc.field, str(exc))
    assert fast == careful
