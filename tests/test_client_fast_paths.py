"""The client's fast paths give what the plain calls give.

``_loads`` must return what ``json.loads`` returns for any body, and raise
what it raises (the same type and message), since an answer that is not
JSON is reported with that message.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import pickle
from collections.abc import Iterator

import aiohttp
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate import ApiTimeout
from callstate.client import AsyncCalls, CallParams, CallsApi, Retry
from callstate.client._answers import _loads
from callstate.client._http import Response, new_response, response_later
from callstate.testing.fake_provider import FakeProvider, Fault

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


HEADERS = st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=4).map(tuple)


@given(st.integers(100, 599), HEADERS, st.binary(max_size=10))
def test_an_answer_whose_headers_are_made_later_is_the_answer_made_at_once(status, headers, body):
    calls: list[int] = []

    def headers_from() -> Iterator[tuple[str, str]]:
        calls.append(1)
        return iter(headers)

    later = response_later(status, headers_from, body)
    at_once = Response(status=status, headers=headers, body=body)
    assert type(later) is Response
    assert calls == []  # nothing made until read
    assert later.status == status and later.body == body
    assert later.headers == headers and type(later.headers) is tuple
    assert later.headers is later.headers  # made once, then kept
    assert calls == [1]
    for read in (repr, hash, attrs.asdict, lambda r: pickle.loads(pickle.dumps(r))):
        fresh = response_later(status, lambda: iter(headers), body)
        assert read(fresh) == read(at_once)
    assert response_later(status, lambda: iter(headers), body) == at_once
    assert at_once == response_later(status, lambda: iter(headers), body)
    assert attrs.evolve(response_later(status, lambda: iter(headers), body), status=599) == (
        attrs.evolve(at_once, status=599)
    )
    for name, _ in headers:
        fresh = response_later(status, lambda: iter(headers), body)
        assert fresh.header(name) == at_once.header(name)
    with pytest.raises(AttributeError, match="'Response' object has no attribute 'nope'"):
        later.nope  # type: ignore[attr-defined]  # noqa: B018
    assert new_response(status, headers, body) == at_once
