"""The web contract, bound to every adapter, each under a real server on a real socket."""

from __future__ import annotations

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
from starlette.applications import Starlette

from callstate.testing.servers import serve_aiohttp, serve_asgi, serve_wsgi
from callstate.testing.web_contract import WebhookContract
from callstate.web import AsyncWebhookHandler, WebhookHandler
from callstate.web import aiohttp as callstate_aiohttp
from callstate.web import asgi as callstate_asgi
from callstate.web import django as callstate_django
from callstate.web import flask as callstate_flask
from callstate.web import starlette as callstate_starlette
from callstate.web import wsgi as callstate_wsgi


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
