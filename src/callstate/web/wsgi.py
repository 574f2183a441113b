"""Status callbacks as a plain WSGI application (any WSGI server or framework).

::

    from callstate.web import TwilioSignature, WebhookHandler
    from callstate.web.wsgi import webhook_app

    application = webhook_app(WebhookHandler(book, verifier=TwilioSignature(secrets=[token])))
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from callstate.web._clock import Clock, utc_now
from callstate.web._environ import body_of, headers_of, url_of
from callstate.web._handler import WebhookHandler
from callstate.web._request import WebhookResponse

__all__ = ["webhook_app"]

_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def webhook_app(handler: WebhookHandler, *, clock: Clock = utc_now) -> WSGIApplication:
    """A WSGI application that hands every request to ``handler``."""
    limit = handler.limits.max_body_bytes

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        received_at = clock()
        method = environ.get("REQUEST_METHOD", "GET")
        body: bytes | WebhookResponse = b""
        if method != "GET":
            body = body_of(
                environ["wsgi.input"],
                environ.get("CONTENT_LENGTH"),
                limit,
                terminated=bool(environ.get("wsgi.input_terminated")),
            )
        if isinstance(body, WebhookResponse):
            answer = body  # refused as read: no Content-Length, or cut short
        else:
            answer = handler._respond(
                method,
                url_of(environ),
                headers_of(environ),
                body,
                received_at,
                peer=environ.get("REMOTE_ADDR"),
            )
        status = (
            _STATUS_LINES.get(answer.status)
            or f"{answer.status} {HTTPStatus(answer.status).phrase}"
        )
        start_response(status, list(answer.framed_headers()))
        return [answer.body]

    return application
