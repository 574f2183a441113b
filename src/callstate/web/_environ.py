"""A WSGI environ's URL, headers and body, as the handler wants them (WSGI, Flask, Django)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Protocol
from urllib.parse import quote

from callstate.web._handler import BODY_CUT_SHORT, BODY_UNREADABLE, LENGTH_REQUIRED, WebhookHandler
from callstate.web._request import NormalizedHeaders, WebhookResponse
from callstate.web._url import DEFAULT_PORTS

__all__ = ["body_of", "headers_of", "respond_to", "url_of"]

_PATH_SAFE: Final = "/:@!$&'()*+,;=-._~"
_UNPREFIXED: Final = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


def url_of(environ: Mapping[str, Any], scheme: str | None = None) -> str:
    """The URL as requested: the raw request target when the server kept it."""
    scheme = scheme or environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "localhost")
        port = environ.get("SERVER_PORT", "")
        if port and port != DEFAULT_PORTS.get(scheme):
            host = f"{host}:{port}"
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if target and target.startswith("/"):
        return f"{scheme}://{host}{target}"
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    path = quote(path.encode("latin-1"), safe=_PATH_SAFE)
    query = environ.get("QUERY_STRING", "")
    return f"{scheme}://{host}{path}?{query}" if query else f"{scheme}://{host}{path}"


def headers_of(environ: Mapping[str, Any]) -> NormalizedHeaders:
    """The request headers, normalized (names lower-cased, ``_`` read as ``-``)."""
    keys = tuple(environ)
    # Unusually many or long names: not kept.
    plan = _known_plan(keys) if sum(map(len, keys)) <= _PLAN_KEYS_LENGTH else _plan(keys)
    headers = NormalizedHeaders()
    for key, name in plan:
        value = environ[key]
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _plan(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The (environ key, header name) of each header among ``keys``, in the order read."""
    plan = [(key, key[5:].replace("_", "-").lower()) for key in keys if key[:5] == "HTTP_"]
    present = set(keys)
    plan.extend((key, name) for key, name in _UNPREFIXED.items() if key in present)
    return tuple(plan)


# A server builds every environ with the same keys in the same order (the
# headers' values change, rarely which headers there are): which keys are
# headers, and their names, is worked out once per sequence of keys instead
# of testing every key of every environ.
_PLAN_KEYS_LENGTH: Final = 4_096
_known_plan: Final = functools.lru_cache(maxsize=64)(_plan)


class Readable(Protocol):
    """A request body stream: a WSGI input, a Flask stream, a Django request."""

    def read(self, size: int, /) -> bytes: ...


def body_of(
    stream: Readable, content_length: str | None, limit: int, *, terminated: bool = False
) -> bytes | WebhookResponse:
    """At most ``limit + 1`` bytes of the body: enough to tell it is too large.

    Without a Content-Length, the body is read only from a stream the server
    marks as ending with the body (``wsgi.input_terminated``: a chunked
    request); otherwise it cannot be read: the answer is ``LENGTH_REQUIRED``.
    A body that ends before its Content-Length (the connection broke) is
    answered ``BODY_CUT_SHORT``, never handed on; so is one whose stream
    raises ``OSError`` (the server's own reader of a chunked body, when the
    client went away or the chunks are malformed): ``BODY_UNREADABLE``.
    """
    try:
        length = int(content_length) if content_length else -1
    except ValueError:
        length = -1
    try:
        if length < 0:
            return _read(stream, limit + 1) if terminated else LENGTH_REQUIRED
        if not length:
            return b""
        wanted = min(length, limit + 1)
        body = _read(stream, wanted)
    except OSError:
        return BODY_UNREADABLE
    return body if len(body) == wanted else BODY_CUT_SHORT


def _read(stream: Readable, size: int) -> bytes:
    """``size`` bytes, or fewer only at the end of the stream (a read may return less)."""
    body = stream.read(size)
    if len(body) >= size or not body:
        return body
    chunks = [body]
    missing = size - len(body)
    while missing > 0:
        chunk = stream.read(missing)
        if not chunk:
            break
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def respond_to(
    handler: WebhookHandler,
    environ: Mapping[str, Any],
    method: str,
    received_at: datetime,
    stream: Readable | None = None,
) -> WebhookResponse:
    """``handler``'s answer to the WSGI request ``environ``, its body read from ``stream``.

    The WSGI application and the Flask view are this; each reads the method
    its own way, and Flask gives its own stream (which guards the length;
    None: ``wsgi.input``).
    """
    body = b""
    if method != "GET":
        read = body_of(
            environ["wsgi.input"] if stream is None else stream,
            environ.get("CONTENT_LENGTH"),
            handler.limits.max_body_bytes,
            terminated=bool(environ.get("wsgi.input_terminated")),
        )
        if isinstance(read, WebhookResponse):
            return read  # refused as read: no Content-Length, or cut short
        body = read
    return handler.respond(
        method, url_of(environ), headers_of(environ), body, received_at, environ.get("REMOTE_ADDR")
    )
