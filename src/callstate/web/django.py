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
from callstate.web._environ import headers_of, url_of
from callstate.web._handler import WebhookHandler

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
        body = b""
        if method != "GET":
            try:
                length = int(meta.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            body = request.read(min(length, limit + 1)) if length > 0 else b""
        url = url_of(meta, scheme=request.scheme)
        answer = handler(method, url, headers_of(meta), body, received_at)
        response = django.http.HttpResponse(answer.body, status=answer.status)
        for name, value in answer.headers:
            response[name] = value
        response["Content-Length"] = str(len(answer.body))
        return response

    return csrf_exempt(view)
