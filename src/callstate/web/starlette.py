"""Status callbacks in a Starlette application (FastAPI too: it is Starlette).

::

    from callstate.web import AsyncWebhookHandler, TwilioSignature
    from callstate.web.starlette import webhook_route

    handler = AsyncWebhookHandler(book, verifier=TwilioSignature(secrets=[token]))
    app = Starlette(routes=[webhook_route("/calls/status", handler)])
    # FastAPI: app.router.routes.append(webhook_route("/calls/status", handler))
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from callstate.web._clock import Clock, utc_now
from callstate.web._handler import BODY_UNREADABLE, AsyncWebhookHandler, WebhookHandler
from callstate.web._request import WebhookResponse
from callstate.web._scope import headers_of, peer_of, stream_body, url_of

__all__ = ["webhook_endpoint", "webhook_route"]


def webhook_endpoint(
    handler: AsyncWebhookHandler | WebhookHandler, *, clock: Clock = utc_now
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint that hands the request to ``handler``."""
    limit = handler.limits.max_body_bytes
    respond = handler.respond

    async def endpoint(request: Request) -> Response:
        received_at = clock()
        method = request.method
        body = b""
        if method != "GET":
            try:
                body = await stream_body(request.stream(), limit)
            except ClientDisconnect:
                return _response(BODY_UNREADABLE)  # the client went away: nobody reads it
        scope = request.scope
        headers, host = headers_of(scope)
        # An AsyncWebhookHandler answers at once unless its sink or a hook awaits.
        answer = respond(
            method, url_of(scope, host), headers, body, received_at, peer=peer_of(scope)
        )
        if not isinstance(answer, WebhookResponse):
            answer = await answer
        return _response(answer)

    return endpoint


def _response(answer: WebhookResponse) -> Response:
    """The handler's answer as Starlette's."""
    return Response(answer.body, status_code=answer.status, headers=dict(answer.headers))


def webhook_route(
    path: str,
    handler: AsyncWebhookHandler | WebhookHandler,
    *,
    name: str | None = None,
    clock: Clock = utc_now,
) -> Route:
    """A route for GET and POST on ``path`` to ``handler``."""
    return Route(path, webhook_endpoint(handler, clock=clock), methods=["GET", "POST"], name=name)
