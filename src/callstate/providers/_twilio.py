"""The Twilio-shaped family: Twilio, Restcomm/api19, SignalWire, Telnyx TeXML.

All send Twilio's form fields (``CallSid``, ``CallStatus``, ``SequenceNumber``,
``Timestamp``, ...). SignalWire's ``CallSid`` is a UUID and it may name the
answered event ``answered`` as well as ``in-progress``; Telnyx TeXML's
``CallSid`` is ``v3:...``, its ``Timestamp`` ISO 8601 (``2021-04-28
21:51:18.731479Z`` too), and its ``SequenceNumber`` is not to be trusted
(its hangup example gives ``completed`` the number of ``initiated``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import attrs

from callstate._core._parse import Limits, parse_known
from callstate._core._values import CallbackParams, CallbackStatus, Delivery
from callstate.providers._kit import FormDialect, ranked_sequence
from callstate.providers._speak import ProviderEvent, form_body, iso, rfc2822
from callstate.web._dialect import TwilioDialect
from callstate.web._request import Headers
from callstate.web._verify import TwilioSignature, Verifier
from callstate.web._verify_signalwire import SignalWireSignature
from callstate.web._verify_telnyx import TelnyxSignature

__all__ = [
    "SIGNALWIRE",
    "TELNYX_TEXML",
    "SignalWireDialect",
    "TelnyxTexmlDialect",
    "signalwire_verifier",
    "speak_signalwire",
    "speak_telnyx_texml",
    "telnyx_verifier",
    "twilio_verifier",
]


class SignalWireDialect(TwilioDialect):
    """Twilio's fields; ``answered`` reads as ``in-progress`` (both name the answered event).

    So the two names of one event (same ``SequenceNumber``, same time) are
    duplicates, not a conflict. ``CallStatus`` stays as sent in the params.
    """

    __slots__ = ()

    def parse(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes,
        params: tuple[tuple[str, str], ...],
        form: bool,
        by_name: dict[str, str] | None,
        limits: Limits,
    ) -> Delivery:
        delivery = super().parse(method, url, headers, body, params, form, by_name, limits)
        if delivery.call_status is CallbackStatus.ANSWERED:
            return attrs.evolve(delivery, call_status=CallbackStatus.IN_PROGRESS)
        return delivery

    def __repr__(self) -> str:
        return "SignalWireDialect()"


class TelnyxTexmlDialect(FormDialect):
    """Twilio's fields, but the order from the status's rank (``SequenceNumber`` not trusted).

    The sequence number is ``ranked_sequence(status, Timestamp)``: copies of
    one event (same status, same ``Timestamp``) are duplicates. The
    ``SequenceNumber`` sent, ``HangupCause`` and ``HangupSource`` stay in the
    params.
    """

    __slots__ = ()

    def read(self, fields: Mapping[str, str], params: CallbackParams) -> Delivery:
        # The core's own reading of the Twilio fields (and its refusals), with the
        # SequenceNumber it requires put aside: the rank gives the order instead.
        told = parse_known(tuple(params), {**fields, "SequenceNumber": "0"})
        status = told.call_status
        if status is CallbackStatus.ANSWERED:
            status = CallbackStatus.IN_PROGRESS
        return attrs.evolve(
            told,
            call_status=status,
            sequence_number=ranked_sequence(status, fields.get("Timestamp")),
        )

    def __repr__(self) -> str:
        return "TelnyxTexmlDialect()"


SIGNALWIRE: Final = SignalWireDialect()
TELNYX_TEXML: Final = TelnyxTexmlDialect()


def twilio_verifier(secrets: Sequence[str]) -> Verifier:
    """``X-Twilio-Signature`` with these auth tokens."""
    return TwilioSignature(secrets=list(secrets))


def signalwire_verifier(secrets: Sequence[str]) -> Verifier:
    """SignalWire's signature (``SignalWireSignature``) with these signing keys."""
    return SignalWireSignature(secrets=list(secrets))


def telnyx_verifier(public_keys: Sequence[str]) -> Verifier:
    """Telnyx's Ed25519 signature (``TelnyxSignature``) with these public keys (base64)."""
    return TelnyxSignature(public_keys=tuple(public_keys))


def _twilio_fields(event: ProviderEvent) -> list[tuple[str, object]]:
    return [
        ("CallSid", event.call_sid),
        ("AccountSid", event.account_sid),
        ("From", event.from_),
        ("To", event.to),
        ("Direction", "outbound-api"),
        ("CallStatus", event.status),
        ("CallbackSource", "call-progress-events"),
    ]


def speak_signalwire(event: ProviderEvent) -> Sequence[tuple[str, bytes]]:
    """SignalWire's callback: Twilio's fields; the answered event named ``answered``."""
    fields = _twilio_fields(event)
    if event.status == "in-progress":
        fields[5] = ("CallStatus", "answered")
    fields += [
        ("SequenceNumber", event.position),
        ("Timestamp", rfc2822(event.at)),
        ("CallDuration", event.duration),
    ]
    return [form_body(*fields)]


def speak_telnyx_texml(event: ProviderEvent) -> Sequence[tuple[str, bytes]]:
    """TeXML's callback: Twilio's fields, its Timestamp, and SequenceNumber 0 (its quirk)."""
    fields = [
        *_twilio_fields(event),
        ("SequenceNumber", 0),
        ("Timestamp", iso(event.at, digits=6, sep=" ")),
        ("CallDuration", event.duration),
    ]
    if event.status == "completed":
        fields.append(("HangupCause", "normal_clearing"))
    return [form_body(*fields)]
