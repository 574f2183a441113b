"""Status callbacks in a Django project.

::

    # urls.py
    from callstate.web import TwilioSignature, WebhookHandler
    from callstate.web.django import webhook_view

    handler = WebhookHandler(book, verifier=TwilioSignature(secrets=[token]))
    urlpatterns = [path("calls/status", webhook_view(handler))]

The view is exempt from CSRF checks (a provider cannot hold a CSRF token:
the verifier is the check).
"""

from __future__ import annotations

from collections.abc import Callable

import django.http
from django.views.decorators.csrf import csrf_exempt

from callstate.web._clock import Clock, utc_now
from callstate.web._environ import body_of, headers_of, url_of
from callstate.web._handler import LENGTH_REQUIRED, WebhookHandler
from callstate.web._request import WebhookResponse

__all__ = ["webhook_view"]


def webhook_view(
    handler: WebhookHandler, *, clock: Clock = utc_now
) -> Callable[[django.http.HttpRequest], django.http.HttpResponse]:
    """A Django view function that hands the request to ``handler``."""
    limit = handler.limits.max_body_bytes

    def view(request: django.http.HttpRequest) -> django.http.HttpResponse:
        received_at = clock()
        method = request.method or "GET"
        meta = request.META
        body: bytes | WebhookResponse = b""
        if method != "GET":
            if meta.get("CONTENT_LENGTH"):
                # Through Django's own stream, which knows the length.
                body = body_of(request, meta["CONTENT_LENGTH"], limit)
            else:
                # A chunked body: only the server's stream has it, if it says so.
                stream = meta.get("wsgi.input")
                terminated = bool(meta.get("wsgi.input_terminated"))
                body = (
                    body_of(stream, None, limit, terminated=True)
                    if stream and terminated
                    else LENGTH_REQUIRED
                )
        if isinstance(body, WebhookResponse):
            return _response(body)  # refused as read: no Content-Length, or cut short
        url = url_of(meta, scheme=request.scheme)
        peer = meta.get("REMOTE_ADDR")
        return _response(
            handler.respond(method, url, headers_of(meta), body, received_at, peer=peer)
        )

    return csrf_exempt(view)


def _response(answer: WebhookResponse) -> django.http.HttpResponse:
    response = django.http.HttpResponse(answer.body, status=answer.status)
    for name, value in answer.framed_headers():
        response[name] = value
    return response
