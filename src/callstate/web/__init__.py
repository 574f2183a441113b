"""Status callbacks over HTTP: verify, parse, record, answer; then your hooks.

The handler is sans-I/O: it takes a request's method, full URL, headers, raw
body and receive time, and returns the answer. A framework adapter (one
module each: ``callstate.web.flask``, ``.django``, ``.starlette``,
``.aiohttp``, ``.wsgi``, ``.asgi``) only translates a request into those
parts and the answer back.

::

    from callstate import CallBook
    from callstate.web import TwilioSignature, WebhookHandler

    handler = WebhookHandler(CallBook(), verifier=TwilioSignature(secrets=["auth-token"]))
    answer = handler("POST", url, headers, body, received_at)   # -> WebhookResponse
"""

from callstate._errors import CredentialsRequired
from callstate.web._clock import Clock, utc_now
from callstate.web._handler import RESULT_HEADER as _RESULT_HEADER
from callstate.web._handler import (
    AsyncSink,
    AsyncWebhookHandler,
    Sink,
    WebhookHandler,
)
from callstate.web._hooks import AnomalyHook, ChangeHook, Hooks, StateHook
from callstate.web._request import WebhookRequest, WebhookResponse
from callstate.web._url import TrustedProxy
from callstate.web._verify import (
    AllOf,
    AnyOf,
    BasicAuth,
    Secrets,
    TwilioSignature,
    Unverified,
    Verifier,
)
from callstate.web._verify_plivo import PlivoSignature
from callstate.web._verify_signalwire import SignalWireSignature
from callstate.web._verify_telnyx import TelnyxSignature
from callstate.web._verify_vonage import VonageSignature

RESULT_HEADER: str = _RESULT_HEADER
"""The header of a stored webhook's ``204`` answer: ``accepted`` or ``duplicate``."""

__all__ = [
    "RESULT_HEADER",
    "AllOf",
    "AnomalyHook",
    "AnyOf",
    "AsyncSink",
    "AsyncWebhookHandler",
    "BasicAuth",
    "ChangeHook",
    "Clock",
    "CredentialsRequired",
    "Hooks",
    "PlivoSignature",
    "Secrets",
    "SignalWireSignature",
    "Sink",
    "StateHook",
    "TelnyxSignature",
    "TrustedProxy",
    "TwilioSignature",
    "Unverified",
    "Verifier",
    "VonageSignature",
    "WebhookHandler",
    "WebhookRequest",
    "WebhookResponse",
    "utc_now",
]
