"""An ASGI scope's URL and headers, and an async request's body, as the handler wants them.

For the ASGI app and Starlette (the scope), and aiohttp too (``stream_body``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any, Final
from urllib.parse import quote

from callstate.web._request import NormalizedHeaders
from callstate.web._url import DEFAULT_PORTS

__all__ = [
    "Receive",
    "Scope",
    "Send",
    "body_of",
    "headers_of",
    "more_body",
    "peer_of",
    "stream_body",
    "url_of",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_PATH_SAFE: Final = "/:@!$&'()*+,;=-._~"


def headers_of(scope: Mapping[str, Any]) -> tuple[NormalizedHeaders, str | None]:
    """The request headers, normalized (names lower-cased, repeats joined), and the first Host."""
    raw: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())
    headers = NormalizedHeaders()
    host = None
    for name, value in raw:
        key = _known_name(name) if len(name) <= _NAME_LENGTH else _name(name)
        text = value.decode("latin-1")
        if key in headers:
            headers[key] = f"{headers[key]}, {text}"
        else:
            headers[key] = text
            if key == "host":
                host = text
    return headers, host


def _name(raw: bytes) -> str:
    """The header name ``raw`` as text, lower-cased."""
    return raw.decode("latin-1").lower()


# Header names repeat from one request to the next: each short raw name's text
# is remembered (a bounded number of them), not decoded and lower-cased every time.
_NAME_LENGTH: Final = 64  # longer names are not kept
_known_name: Final = functools.lru_cache(maxsize=256)(_name)


def peer_of(scope: Mapping[str, Any]) -> str | None:
    """The address the connection came from (the scope's ``client``), if the server says."""
    client = scope.get("client")
    return str(client[0]) if client else None


def url_of(scope: Mapping[str, Any], host: str | None) -> str:
    """The URL as requested: ``raw_path`` when the server kept it."""
    scheme = scope.get("scheme", "http")
    if not host:
        server = scope.get("server")
        if server:
            name, port = server[0], str(server[1]) if server[1] is not None else ""
            host = name if not port or port == DEFAULT_PORTS.get(scheme) else f"{name}:{port}"
        else:
            host = "localhost"
    raw_path = scope.get("raw_path")
    if raw_path:
        path = raw_path.decode("latin-1")
    else:
        path = quote((scope.get("root_path", "") + scope["path"]).encode(), safe=_PATH_SAFE)
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{scheme}://{host}{path}?{query}" if query else f"{scheme}://{host}{path}"


async def body_of(receive: Receive, limit: int) -> bytes | None:
    """At most a little past ``limit`` bytes of the body: enough to tell it is too large.

    None when the client went away before the body ended (``http.disconnect``):
    what came is not what was sent, and there is nobody to answer.
    """
    message = await receive()
    if message["type"] != "http.request":
        return None
    chunk = message.get("body", b"")
    if not message.get("more_body", False):
        # The whole body in one message, as servers send a small one.
        return chunk if type(chunk) is bytes else bytes(chunk)
    return await more_body(chunk, receive, limit)


async def more_body(first: bytes, receive: Receive, limit: int) -> bytes | None:
    """The body that ``first`` begins (more to come), up to a little past ``limit`` bytes.

    None when the client went away before the body ended.
    """
    chunks = [first]
    size = len(first)
    while size <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def stream_body(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """The body a framework's stream of chunks carries, up to its first chunk past ``limit``.

    Enough to tell it is too large (the handler answers that). The stream's
    own error when the client went away is the adapter's to catch.
    """
    parts = []
    size = 0
    async for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(parts)
