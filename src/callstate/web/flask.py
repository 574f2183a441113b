"""Status callbacks in a Flask application.

::

    from callstate.web import TwilioSignature, WebhookHandler
    from callstate.web.flask import register

    register(app, "/calls/status", WebhookHandler(book, verifier=TwilioSignature(secrets=[token])))
"""

from __future__ import annotations

from collections.abc import Callable

import flask
from flask.sansio.scaffold import Scaffold

from callstate.web._clock import Clock, utc_now
from callstate.web._environ import respond_to
from callstate.web._handler import WebhookHandler

__all__ = ["register", "webhook_view"]


def webhook_view(
    handler: WebhookHandler, *, clock: Clock = utc_now
) -> Callable[[], flask.Response]:
    """A Flask view function that hands the request to ``handler``."""

    def view() -> flask.Response:
        received_at = clock()
        # The request itself, not the context-local proxy every attribute goes through.
        request = flask.request._get_current_object()  # type: ignore[attr-defined]
        method = request.method
        stream = None if method == "GET" else request.stream
        answer = respond_to(handler, request.environ, method, received_at, stream)
        return flask.Response(answer.body, status=answer.status, headers=list(answer.headers))

    return view


def register(
    app: Scaffold,
    rule: str,
    handler: WebhookHandler,
    *,
    endpoint: str = "callstate_webhook",
    clock: Clock = utc_now,
) -> None:
    """Route GET and POST on ``rule`` of an app or blueprint to ``handler``."""
    app.add_url_rule(
        rule,
        endpoint=endpoint,
        view_func=webhook_view(handler, clock=clock),
        methods=["GET", "POST"],
    )
