"""The one contract every Calls API transport passes, over real sockets, against the fake provider.

Each test runs once per adapter: urllib, requests, httpx (sync and async), aiohttp.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from callstate import CallStatus
from callstate.client import (
    ApiConnectionError,
    ApiError,
    ApiTimeout,
    ApiTransportError,
    AuthenticationFailed,
    BadResponse,
    CallFilter,
    CallGone,
    CallNotFound,
    CallParams,
    InvalidParameter,
    ModificationRefused,
    NothingToModify,
    Profile,
    RateLimited,
    Request,
    RequestRejected,
    Retry,
    ServerError,
)
from callstate.testing.fake_provider import FakeProvider, Fault
from tests.client._client_harness import ADAPTERS, api_for, closed_port, make_calls

pytestmark = pytest.mark.parametrize("adapter", ADAPTERS)

PARAMS = CallParams(
    to="+15550001111",
    from_="+15550002222",
    url="https://app.example/answer",
    status_callback=f"http://127.0.0.1:{closed_port()}/status",
    status_callback_event=["ringing", "completed"],
    timeout=30,
)


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(pace=None, outcome="completed") as running:
        yield running


def calls_for(adapter: str, provider: FakeProvider, **kwargs: Any) -> Any:
    profile = kwargs.pop("profile", provider.profile("api19"))
    api_kwargs = {k: kwargs.pop(k) for k in ("max_response_bytes",) if k in kwargs}
    api = api_for(profile, provider.account_sid, provider.token, **api_kwargs)
    return make_calls(adapter, api, **kwargs)


@pytest.fixture
def calls(adapter: str, provider: FakeProvider) -> Iterator[Any]:
    made = calls_for(adapter, provider)
    yield made
    made.close()


# Create, fetch, list.


def test_create_answers_the_queued_call_and_sends_every_parameter(calls, provider):
    (placed,) = calls.create(PARAMS)
    assert placed.status is CallStatus.QUEUED
    kept = provider.call(placed.sid)
    assert (kept.to, kept.from_, kept.url) == (PARAMS.to, PARAMS.from_, PARAMS.url)
    assert kept.events == ("ringing", "completed")
    assert kept.status_callback == PARAMS.status_callback
    provider.finish(placed.sid)
    assert provider.wait_idle()
    assert [s.error is not None for s in provider.sent()] == [True, True]  # nobody listens


@pytest.mark.parametrize("name", ["api19", "restcomm", "twilio"])
def test_every_profile_reaches_its_paths(adapter, provider, name):
    calls = calls_for(adapter, provider, profile=provider.profile(name))
    try:
        placed = [calls.create(PARAMS)[0] for _ in range(3)]
        assert calls.fetch(placed[0].sid).sid == placed[0].sid
        assert provider.call(placed[0].sid).events == ("ringing", "completed")
        assert [c.sid for c in calls.iter_calls(page_size=2)] == [c.sid for c in placed]
    finally:
        calls.close()


def test_fetch_follows_the_lifecycle(calls, provider):
    (placed,) = calls.create(PARAMS)
    provider.advance(placed.sid)
    provider.advance(placed.sid)
    fetched = calls.fetch(placed.sid)
    assert fetched.status is CallStatus.RINGING
    assert fetched.start_time is not None
    provider.finish(placed.sid)
    done = calls.fetch(placed.sid)
    assert done.status is CallStatus.COMPLETED
    assert done.duration == provider.call(placed.sid).duration


def test_list_walks_every_page_in_order(calls, provider):
    placed = [calls.create(PARAMS)[0].sid for _ in range(5)]
    first = calls.list(page_size=2)
    assert (first.page, first.num_pages, first.total, len(first.calls)) == (0, 3, 5, 2)
    last = calls.list(page=2, page_size=2)
    assert last.is_last
    assert [c.sid for c in last.calls] == placed[4:]
    assert [c.sid for c in calls.iter_calls(page_size=2)] == placed
    assert [c.sid for c in calls.iter_calls()] == placed


def test_list_filters(calls, provider):
    mine = calls.create(PARAMS)[0].sid
    calls.create(CallParams(to="+15559999999", from_="+15550002222", url="https://a.example/"))
    assert [c.sid for c in calls.iter_calls(CallFilter(to=PARAMS.to))] == [mine]
    provider.finish(mine)
    done = calls.list(CallFilter(status=CallStatus.COMPLETED))
    assert [c.sid for c in done.calls] == [mine]


def test_a_page_past_the_end_is_rejected_with_the_providers_message(calls, provider):
    calls.create(PARAMS)
    with pytest.raises(RequestRejected, match="past the last page") as caught:
        calls.list(page=3)
    assert caught.value.status == 400


# Modify.


def test_redirect_reaches_the_provider(calls, provider):
    (placed,) = calls.create(PARAMS)
    calls.redirect(placed.sid, "https://app.example/next", method="get")
    assert provider.call(placed.sid).redirects == [("https://app.example/next", "GET")]


def test_cancel_while_ringing_then_the_call_is_gone(calls, provider):
    (placed,) = calls.create(PARAMS)
    provider.advance(placed.sid)
    provider.advance(placed.sid)
    assert calls.cancel(placed.sid).status is CallStatus.CANCELED
    assert provider.true_outcome(placed.sid) == "canceled"
    with pytest.raises(CallGone) as caught:
        calls.cancel(placed.sid)
    assert caught.value.status == 410


@pytest.mark.parametrize("name", ["api19", "restcomm", "twilio"])
def test_hang_up_ends_a_live_call_in_any_state_and_cancel_leaves_one_in_progress(
    adapter, provider, name
):
    calls = calls_for(adapter, provider, profile=provider.profile(name))
    try:
        (queued,) = calls.create(PARAMS)
        # Never answered: it ends canceled, never a "completed" nobody picked up.
        assert calls.hang_up(queued.sid).status is CallStatus.CANCELED
        (ringing,) = calls.create(PARAMS)
        provider.advance(ringing.sid)
        provider.advance(ringing.sid)
        assert calls.hang_up(ringing.sid).status is CallStatus.CANCELED
        (answered,) = calls.create(PARAMS)
        for _ in range(3):
            provider.advance(answered.sid)
        # A cancel does nothing to a call in progress, as both providers document.
        assert calls.cancel(answered.sid).status is CallStatus.IN_PROGRESS
        assert provider.call(answered.sid).status == "in-progress"
        assert calls.hang_up(answered.sid).status is CallStatus.COMPLETED
        assert provider.true_outcome(answered.sid) == "completed"
        # A call that is over: Restcomm answers 410, Twilio 400 with its code 21220.
        for sid in (queued.sid, answered.sid):
            if name == "twilio":
                with pytest.raises(RequestRejected) as refused:
                    calls.hang_up(sid)
                assert (refused.value.status, refused.value.code) == (400, "21220")
            else:
                with pytest.raises(CallGone):
                    calls.hang_up(sid)
    finally:
        calls.close()


def test_a_modification_naming_nothing_is_refused(calls, provider):
    (placed,) = calls.create(PARAMS)
    with pytest.raises(NothingToModify):
        calls.run(calls.api._modify(placed.sid, [("Method", "GET")]))


def test_an_impossible_modification_is_refused_before_sending(calls, provider):
    (placed,) = calls.create(PARAMS)
    seen = provider.requests_seen
    with pytest.raises(ModificationRefused, match="already over"):
        calls.cancel(placed.sid, known=CallStatus.BUSY)
    with pytest.raises(ModificationRefused, match="use hang up"):
        calls.cancel(placed.sid, known=CallStatus.IN_PROGRESS)
    with pytest.raises(ModificationRefused, match="already over"):
        calls.hang_up(placed.sid, known=CallStatus.ENDED)
    with pytest.raises(ModificationRefused):
        calls.redirect(placed.sid, "https://a.example/", known=CallStatus.ENDED)
    with pytest.raises(InvalidParameter, match="Url"):
        calls.redirect(placed.sid, "ftp://a.example/")
    assert provider.requests_seen == seen


# Errors of every shape.


@pytest.mark.parametrize("style", ["text", "message", "twilio", "xml", "html"])
def test_every_error_shape_becomes_a_typed_error_with_the_message(adapter, provider, style):
    provider.error_style = style
    calls = calls_for(adapter, provider)
    try:
        with pytest.raises(CallNotFound, match="CAnope") as caught:
            calls.fetch("CAnope")
        assert caught.value.status == 404
        if style in ("twilio", "xml"):
            assert caught.value.code == "20404"
        if style == "twilio":
            assert caught.value.more_info == "https://www.twilio.com/docs/errors/20404"
    finally:
        calls.close()


def test_wrong_credentials(adapter, provider):
    api = api_for(provider.profile(), provider.account_sid, "wrong")
    calls = make_calls(adapter, api)
    try:
        with pytest.raises(AuthenticationFailed) as caught:
            calls.fetch("CA1")
        assert caught.value.status == 401
    finally:
        calls.close()


def test_create_is_never_repeated(adapter, provider):
    slept: list[float] = []
    calls = calls_for(adapter, provider, slept=slept)
    try:
        provider.inject(Fault(status=500, body=b"boom", content_type="text/plain"))
        with pytest.raises(ServerError, match="boom") as caught:
            calls.create(PARAMS)
        assert caught.value.retryable
        assert provider.requests_seen == 1
        assert slept == []
        assert provider.calls() == []
    finally:
        calls.close()


def test_a_get_is_repeated_with_bounded_backoff(adapter, provider):
    slept: list[float] = []
    retry = Retry(attempts=3, backoff=0.5, max_backoff=0.75)
    calls = calls_for(adapter, provider, slept=slept, retry=retry)
    try:
        (placed,) = calls.create(PARAMS)
        busy = Fault(status=503, body=b"<html><title>Busy</title></html>")
        provider.inject(busy, Fault(status=502))
        assert calls.fetch(placed.sid).sid == placed.sid
        assert slept == [0.5, 0.75]
        slept.clear()
        provider.inject(*[Fault(status=500, body=b'{"message": "down"}')] * 3)
        with pytest.raises(ServerError, match="down"):
            calls.fetch(placed.sid)
        assert slept == [0.5, 0.75]
    finally:
        calls.close()


def _busy(retry_after: str | None = None, date: str | None = None) -> Fault:
    headers = [("Retry-After", retry_after)] if retry_after is not None else []
    headers += [("Date", date)] if date is not None else []
    return Fault(status=429, body=b'{"message": "Too Many Requests"}', headers=tuple(headers))


def test_a_429_is_retried_for_every_request_after_its_retry_after(adapter, provider):
    slept: list[float] = []
    retry = Retry(attempts=3, backoff=0.1, max_backoff=0.2)
    calls = calls_for(adapter, provider, slept=slept, retry=retry)
    try:
        # A create is sent again after a 429 (never after a 5xx): the provider did nothing.
        provider.inject(_busy("2"))
        (placed,) = calls.create(PARAMS)
        assert slept == [2.0]
        assert [c.sid for c in provider.calls()] == [placed.sid]
        slept.clear()
        date = "Fri, 04 Dec 2026 03:00:00 GMT"
        provider.inject(_busy("Fri, 04 Dec 2026 03:00:01 GMT", date), _busy())
        assert calls.fetch(placed.sid).sid == placed.sid
        assert slept == [1.0, 0.2]  # the date read against the answer's Date; then the backoff
    finally:
        calls.close()


def test_a_429_past_the_attempts_or_asking_too_long_is_a_typed_error(adapter, provider):
    slept: list[float] = []
    retry = Retry(attempts=2, backoff=0.1, max_retry_after=30)
    calls = calls_for(adapter, provider, slept=slept, retry=retry)
    try:
        provider.inject(_busy("1"), _busy("3"))
        with pytest.raises(RateLimited, match="Too Many Requests") as caught:
            calls.fetch("CA1")
        assert (caught.value.status, caught.value.retry_after) == (429, 3.0)
        assert isinstance(caught.value, RequestRejected) and caught.value.retryable
        assert slept == [1.0]
        slept.clear()
        provider.inject(_busy("120"))
        with pytest.raises(RateLimited) as caught:
            calls.create(PARAMS)
        assert caught.value.retry_after == 120.0
        assert slept == []
        assert provider.calls() == []
    finally:
        calls.close()


@pytest.mark.parametrize(
    ("fault", "match"),
    [
        (Fault(status=200, body=b'{"sid": "CA1", "sta'), "not JSON"),
        (Fault(status=200, body=b"<html><p>Hi</p></html>", content_type="text/html"), "not JSON"),
        (Fault(status=200, body=b'{"sid": "CA1"}'), "status: is missing"),
        (Fault(status=200, body=b'{"sid": "CA1", "status": "sleeping"}'), "not a call status"),
        (Fault(status=200, body=b"[]"), "empty array"),
        (Fault(status=302, body=b"moved"), "unexpected HTTP status 302"),
        (Fault(status=200, body=b"x" * 5000), "larger than 1000 bytes"),
        (Fault(status=404, body=b"x" * 5000), "larger than 1000 bytes"),
    ],
    ids=[
        "truncated-json",
        "html-page",
        "no-status",
        "bad-status",
        "empty-array",
        "redirect",
        "huge",
        "huge-error",
    ],
)
def test_unusable_answers_are_bad_responses(adapter, provider, fault, match):
    calls = calls_for(adapter, provider, max_response_bytes=1000, retry=Retry(attempts=1))
    try:
        provider.inject(fault)
        with pytest.raises(BadResponse, match=match):
            calls.fetch("CA1")
    finally:
        calls.close()


def test_a_forked_call_answers_every_leg(adapter, provider):
    legs = [{"sid": f"CA{n}", "status": "queued", "parent_call_sid": "CA0"} for n in (1, 2)]
    provider.inject(Fault(status=201, body=json.dumps(legs).encode()))
    calls = calls_for(adapter, provider)
    try:
        assert [leg.sid for leg in calls.create(PARAMS)] == ["CA1", "CA2"]
    finally:
        calls.close()


def test_the_quirks_of_the_wild_are_read(adapter):
    with FakeProvider(pace=None, outcome="no-answer", quirks=True) as provider:
        calls = calls_for(adapter, provider)
        try:
            (placed,) = calls.create(PARAMS)
            provider.finish(placed.sid)
            fetched = calls.fetch(placed.sid)
            assert fetched.status is CallStatus.NO_ANSWER
            assert fetched.parent_call_sid is None
            assert fetched.date_created is not None
        finally:
            calls.close()


def test_the_answer_carries_the_headers_as_sent(adapter, provider):
    import asyncio

    from tests.client._client_harness import make_transport

    api = api_for(provider.profile("api19"), provider.account_sid, provider.token)
    request = api.fetch_call("CA-none").request
    transport = make_transport(adapter, 5.0)
    if adapter in ("httpx-async", "aiohttp"):

        async def send_once() -> Any:
            try:
                return await transport.send(request)
            finally:
                await transport.aclose()

        answer = asyncio.run(send_once())
    else:
        try:
            answer = transport.send(request)
        finally:
            transport.close()
    assert answer.status == 404
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in answer.headers)
    assert answer.header("content-type") == "application/json"
    assert answer.header("Content-Length") == str(len(answer.body))


class _EchoHeaders(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps([[k.lower(), v] for k, v in self.headers.items()]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.do_GET()


def test_each_request_carries_its_own_headers(adapter):
    # Transports may keep the last headers in their library's form: a change,
    # or back, must still be sent as given.
    import asyncio

    from tests.client._client_harness import make_transport

    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeaders)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/echo"
    first = (("Authorization", "Basic QUM6dA=="), ("Accept", "application/json"))
    second = (("Authorization", "Basic QUM6dQ=="), ("Accept", "application/json"), ("X-A", "1"))
    requests = [
        Request(method="GET", url=url, headers=first),
        Request(method="GET", url=url, headers=first),
        Request(method="POST", url=url, headers=second, body=b"a=1"),
        Request(method="GET", url=url, headers=first[:1] + first[1:]),  # equal, not the same
        Request(method="GET", url=url, headers=()),
    ]
    transport = make_transport(adapter, 5.0)

    async def send_all() -> list[Any]:
        try:
            return [await transport.send(request) for request in requests]
        finally:
            await transport.aclose()

    try:
        if adapter in ("httpx-async", "aiohttp"):
            answers = asyncio.run(send_all())
        else:
            try:
                answers = [transport.send(request) for request in requests]
            finally:
                transport.close()
    finally:
        server.shutdown()
        server.server_close()
    for request, answer in zip(requests, answers, strict=True):
        received = dict(json.loads(answer.body))
        for name, value in request.headers:
            assert received[name.lower()] == value, (request, received)
        assert ("x-a" in received) == (request.headers == second)
        if not request.headers:
            assert "authorization" not in received


# Transport failures.


def test_a_slow_answer_times_out(adapter, provider):
    calls = calls_for(adapter, provider, timeout=0.2)
    try:
        provider.inject(Fault(status=201, body=b"{}", delay=1.0))
        with pytest.raises(ApiTimeout) as caught:
            calls.create(PARAMS)
        assert isinstance(caught.value, TimeoutError)
        assert caught.value.retryable
        assert provider.requests_seen == 1
    finally:
        calls.close()


def test_a_slow_answer_to_a_fetch_times_out_and_is_repeated(adapter, provider):
    # A GET: the transports may send it without a body or a per-request timeout
    # when their own client already has theirs; the bound must hold all the same.
    slept: list[float] = []
    calls = calls_for(adapter, provider, timeout=0.2, retry=Retry(attempts=2), slept=slept)
    try:
        placed = calls.create(PARAMS)[0]
        slow = Fault(status=200, body=b"{}", delay=1.0)
        provider.inject(slow, slow)
        with pytest.raises(ApiTimeout):
            calls.fetch(placed.sid)
        assert slept == [0.1]
        assert provider.requests_seen == 3
    finally:
        calls.close()


def test_connection_refused(adapter):
    profile = Profile.api19(f"http://127.0.0.1:{closed_port()}/call/2012-04-24")
    slept: list[float] = []
    retry = Retry(attempts=2, backoff=0.01)
    calls = make_calls(adapter, api_for(profile, "AC1", "t"), retry=retry, slept=slept)
    try:
        with pytest.raises(ApiConnectionError) as caught:
            calls.fetch("CA1")
        assert isinstance(caught.value, ConnectionError)
        assert slept == [0.01]
        with pytest.raises(ApiConnectionError):
            calls.create(PARAMS)
        assert slept == [0.01]
    finally:
        calls.close()


@pytest.mark.parametrize("action", ["close", "truncate"])
def test_a_broken_answer_to_create_is_a_transport_error_never_repeated(adapter, provider, action):
    calls = calls_for(adapter, provider)
    try:
        provider.inject(Fault(status=201, body=b'{"sid": "CA1"', action=action))
        with pytest.raises(ApiTransportError):
            calls.create(PARAMS)
        assert provider.requests_seen == 1
    finally:
        calls.close()


def test_every_error_is_below_the_root(adapter, provider):
    calls = calls_for(adapter, provider, retry=Retry(attempts=1))
    try:
        for fault in (Fault(status=500), Fault(action="close"), Fault(status=200, body=b"?")):
            provider.inject(fault)
            with pytest.raises(ApiError):
                calls.fetch("CA1")
    finally:
        calls.close()
