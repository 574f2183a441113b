"""The contract every web adapter passes, over a real socket.

Bind it to an adapter by subclassing ``WebhookContract`` in a test module and
implementing ``serve``: given a handler, run your framework's application on
a real server and yield the full URL of the webhook route::

    class TestMyFramework(WebhookContract):
        asynchronous = False

        @contextmanager
        def serve(self, handler):
            app = make_my_app(handler)
            with serve_wsgi(app) as base:
                yield base + "/hook"

Requests go out through ``http.client`` on a real connection; the store is a
``CallBook`` behind ``SwitchableSink``, which can be switched down to raise
``StoreUnavailable`` like a store whose database is gone.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import socket
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import ClassVar, Final

import attrs
import pytest

import callstate
from callstate import (
    CallBook,
    CallCommand,
    CallStatus,
    Outcome,
    RecordDelivery,
    StoreUnavailable,
)
from callstate.web import (
    AsyncWebhookHandler,
    BasicAuth,
    Hooks,
    TrustedProxy,
    TwilioSignature,
    Unverified,
    Verifier,
    WebhookHandler,
)
from callstate.web._signature import body_sha256, twilio_signature

__all__ = [
    "TOKEN",
    "Answer",
    "AsyncSinkOf",
    "SwitchableSink",
    "WebhookContract",
    "callback",
    "result",
    "send",
]

#: The auth token the contract signs with.
TOKEN: Final = "contract-token-1"
"""The auth token the contract signs its callbacks with."""
ACCOUNT: Final = "AC0123456789abcdef0123456789abcdef"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class SwitchableSink:
    """A ``CallBook`` that raises ``StoreUnavailable`` while ``down`` is true."""

    def __init__(self, book: CallBook | None = None) -> None:
        self.book = CallBook() if book is None else book
        self.down = False
        self.handled = 0

    def handle(self, command: CallCommand) -> Outcome:
        if self.down:
            raise StoreUnavailable("the store is switched down")
        self.handled += 1
        return self.book.handle(command)


class _Keeping(SwitchableSink):
    """A ``SwitchableSink`` that keeps each command it stored, to read its delivery."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[CallCommand] = []

    def handle(self, command: CallCommand) -> Outcome:
        outcome = super().handle(command)
        self.commands.append(command)
        return outcome


class AsyncSinkOf:
    """The async twin of a sync sink (so async adapters await a real coroutine)."""

    def __init__(self, sink: SwitchableSink) -> None:
        self.sink = sink

    async def handle(self, command: CallCommand) -> Outcome:
        return self.sink.handle(command)


@attrs.frozen(kw_only=True)
class Answer:
    """An HTTP answer as the contract's client read it."""

    status: int
    headers: dict[str, str]
    text: str


def result(answer: Answer) -> tuple[int, str | None]:
    """The status and ``Callstate-Result`` of a stored delivery's answer (a 204, no body)."""
    assert answer.text == "", f"a {answer.status} with a body: {answer.text!r}"
    if answer.status == 204:  # RFC 9110: a 204 carries no Content-Length
        assert "content-length" not in answer.headers, answer.headers
    return answer.status, answer.headers.get("callstate-result")


def callback(
    call_sid: str = "CA0001", status: str = "ringing", seq: int = 1, **extra: str
) -> list[tuple[str, str]]:
    """The parameters of one status callback."""
    params = [
        ("AccountSid", ACCOUNT),
        ("CallSid", call_sid),
        ("CallStatus", status),
        ("SequenceNumber", str(seq)),
        ("Timestamp", "Tue, 24 Nov 2026 10:15:32 +0000"),
        ("CallbackSource", "call-progress-events"),
    ]
    if status in ("completed", "busy", "no-answer", "failed", "canceled"):
        params.append(("CallDuration", "7" if status == "completed" else "0"))
    params.extend(extra.items())
    return params


def send(
    url: str,
    params: Sequence[tuple[str, str]] | None = None,
    *,
    method: str = "POST",
    body: bytes | None = None,
    token: str | None = TOKEN,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
    signed_url: str | None = None,
) -> Answer:
    """Send one webhook over a real connection; sign it as a provider would."""
    headers = dict(headers or {})
    target = url
    signed: Sequence[tuple[str, str]] = ()
    if method == "GET":
        query = urllib.parse.urlencode(params or ())
        target = f"{url}{'&' if '?' in url else '?'}{query}" if query else url
        body = b""
    elif body is None:
        body = urllib.parse.urlencode(params or ()).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        signed = params or ()
    if signature is None and token is not None:
        signature = twilio_signature(token, signed_url or target, signed)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    parts = urllib.parse.urlsplit(target)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        return Answer(
            status=response.status,
            headers={name.lower(): value for name, value in response.getheaders()},
            text=text,
        )
    finally:
        connection.close()


_OURS: Final = str(Path(callstate.__file__).parent)
_CHAINED: Final = re.compile(
    r"\n(?:The above exception was the direct cause of the following exception"
    r"|During handling of the above exception, another exception occurred):\n"
)


class _Tracebacks(logging.Handler):
    """Keeps each record whose last traceback (text or ``exc_info``) names a file of ours.

    Only the last of a chain is what the server caught: an earlier one (its
    cause) may have passed through our code and been handled there.
    """

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        last = _CHAINED.split(logging.Formatter().format(record))[-1]
        if _OURS in last and record not in self.records:
            self.records.append(record)


@contextmanager
def _tracebacks_through_callstate() -> Iterator[list[logging.LogRecord]]:
    """The records logged meanwhile, by any logger there is, with a traceback through our code.

    A server logs an exception its application let out (werkzeug in the
    message's text, uvicorn, aiohttp, Flask and Django as ``exc_info``); a
    logger that does not propagate is watched too.
    """
    handler = _Tracebacks()
    loggers = [logging.getLogger()]
    loggers.extend(
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    )
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def _final_status(answer: bytes) -> bytes:
    """The status code of a raw answer, past any interim (1xx) ones; empty when there is none."""
    while answer:
        head, _, answer = answer.partition(b"\r\n\r\n")
        status = head.split(b" ", 2)[1] if head.count(b" ") else head
        if not status.startswith(b"1"):
            return status
    return b""


_BROKEN_BODY: Final = urllib.parse.urlencode(callback(status="busy", seq=3)).encode()


class WebhookContract:
    """Subclass, set ``asynchronous`` and implement ``serve``; every test runs."""

    #: The adapter takes an ``AsyncWebhookHandler`` (Starlette, aiohttp, ASGI).
    asynchronous: ClassVar[bool] = False
    #: The server hands the adapter a chunked body (else the adapter must answer 411).
    chunked: ClassVar[bool] = True

    def serve(self, handler: WebhookHandler | AsyncWebhookHandler) -> AbstractContextManager[str]:
        """Run ``handler`` behind the adapter on a real server; yield the webhook's URL."""
        raise NotImplementedError

    # Building blocks.

    def handler(
        self,
        sink: SwitchableSink,
        *,
        verifier: Verifier | None = None,
        hooks: Hooks | None = None,
        proxy: TrustedProxy | None = None,
        public_url: str | None = None,
    ) -> WebhookHandler | AsyncWebhookHandler:
        verifier = TwilioSignature(secrets=[TOKEN]) if verifier is None else verifier
        if self.asynchronous:
            return AsyncWebhookHandler(
                AsyncSinkOf(sink),
                verifier=verifier,
                hooks=hooks,
                proxy=proxy,
                public_url=public_url,
            )
        return WebhookHandler(
            sink, verifier=verifier, hooks=hooks, proxy=proxy, public_url=public_url
        )

    @pytest.fixture
    def sink(self) -> SwitchableSink:
        return SwitchableSink()

    @pytest.fixture
    def hooks(self) -> Hooks:
        return Hooks()

    @pytest.fixture
    def url(self, sink: SwitchableSink, hooks: Hooks) -> Iterator[str]:
        with self.serve(self.handler(sink, hooks=hooks)) as url:
            yield url

    # The contract.

    def test_valid(self, url: str, sink: SwitchableSink) -> None:
        answer = send(url, callback(status="ringing", seq=1))
        assert result(answer) == (204, "accepted")
        assert sink.book.state("CA0001").status is CallStatus.RINGING

    def test_valid_get(self, url: str, sink: SwitchableSink) -> None:
        answer = send(url, callback(status="in-progress", seq=2), method="GET")
        assert result(answer) == (204, "accepted")
        assert sink.book.state("CA0001").answered

    def test_valid_json_with_body_sha256(self, url: str, sink: SwitchableSink) -> None:
        body = json.dumps(dict(callback(status="busy", seq=3))).encode()
        signed_url = f"{url}?bodySHA256={body_sha256(body)}"
        answer = send(
            signed_url, body=body, headers={"Content-Type": "application/json"}, token=TOKEN
        )
        assert answer.status == 204, answer.text
        assert sink.book.state("CA0001").status is CallStatus.BUSY

    def test_query_string_is_signed_exactly(self, url: str, sink: SwitchableSink) -> None:
        odd = f"{url}?tenant=a%20b&path=%2Fx%2Fy&plus=1+2&empty="
        answer = send(odd, callback(seq=1))
        assert answer.status == 204, answer.text

    def test_duplicate(self, url: str, sink: SwitchableSink, hooks: Hooks) -> None:
        finals: list[object] = []
        hooks.on_final(finals.append)
        first = send(url, callback(status="completed", seq=3))
        second = send(url, callback(status="completed", seq=3))
        assert result(first) == (204, "accepted")
        assert result(second) == (204, "duplicate")
        state = sink.book.state("CA0001")
        assert (state.deliveries, state.duplicates, len(finals)) == (1, 1, 1)

    def test_reordered(self, url: str, sink: SwitchableSink, hooks: Hooks) -> None:
        answered: list[object] = []
        finals: list[object] = []
        hooks.on_answered(answered.append)
        hooks.on_final(finals.append)
        for status, seq in (("completed", 3), ("ringing", 1), ("in-progress", 2), ("initiated", 0)):
            assert send(url, callback(status=status, seq=seq)).status == 204
        state = sink.book.state("CA0001")
        assert state.status is CallStatus.COMPLETED
        assert state.answered
        assert (len(answered), len(finals)) == (1, 1)

    def test_early_before_the_call_is_known(self, url: str, sink: SwitchableSink) -> None:
        assert "CA-early" not in sink.book
        answer = send(url, callback(call_sid="CA-early", status="no-answer", seq=3))
        assert answer.status == 204
        assert sink.book.state("CA-early").status is CallStatus.NO_ANSWER

    def test_unsigned(self, url: str, sink: SwitchableSink) -> None:
        answer = send(url, callback(), token=None)
        assert answer.status == 403
        assert "X-Twilio-Signature" in answer.text
        assert sink.handled == 0

    @pytest.mark.parametrize(
        "signature",
        [
            twilio_signature("another-token", "http://example.com/", ()),
            "short",
            "!!!!!!!!!!!!!!!!!!!!!!!!!!!=",
            "",
            "é" * 28,
        ],
        ids=["other-token", "short", "not-base64", "empty", "not-ascii"],
    )
    def test_bad_signature(self, url: str, sink: SwitchableSink, signature: str) -> None:
        answer = send(url, callback(), signature=signature.encode().decode("latin-1"))
        assert answer.status == 403, answer.text
        assert sink.handled == 0
        assert send(url, callback()).status == 204

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            (b"CallSid=CA1&SequenceNumber=1", "CallStatus"),
            (b"CallSid=CA1&CallStatus=ringing&CallStatus=busy&SequenceNumber=1", "CallStatus"),
            (b"CallSid=CA1;CallStatus=ringing&SequenceNumber=1", "body"),
            (b"CallSid=CA1&CallStatus=ringing&SequenceNumber=1&To=\xff\xfe", "body"),
            (b"CallSid=CA1&CallStatus=ringing&SequenceNumber=99999999999", "SequenceNumber"),
            (b"CallSid=CA1&CallStatus=ringing&SequenceNumber=1&CallDuration=-3", "CallDuration"),
            (b"CallSid=CA1&CallStatus=ringing&SequenceNumber=1&To=%FF", "To"),
        ],
        ids=[
            "missing-status",
            "two-statuses",
            "semicolon",
            "invalid-utf8",
            "seq-out-of-range",
            "negative-duration",
            "bad-percent-utf8",
        ],
    )
    def test_malformed(self, url: str, sink: SwitchableSink, body: bytes, field: str) -> None:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        # Signed as a provider would sign it: what is wrong is the content.
        pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        signature = twilio_signature(TOKEN, url, pairs)
        answer = send(url, body=body, headers=headers, signature=signature)
        assert answer.status == 400, answer.text
        assert answer.text.startswith(f"{field}:"), answer.text
        assert sink.handled == 0
        assert send(url, callback()).status == 204

    def test_oversized(self, url: str, sink: SwitchableSink) -> None:
        answer = send(url, callback(To="x" * 40_000))
        assert answer.status == 400, answer.text
        assert answer.text.startswith("body:")
        assert sink.handled == 0
        assert send(url, callback()).status == 204

    def test_fields_no_one_reads_are_kept_however_long_or_many(self) -> None:
        # A provider does not send again a callback answered 4xx: a field the core
        # does not read must never be the reason to refuse one (only the body's size).
        extra = [("CallToken", "t" * 3_000), ("N" * 100, "a long name")]
        extra += [(f"Field{i}", str(i)) for i in range(150)]
        params = [*callback(status="busy", seq=3), *extra]
        sink = _Keeping()
        with self.serve(self.handler(sink)) as url:
            assert result(send(url, params)) == (204, "accepted")
            assert result(send(url, params, method="GET")) == (204, "duplicate")
        assert sink.book.state("CA0001").status is CallStatus.BUSY
        for command in sink.commands:
            assert isinstance(command, RecordDelivery)
            assert list(command.delivery.params) == params

    def test_a_reshaped_signed_callback_is_refused(self, url: str, sink: SwitchableSink) -> None:
        # A copy of a signed pair leaves Twilio's signature as it was; no provider
        # repeats a name, so a callback with one is refused, naming it.
        captured = [*callback(status="busy", seq=3), ("From", "+14155550100")]
        signature = twilio_signature(TOKEN, url, captured)
        reshaped = [*captured, ("From", "+14155550100")]
        answer = send(url, reshaped, signature=signature)
        assert (answer.status, answer.text) == (400, "From: is repeated\n")
        assert sink.handled == 0
        assert result(send(url, captured, signature=signature)) == (204, "accepted")

    def test_store_down(self, url: str, sink: SwitchableSink, hooks: Hooks) -> None:
        finals: list[object] = []
        hooks.on_final(finals.append)
        sink.down = True
        answer = send(url, callback(status="completed", seq=3))
        assert answer.status == 503
        assert "CA0001" not in sink.book
        assert finals == []
        sink.down = False
        answer = send(url, callback(status="completed", seq=3))
        assert result(answer) == (204, "accepted")
        assert len(finals) == 1

    def test_failing_hook_does_not_lose_the_event(
        self, url: str, sink: SwitchableSink, hooks: Hooks
    ) -> None:
        @hooks.on_final
        def broken(state: object) -> None:
            raise RuntimeError("a bug in a hook")

        answer = send(url, callback(status="completed", seq=3))
        assert answer.status == 204
        assert sink.book.state("CA0001").final
        assert hooks.failures == 1

    def test_credentials_are_asked_for_then_checked(self, sink: SwitchableSink) -> None:
        verifier = BasicAuth(credentials={"provider": ["new-password", "old-password"]})
        with self.serve(self.handler(sink, verifier=verifier)) as url:
            answer = send(url, callback(), token=None)
            assert answer.status == 401
            assert answer.headers.get("www-authenticate") == 'Basic realm="callstate"'
            wrong = {"Authorization": _basic("provider", "guess")}
            assert send(url, callback(), token=None, headers=wrong).status == 403
            assert sink.handled == 0
            right = {"Authorization": _basic("provider", "old-password")}
            answer = send(url, callback(), token=None, headers=right)
            assert result(answer) == (204, "accepted")

    def test_chunked_body(self, url: str, sink: SwitchableSink) -> None:
        params = callback(status="busy", seq=3)
        body = urllib.parse.urlencode(params).encode()
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        try:
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": twilio_signature(TOKEN, url, params),
            }
            connection.request(
                "POST",
                parts.path,
                body=iter([body[:10], body[10:]]),
                headers=headers,
                encode_chunked=True,
            )
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        if self.chunked:
            assert response.status == 204, response.status
            assert sink.book.state("CA0001").status is CallStatus.BUSY
        else:  # refused whole, never half stored
            assert response.status == 411, response.status
            assert sink.handled == 0

    def test_a_body_cut_short_is_never_stored(self, sink: SwitchableSink) -> None:
        # The connection breaks before the body's last bytes. What did arrive
        # is itself a well-formed callback (unsigned: a signature would not
        # match it), so only the adapter can tell it is not the whole body.
        with self.serve(self.handler(sink, verifier=Unverified())) as url:
            parts = urllib.parse.urlsplit(url)
            body = urllib.parse.urlencode(callback(status="busy", seq=3, Note="cut-here")).encode()
            head = (
                f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            with _tracebacks_through_callstate() as tracebacks:
                with socket.create_connection((parts.hostname, parts.port), timeout=30) as raw:
                    raw.sendall(head + body[:-4])
                    raw.shutdown(socket.SHUT_WR)
                    # Whatever the server answers (a 400, or nothing), it is done
                    # with the request once it closes the connection.
                    answer = b""
                    while data := raw.recv(65_536):
                        answer += data
                assert sink.handled == 0
                assert "CA0001" not in sink.book
                assert result(send(url, callback(status="busy", seq=3))) == (204, "accepted")
            assert _final_status(answer) in (b"", b"400"), answer
            assert tracebacks == [], logging.Formatter().format(tracebacks[0])

    @pytest.mark.parametrize(
        "chunks",
        [
            b"10\r\n" + _BROKEN_BODY[:16] + b"\r\n",
            b"%x\r\n" % len(_BROKEN_BODY) + _BROKEN_BODY[:16],
            b"%x\r\n" % len(_BROKEN_BODY) + _BROKEN_BODY + b"\r\n",
            b"zz\r\n" + _BROKEN_BODY + b"\r\n0\r\n\r\n",
        ],
        ids=["gone-after-a-chunk", "gone-mid-chunk", "gone-before-the-last-chunk", "bad-size"],
    )
    def test_a_broken_chunked_body_is_never_stored(
        self, sink: SwitchableSink, chunks: bytes
    ) -> None:
        # A chunked body (no Content-Length) that never ends: the client goes
        # away without the last chunk (even after a whole, well-formed
        # callback), or a chunk's size is not a number. Nothing is stored;
        # the answer, if any, is a 400 (the server may just close), never a
        # 500, and no exception gets out of our code into the server's log.
        # The client stops sending after its chunks: with a bad size, aiohttp
        # (its C parser) leaves the body's reader waiting until it does.
        with self.serve(self.handler(sink, verifier=Unverified())) as url:
            parts = urllib.parse.urlsplit(url)
            head = (
                f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
            ).encode()
            with _tracebacks_through_callstate() as tracebacks:
                with socket.create_connection((parts.hostname, parts.port), timeout=30) as raw:
                    # The body follows the server's go-ahead, as a careful
                    # client sends it: it breaks while the adapter is reading.
                    raw.sendall(head)
                    interim = b""
                    while b"\r\n\r\n" not in interim and (data := raw.recv(1)):
                        interim += data
                    assert interim.startswith(b"HTTP/1.1 100 "), interim
                    raw.sendall(chunks)
                    raw.shutdown(socket.SHUT_WR)
                    answer = b""
                    while data := raw.recv(65_536):
                        answer += data
                # The next request is served once the broken one is done with.
                assert result(send(url, callback(status="ringing", seq=1))) == (204, "accepted")
            assert sink.handled == 1
            assert sink.book.state("CA0001").status is CallStatus.RINGING
            assert _final_status(answer) in (b"", b"400"), answer
            assert tracebacks == [], logging.Formatter().format(tracebacks[0])

    def test_method_not_allowed(self, url: str, sink: SwitchableSink) -> None:
        answer = send(url, callback(), method="PUT")
        assert answer.status == 405
        assert sink.handled == 0

    def test_behind_a_trusted_proxy(self, sink: SwitchableSink) -> None:
        proxy = TrustedProxy(trust={"x-forwarded-proto", "x-forwarded-host"})
        with self.serve(self.handler(sink, proxy=proxy)) as url:
            path = urllib.parse.urlsplit(url).path
            public = f"https://calls.example.com{path}?t=1"
            forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "calls.example.com"}
            answer = send(f"{url}?t=1", callback(), headers=forwarded, signed_url=public)
            assert answer.status == 204, answer.text
            # The same headers are not trusted by a handler that was not told to.
        with self.serve(self.handler(sink)) as url:
            answer = send(f"{url}?t=1", callback(), headers=forwarded, signed_url=public)
            assert answer.status == 403

    def test_forwarded_headers_are_read_only_from_the_named_proxies(
        self, sink: SwitchableSink
    ) -> None:
        # The contract's client is on the loopback: a proxy there is trusted;
        # named elsewhere, the same headers are ignored (as if not sent).
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "calls.example.com"}
        trust = {"x-forwarded-proto", "x-forwarded-host"}
        for proxies, status in ((["127.0.0.1", "::1"], 204), (["10.0.0.0/8", "192.0.2.7"], 403)):
            proxy = TrustedProxy(trust=trust, proxies=proxies)
            with self.serve(self.handler(sink, proxy=proxy)) as url:
                public = f"https://calls.example.com{urllib.parse.urlsplit(url).path}"
                answer = send(url, callback(), headers=forwarded, signed_url=public)
                assert answer.status == status, (proxies, answer.text)
                # From a proxy not named, the URL is the one the server saw.
                if status == 403:
                    assert send(url, callback(), headers=forwarded).status == 204

    def test_a_host_header_that_is_no_host_is_refused(self, url: str, sink: SwitchableSink) -> None:
        # Signed for another app on another host and path (the same account's
        # token), replayed here with a Host that moves the path: refused, whatever
        # the path the server saw.
        path = urllib.parse.urlsplit(url).path
        other = f"http://other-app.example/tenant7{path}"
        for host in ("other-app.example/tenant7", "other-app.example?x=", "a@other-app.example"):
            answer = send(url, callback(), headers={"Host": host}, signed_url=other)
            assert answer.status == 400, (host, answer.status, answer.text)
        assert sink.handled == 0
        # A Host that is a host (with a port) is fine.
        host = urllib.parse.urlsplit(url).netloc
        assert result(send(url, callback(), headers={"Host": host})) == (204, "accepted")

    def test_signatures_are_checked_against_the_public_url(self, sink: SwitchableSink) -> None:
        for public in ("https://calls.example.com", "https://calls.example.com:8443/hooks/status"):
            with self.serve(self.handler(sink, public_url=public)) as url:
                path = urllib.parse.urlsplit(url).path
                signed = f"{public}{path}?t=1" if public.count("/") == 2 else f"{public}?t=1"
                answer = send(f"{url}?t=1", callback(seq=1), signed_url=signed)
                assert answer.status == 204, (public, answer.text)
                # Signed for the URL the server sees, or for another host the
                # request names in its Host: not the public URL, refused.
                assert send(f"{url}?t=1", callback(seq=2)).status == 403
                other = {"Host": "other-app.example"}
                replay = f"http://other-app.example{path}?t=1"
                assert (
                    send(f"{url}?t=1", callback(seq=2), headers=other, signed_url=replay).status
                    == 403
                )
                # A GET's query string is signed with the public URL too.
                get = f"{signed}&{urllib.parse.urlencode(callback(seq=3))}"
                answer = send(f"{url}?t=1", callback(seq=3), method="GET", signed_url=get)
                assert answer.status == 204, (public, answer.text)
        assert sink.handled == 4
