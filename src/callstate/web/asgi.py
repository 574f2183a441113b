"""Status callbacks as a plain ASGI application (any ASGI server or framework).

::

    from callstate.web import AsyncWebhookHandler, TwilioSignature
    from callstate.web.asgi import webhook_app

    app = webhook_app(AsyncWebhookHandler(book, verifier=TwilioSignature(secrets=[token])))
"""

from __future__ import annotations

from typing import Final

from callstate.web._clock import Clock, utc_now
from callstate.web._handler import ACCEPTED, DUPLICATE, AsyncWebhookHandler, WebhookHandler
from callstate.web._request import WebhookResponse
from callstate.web._scope import Receive, Scope, Send, body_of, headers_of, peer_of, url_of

__all__ = ["WebhookApp", "webhook_app"]


class WebhookApp:
    """An ASGI application that hands every HTTP request to ``handler``."""

    __slots__ = ("clock", "handler")

    def __init__(
        self, handler: AsyncWebhookHandler | WebhookHandler, *, clock: Clock = utc_now
    ) -> None:
        self.handler = handler
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await _lifespan(receive, send)
            return
        received_at = self.clock()
        method = scope["method"]
        headers, host = headers_of(scope)
        body = b""
        if method != "GET":
            read = await body_of(receive, self.handler.limits.max_body_bytes)
            if read is None:
                return  # the client went away mid-body: what came is not what was sent
            body = read
        # An AsyncWebhookHandler answers at once unless its sink or a hook awaits.
        answer = self.handler.respond(
            method, url_of(scope, host), headers, body, received_at, peer=peer_of(scope)
        )
        if not isinstance(answer, WebhookResponse):
            answer = await answer
        prebuilt = _PREBUILT.get(id(answer))
        raw_headers = list(prebuilt) if prebuilt is not None else _raw_headers(answer)
        await send({"type": "http.response.start", "status": answer.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": answer.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _raw_headers(answer: WebhookResponse) -> list[tuple[bytes, bytes]]:
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in answer.framed_headers()
    ]


# The everyday answers' headers, encoded once (each send gets its own copy of
# the list: a middleware may add to it). The answers live as long as the module.
_PREBUILT: Final = {id(answer): tuple(_raw_headers(answer)) for answer in (ACCEPTED, DUPLICATE)}


def webhook_app(
    handler: AsyncWebhookHandler | WebhookHandler, *, clock: Clock = utc_now
) -> WebhookApp:
    """An ASGI application that hands every HTTP request to ``handler``."""
    return WebhookApp(handler, clock=clock)
