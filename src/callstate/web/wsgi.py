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
from callstate.web._environ import respond_to
from callstate.web._handler import WebhookHandler

__all__ = ["webhook_app"]

_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def webhook_app(handler: WebhookHandler, *, clock: Clock = utc_now) -> WSGIApplication:
    """A WSGI application that hands every request to ``handler``."""

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        received_at = clock()
        method = environ.get("REQUEST_METHOD", "GET")
        answer = respond_to(handler, environ, method, received_at)
        status = (
            _STATUS_LINES.get(answer.status)
            or f"{answer.status} {HTTPStatus(answer.status).phrase}"
        )
        start_response(status, list(answer.framed_headers()))
        return [answer.body]

    return application
