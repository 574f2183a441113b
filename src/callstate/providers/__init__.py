"""Voice providers as plug-ins: how each one's status callbacks read, and how to check them.

A ``Provider`` is a name, a dialect (a ``CallbackReader``: a callback's
request in, the core's ``Delivery`` out), a verifier factory and, optionally, a client profile. The
bundled providers are registered under their names; your own joins them
with ``register`` (or an entry point in the ``callstate.providers`` group)
and is used exactly as they are::

    from callstate import CallBook
    from callstate import providers
    from callstate.web import WebhookHandler

    telnyx = providers.get("telnyx")
    handler = WebhookHandler(CallBook(), dialect=telnyx.dialect, verifier=...)

Every web adapter takes every provider: the adapter hands the handler the
request's parts, and the handler hands them to the dialect. A provider's
other events sent to the same URL (Telnyx's ``call.bridged``, Vonage's
``record``) are no status events: the dialect raises ``NotAStatusEvent``,
and the handler answers 204 ``Callstate-Result: ignored``, storing nothing.

Providers that send no usable sequence number (Telnyx, Plivo, Vonage,
Bandwidth, and Telnyx TeXML, whose number is not to be trusted) get one
derived from what the callback says (``ranked_sequence``): see
docs/concepts.md, "Providers without a sequence number".
"""

from __future__ import annotations

from callstate._errors import NotAStatusEvent
from callstate.providers._bandwidth import BandwidthDialect
from callstate.providers._bundled import BUNDLED
from callstate.providers._kit import (
    FormDialect,
    JsonDialect,
    duration_of,
    ranked_delivery,
    ranked_sequence,
    sid_of,
    text_of,
    timestamp_of,
)
from callstate.providers._plivo import PlivoDialect
from callstate.providers._provider import ENTRY_POINTS as _ENTRY_POINTS
from callstate.providers._provider import Provider, get, names, register
from callstate.providers._speak import ProviderEvent, Speaker
from callstate.providers._telnyx import TelnyxDialect
from callstate.providers._twilio import SignalWireDialect, TelnyxTexmlDialect
from callstate.providers._vonage import VonageDialect
from callstate.web._dialect import CallbackReader, TwilioDialect

ENTRY_POINTS: str = _ENTRY_POINTS
"""The entry-point group a package names its providers in: ``acme = "acme_voice:ACME"``."""

__all__ = [
    "ENTRY_POINTS",
    "BandwidthDialect",
    "CallbackReader",
    "FormDialect",
    "JsonDialect",
    "NotAStatusEvent",
    "PlivoDialect",
    "Provider",
    "ProviderEvent",
    "SignalWireDialect",
    "Speaker",
    "TelnyxDialect",
    "TelnyxTexmlDialect",
    "TwilioDialect",
    "VonageDialect",
    "duration_of",
    "get",
    "names",
    "ranked_delivery",
    "ranked_sequence",
    "register",
    "sid_of",
    "text_of",
    "timestamp_of",
]


for _provider in BUNDLED:
    register(_provider)
del _provider
