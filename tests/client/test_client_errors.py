"""Reading an error answer never hangs and never crashes: a hostile body gives the typed error.

The work is bounded by what is read, not by a clock: every scanner the client
uses on an error body (its regular expressions, ``json.loads``,
``html.unescape``) is handed at most ``MAX_SCANNED_BYTES`` characters, and
the linear tag search finds what the plain regular expression finds.

``_loads`` (the client's fast JSON reader) must return what ``json.loads``
returns for any body, and raise what it raises (the same type and message),
since an answer that is not JSON is reported with that message.
"""

from __future__ import annotations

import asyncio
import codecs
import html
import json
import re
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from callstate import ApiTimeout
from callstate.client import (
    ApiResponseError,
    AsyncCalls,
    BadResponse,
    CallParams,
    CallsApi,
    Response,
    Retry,
    _answers,
)
from callstate.client._answers import MAX_SCANNED_BYTES, _element, _loads, error_for
from callstate.client._http import MAX_RESPONSE_BYTES
from callstate.testing.fake_provider import FakeProvider, Fault

LAWS = settings(max_examples=200, deadline=None)

# Pieces that broke the reader before: deep nesting, openings that never close.
HOSTILE = (
    b"[", b"{", b'{"message":', b'{"message":[', b'{"code":', b"<Message>", b"<Message",
    b"<", b"<title", b"<title>", b"</", b"<Code>", b"<Detail>x", b"&amp;", b"\xff", b" ",
    b"1", b'"', b"\x00",
)  # fmt: skip


@st.composite
def hostile_bodies(draw: st.DrawFn) -> bytes:
    """Arbitrary bytes, and runs of hostile pieces up to several times the scanned head."""
    parts = draw(
        st.lists(
            st.one_of(
                st.binary(max_size=40),
                st.builds(
                    lambda piece, n: piece * n,
                    st.sampled_from(HOSTILE),
                    st.integers(0, 3 * MAX_SCANNED_BYTES),
                ),
            ),
            max_size=4,
        )
    )
    return b"".join(parts)


@given(st.integers(100, 599), hostile_bodies())
@example(400, b"[" * 100_000)  # json.loads: RecursionError, before
@example(500, b'{"message":' * 50_000)
@example(404, b'{"message": ' + b"[" * 5_000 + b"]" * 5_000 + b"}")
@LAWS
def test_error_for_any_body_is_the_typed_error(status, body):
    error = error_for(Response(status=status, body=body), MAX_RESPONSE_BYTES)
    assert isinstance(error, ApiResponseError)
    assert error.status == status
    assert isinstance(error.message, str)
    assert len(error.message) <= 500
    assert error.code is None or (isinstance(error.code, str) and len(error.code) <= 500)
    assert error.more_info is None or len(error.more_info) <= 500


class _Bounded:
    """A compiled pattern that refuses to be handed more text than the bound."""

    def __init__(self, pattern: re.Pattern[str], seen: list[int]) -> None:
        self._pattern = pattern
        self._seen = seen

    def _check(self, text: str) -> None:
        self._seen.append(len(text))
        assert len(text) <= MAX_SCANNED_BYTES, f"{self._pattern.pattern!r} scanned {len(text)}"

    def search(self, text: str, *args: Any) -> Any:
        self._check(text)
        return self._pattern.search(text, *args)

    def match(self, text: str, *args: Any) -> Any:
        self._check(text)
        return self._pattern.match(text, *args)

    def sub(self, repl: Any, text: str, *args: Any) -> str:
        self._check(text)
        return self._pattern.sub(repl, text, *args)

    def findall(self, text: str, *args: Any) -> Any:
        self._check(text)
        return self._pattern.findall(text, *args)


EIGHT_MIB = 8 * 1024 * 1024
HOSTILE_BIG = [
    pytest.param(b"<Message>" * (EIGHT_MIB // 9), id="message-openings"),
    pytest.param(b"<Code>1</Code>" + b"<Message>" * (EIGHT_MIB // 9 - 2), id="code-then-openings"),
    pytest.param(b"<" * EIGHT_MIB, id="tag-openings"),
    pytest.param(b"<html><title" * (EIGHT_MIB // 12), id="title-openings"),
    pytest.param(b"[" * EIGHT_MIB, id="nested-arrays"),
    pytest.param(b'{"message":' * (EIGHT_MIB // 11), id="nested-objects"),
]


@pytest.mark.parametrize("body", HOSTILE_BIG)
def test_an_8_mib_hostile_body_is_read_only_as_far_as_its_head(monkeypatch, body):
    assert len(body) <= EIGHT_MIB  # within the default limit: it is read, not refused as too big
    seen: list[int] = []
    for name, value in vars(_answers).items():
        if isinstance(value, re.Pattern):
            monkeypatch.setattr(_answers, name, _Bounded(value, seen))

    def loads(text: str | bytes) -> Any:
        seen.append(len(text))
        assert len(text) <= MAX_SCANNED_BYTES, f"json.loads read {len(text)}"
        return json.loads(text)

    def unescape(text: str) -> str:
        seen.append(len(text))
        assert len(text) <= MAX_SCANNED_BYTES, f"html.unescape read {len(text)}"
        return html.unescape(text)

    monkeypatch.setattr(_answers, "json", SimpleNamespace(loads=loads))
    monkeypatch.setattr(_answers, "html", SimpleNamespace(unescape=unescape))
    error = error_for(Response(status=400, body=body), MAX_RESPONSE_BYTES)
    assert isinstance(error, ApiResponseError)
    assert not isinstance(error, BadResponse)  # a 400 with a body it could not make sense of
    assert seen, "the body was scanned"
    assert sum(seen) <= 8 * MAX_SCANNED_BYTES  # a few linear passes over the head, at most


def test_a_message_past_the_scanned_head_is_not_looked_for():
    body = b"<Response>" + b" " * MAX_SCANNED_BYTES + b"<Message>late</Message></Response>"
    assert "late" not in error_for(Response(status=400, body=body), MAX_RESPONSE_BYTES).message


# The linear tag search equals the plain regular expression it replaced.

_PLAIN = re.compile(r"<(Message|message|Detail|detail)>(.*?)</\1>", re.DOTALL)
_PLAIN_TITLE = re.compile(r"<(title|TITLE|Title)(?:[ \t\n/][^>]*)?>(.*?)</\1>", re.DOTALL)
_ALPHABET = st.sampled_from(
    ["<", ">", "/", " ", "x", "<Message>", "</Message>", "<message>", "</message>", "<Detail>",
     "</Detail>", "<detail>", "</detail>", "<Messages>", "<Messag", "<title>", "</title>",
     "<title lang='en'>", "<TITLE>", "</TITLE>", "<titles>", "<title/", "</titl"]
)  # fmt: skip


@given(st.lists(_ALPHABET, max_size=14).map("".join))
@settings(max_examples=500, deadline=None)
def test_the_linear_tag_search_finds_what_the_regex_finds(text):
    found = _PLAIN.search(text)
    assert _element(text, ("Message", "message", "Detail", "detail")) == (
        found.group(2) if found else None
    )
    title = _PLAIN_TITLE.search(text)
    assert _element(text, ("title", "TITLE", "Title"), attributes=True) == (
        title.group(2) if title else None
    )


# The fast JSON reader is json.loads; an aiohttp session of yours is bounded too.

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
SPACE = st.text(alphabet=" \t\n\r\x0b\x0c\u00a0", max_size=3)
ENCODINGS = st.sampled_from(
    ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "latin-1"]
)


def outcome(loads: object, body: object) -> tuple[object, ...]:
    try:
        value = loads(body)  # type: ignore[operator]
    except (ValueError, RecursionError, TypeError) as exc:
        return ("error", type(exc), str(exc))
    return ("value", repr(value))  # repr: NaN equals itself


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    text = json.dumps(draw(JSON_VALUES), ensure_ascii=draw(st.booleans()))
    text = draw(SPACE) + text + draw(SPACE)
    if draw(st.booleans()):  # something after the value, or a cut
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=3)) + text[at:]
    encoding = draw(ENCODINGS)
    try:
        return text.encode(encoding, "surrogatepass")  # lone surrogates kept where possible
    except UnicodeEncodeError:
        return text.encode(encoding, "replace")


@given(bodies() | st.binary(max_size=12) | st.binary(max_size=4).map(lambda b: b"{" + b))
def test_loads_is_json_loads(body):
    assert outcome(_loads, body) == outcome(json.loads, body)


def test_loads_is_json_loads_at_the_edges():
    for body in (
        b"",
        b"{",
        b"[",
        b"{}",
        b"[]",
        b"{} ",
        b"{}\n\r\t",
        b"{}\x0c",
        b"{}x",
        b"[1] [2]",
        b"{\x00}",
        b"{\x00\x00\x00",
        b"[\x00",
        b'{"a": "\xed\xa0\x80"}',  # a lone surrogate: surrogatepass lets it through
        b'{"a": "\xff"}',
        codecs.BOM_UTF8 + b"{}",
        "{}".encode("utf-16"),
        b"[" * 100_000,
        b'{"a": NaN, "b": -Infinity}',
        bytearray(b'{"a": 1}'),
        memoryview(b'{"a": 1}'),
        '{"a": 1}',
    ):
        assert outcome(_loads, body) == outcome(json.loads, body), body[:20]


def test_aiohttp_bounds_a_fetch_through_a_session_of_yours_by_its_own_timeout():
    # An owned session is made with the transport's timeout, so its GETs need
    # none of their own; a session of yours has its own default, so ours is
    # sent with each request.
    from callstate.client.aiohttp import AiohttpTransport

    async def fetch_slowly(provider: FakeProvider) -> None:
        api = CallsApi(
            account_sid=provider.account_sid, token=provider.token, profile=provider.profile()
        )
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            calls = AsyncCalls(
                api, AiohttpTransport(timeout=0.2, session=session), retry=Retry(attempts=1)
            )
            (placed,) = await calls.create(
                CallParams(to="+1555", from_="+1556", url="https://a.example/")
            )
            provider.inject(Fault(status=200, body=b"{}", delay=1.0))
            with pytest.raises(ApiTimeout):
                await calls.fetch(placed.sid)
            await calls.aclose()
            assert not session.closed  # yours: left open

    with FakeProvider(pace=None) as provider:
        asyncio.run(fetch_slowly(provider))
