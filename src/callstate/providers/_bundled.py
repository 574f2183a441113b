"""The providers callstate bundles, as any user's own would be declared."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import attrs

from callstate._core._state import Dialect as Vocabulary
from callstate._errors import UsageError
from callstate.client._profile import Profile
from callstate.providers import _bandwidth as bandwidth
from callstate.providers import _plivo as plivo
from callstate.providers import _telnyx as telnyx
from callstate.providers import _vonage as vonage
from callstate.providers._bandwidth import BANDWIDTH
from callstate.providers._plivo import PLIVO
from callstate.providers._provider import Provider
from callstate.providers._telnyx import TELNYX
from callstate.providers._twilio import (
    SIGNALWIRE,
    TELNYX_TEXML,
    signalwire_verifier,
    speak_signalwire,
    speak_telnyx_texml,
    telnyx_verifier,
    twilio_verifier,
)
from callstate.providers._vonage import VONAGE
from callstate.web._dialect import TWILIO
from callstate.web._verify import Verifier
from callstate.web._verify_plivo import PlivoSignature
from callstate.web._verify_vonage import VonageSignature

__all__ = ["BUNDLED"]


def plivo_verifier(secrets: Sequence[str]) -> Verifier:
    """Plivo's V3 signature (``PlivoSignature``) with these auth tokens."""
    return PlivoSignature(secrets=tuple(secrets))


def vonage_verifier(secrets: Sequence[str]) -> Verifier:
    """Vonage's signed JWT (``VonageSignature``) with these signature secrets."""
    return VonageSignature(secrets=tuple(secrets))


def _restcomm(base_url: str | None) -> Profile:
    if base_url is None:
        raise UsageError("restcomm needs its host (https://cloud.example.com) as the base URL")
    return Profile.restcomm(base_url)


def _signalwire(base_url: str | None) -> Profile:
    if base_url is None:
        raise UsageError(
            "signalwire needs its Calls API base URL: "
            "https://{space}.signalwire.com/api/laml/2010-04-01"
        )
    return attrs.evolve(Profile.twilio(base_url), name="signalwire")


BUNDLED: Final = (
    Provider(
        name="twilio",
        dialect=TWILIO,
        verifier=twilio_verifier,
        profile=Profile.twilio,
        summary="Twilio: form callbacks, X-Twilio-Signature",
    ),
    Provider(
        name="api19",
        dialect=TWILIO,
        profile=Profile.api19,
        summary="CallAPI / api19 (Restcomm 2012-04-24): form callbacks, unsigned (Basic auth)",
    ),
    Provider(
        name="restcomm",
        dialect=TWILIO,
        profile=_restcomm,
        summary="Restcomm Connect: form callbacks, unsigned (Basic auth)",
    ),
    Provider(
        name="signalwire",
        dialect=SIGNALWIRE,
        verifier=signalwire_verifier,
        speak=speak_signalwire,
        profile=_signalwire,
        summary="SignalWire (cXML/LaML): Twilio-shaped form callbacks, X-SignalWire-Signature",
    ),
    Provider(
        name="telnyx-texml",
        dialect=TELNYX_TEXML,
        verifier=telnyx_verifier,
        speak=speak_telnyx_texml,
        summary="Telnyx TeXML: Twilio-shaped form callbacks, order by rank",
    ),
    Provider(
        name="telnyx",
        dialect=TELNYX,
        verifier=telnyx_verifier,
        speak=telnyx.speak,
        summary="Telnyx Call Control: JSON events with an event id, order by rank",
        # call.hangup ends every call, answered or not: answered only if call.answered came.
        vocabulary=Vocabulary.RESTCOMM,
    ),
    Provider(
        name="plivo",
        dialect=PLIVO,
        verifier=plivo_verifier,
        speak=plivo.speak,
        summary="Plivo: form callbacks without sequence or event time, order by rank",
    ),
    Provider(
        name="vonage",
        dialect=VONAGE,
        verifier=vonage_verifier,
        speak=vonage.speak,
        summary="Vonage Voice: JSON events, order by rank, a failure outranks completed",
        # A failed call sends completed too (its duration not always 0): answered only
        # if answered came.
        vocabulary=Vocabulary.RESTCOMM,
    ),
    Provider(
        name="bandwidth",
        dialect=BANDWIDTH,
        speak=bandwidth.speak,
        summary="Bandwidth Voice v2: JSON events, unsigned (Basic auth), order by rank",
        # disconnect/hangup ends every call; its duration comes only from answerTime.
        vocabulary=Vocabulary.AUTO,
    ),
)
