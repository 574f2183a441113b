"""Status callbacks as a plain ASGI application (any ASGI server or framework).

::

    from callstate.web import AsyncWebhookHandler, TwilioSignature
    from callstate.web.asgi import webhook_app

    app = webhook_app(AsyncWebhookHandler(book, verifier=TwilioSignature(secrets=[token])))
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable

from callstate.web._clock import Clock, utc_now
from callstate.web._handler import AsyncWebhookHandler, WebhookHandler
from callstate.web._request import WebhookResponse
from callstate.web._scope import Receive, Scope, Send, body_of, headers_of, url_of

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
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        received_at = self.clock()
        method = scope["method"]
        headers = headers_of(scope)
        host = next((value for name, value in headers if name == "host"), None)
        body = b""
        if method != "GET":
            body = await body_of(receive, self.handler.limits.max_body_bytes)
        result: WebhookResponse | Awaitable[WebhookResponse] = self.handler(
            method, url_of(scope, host), headers, body, received_at
        )
        answer = await result if inspect.isawaitable(result) else result
        raw_headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers
        ]
        raw_headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": answer.body})


def webhook_app(
    handler: AsyncWebhookHandler | WebhookHandler, *, clock: Clock = utc_now
) -> WebhookApp:
    """An ASGI application that hands every HTTP request to ``handler``."""
    return WebhookApp(handler, clock=clock)
