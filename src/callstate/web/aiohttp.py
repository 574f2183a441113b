"""Status callbacks in an aiohttp.web application.

::

    from callstate.web import AsyncWebhookHandler, TwilioSignature
    from callstate.web.aiohttp import add_webhook

    handler = AsyncWebhookHandler(book, verifier=TwilioSignature(secrets=[token]))
    add_webhook(app, "/calls/status", handler)
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from aiohttp.http import HttpProcessingError

from callstate.web._clock import Clock, utc_now
from callstate.web._handler import BODY_UNREADABLE, AsyncWebhookHandler, WebhookHandler
from callstate.web._request import NormalizedHeaders, WebhookResponse
from callstate.web._scope import stream_body

__all__ = ["add_webhook", "webhook_view"]


def webhook_view(
    handler: AsyncWebhookHandler | WebhookHandler, *, clock: Clock = utc_now
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp request handler that hands the request to ``handler``."""
    limit = handler.limits.max_body_bytes
    respond = handler.respond

    async def view(request: web.Request) -> web.Response:
        received_at = clock()
        method = request.method
        body = b""
        if method != "GET":
            try:
                body = await stream_body(request.content.iter_any(), limit)
            except (OSError, HttpProcessingError):  # the client went away, or bad framing
                return _response(BODY_UNREADABLE)
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        headers = NormalizedHeaders()
        for name, value in request.headers.items():
            key = _lower(name) if len(name) <= _NAME_LENGTH else name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        # An AsyncWebhookHandler answers at once unless its sink or a hook awaits.
        answer = respond(method, url, headers, body, received_at, peer=request.remote)
        if not isinstance(answer, WebhookResponse):
            answer = await answer
        return _response(answer)

    return view


def _response(answer: WebhookResponse) -> web.Response:
    """The handler's answer as aiohttp's."""
    # A 204's empty body is no body at all (aiohttp writes the same answer).
    return web.Response(body=answer.body or None, status=answer.status, headers=answer.headers)


# Header names repeat from one request to the next: each short one's lower-cased
# text is remembered (a bounded number of them), not made again every time.
_NAME_LENGTH: Final = 64  # longer names are not kept
_lower: Final[Callable[[str], str]] = functools.lru_cache(maxsize=256)(str.lower)


def add_webhook(
    app: web.Application,
    path: str,
    handler: AsyncWebhookHandler | WebhookHandler,
    *,
    clock: Clock = utc_now,
) -> None:
    """Route GET and POST on ``path`` of ``app`` to ``handler``."""
    view = webhook_view(handler, clock=clock)
    app.router.add_route("GET", path, view)
    app.router.add_route("POST", path, view)
