"""The web contract, bound to every adapter, each under a real server on a real socket."""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import django
import flask
from aiohttp import http_parser as aiohttp_http_parser
from aiohttp import web as aiohttp_web
from aiohttp import web_protocol as aiohttp_web_protocol
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette

from callstate import CallBook, Limits
from callstate.testing.servers import serve_aiohttp, serve_asgi, serve_wsgi
from callstate.testing.web_contract import WebhookContract
from callstate.web import AsyncWebhookHandler, Unverified, WebhookHandler, WebhookResponse
from callstate.web import aiohttp as callstate_aiohttp
from callstate.web import asgi as callstate_asgi
from callstate.web import django as callstate_django
from callstate.web import flask as callstate_flask
from callstate.web import starlette as callstate_starlette
from callstate.web import wsgi as callstate_wsgi
from callstate.web._environ import _UNPREFIXED, headers_of
from callstate.web._scope import body_of as scope_body_of
from callstate.web._scope import headers_of as scope_headers_of
from callstate.web.asgi import webhook_app


def _sync(handler: WebhookHandler | AsyncWebhookHandler) -> WebhookHandler:
    assert isinstance(handler, WebhookHandler)
    return handler


class TestWSGI(WebhookContract):
    @contextmanager
    def serve(self, handler: WebhookHandler | AsyncWebhookHandler) -> Iterator[str]:
        with serve_wsgi(callstate_wsgi.webhook_app(_sync(handler))) as base:
            yield base + "/"


class TestFlask(WebhookContract):
    @contextmanager
    def serve(self, handler: WebhookHandler | AsyncWebhookHandler) -> Iterator[str]:
        app = flask.Flask("contract")
        callstate_flask.register(app, "/calls/status", _sync(handler))
        with serve_wsgi(app) as base:
            yield base + "/calls/status"


_URLS = types.ModuleType("callstate_contract_urls")
_URLS.urlpatterns = []  # type: ignore[attr-defined]


def _django_app(handler: WebhookHandler) -> object:
    from django.core.handlers.wsgi import WSGIHandler
    from django.urls import clear_url_caches, path

    if not settings.configured:
        sys.modules[_URLS.__name__] = _URLS
        settings.configure(
            DEBUG=False,
            SECRET_KEY="contract",
            ALLOWED_HOSTS=["127.0.0.1", "localhost"],
            ROOT_URLCONF=_URLS.__name__,
            MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
            INSTALLED_APPS=[],
            USE_TZ=True,
        )
        django.setup()
    _URLS.urlpatterns = [path("calls/status", callstate_django.webhook_view(handler))]  # type: ignore[attr-defined]
    clear_url_caches()
    return WSGIHandler()


class TestDjango(WebhookContract):
    @contextmanager
    def serve(self, handler: WebhookHandler | AsyncWebhookHandler) -> Iterator[str]:
        with serve_wsgi(_django_app(_sync(handler))) as base:  # type: ignore[arg-type]
            yield base + "/calls/status"


class TestStarlette(WebhookContract):
    asynchronous = True

    @contextmanager
    def serve(self, handler: WebhookHandler | AsyncWebhookHandler) -> Iterator[str]:
        app = Starlette(routes=[callstate_starlette.webhook_route("/calls/status", handler)])
        with serve_asgi(app) as base:
            yield base + "/calls/status"


class TestASGI(WebhookContract):
    asynchronous = True

    @contextmanager
    def serve(self, handler: WebhookHandler | AsyncWebhookHandler) -> Iterator[str]:
        with serve_asgi(callstate_asgi.webhook_app(handler)) as base:
            yield base + "/hook"


class TestAiohttp(WebhookContract):
    asynchronous = True

    @contextmanager
    def serve(self, handler: WebhookHandler | AsyncWebhookHandler) -> Iterator[str]:
        app = aiohttp_web.Application()
        callstate_aiohttp.add_webhook(app, "/calls/status", handler)
        with serve_aiohttp(app) as base:
            yield base + "/calls/status"


class TestAiohttpPythonParser(TestAiohttp):
    """aiohttp with its pure-Python HTTP parser (as on PyPy, or ``AIOHTTP_NO_EXTENSIONS``).

    It hands the body's reader the errors its C parser keeps to itself (a
    malformed chunk size), so the adapter meets them.
    """

    @contextmanager
    def serve(self, handler: WebhookHandler | AsyncWebhookHandler) -> Iterator[str]:
        parser = aiohttp_http_parser.HttpRequestParserPy
        patched = mock.patch.object(aiohttp_web_protocol, "HttpRequestParser", parser)
        with patched, super().serve(handler) as url:
            yield url


# Reading a request's parts equals the reference reading (from test_web_fast_paths.py).


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
