"""The providers callstate bundles, as any user's own would be declared."""

from __future__ import annotations

from typing import Final

import attrs

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
    twilio_verifier,
)
from callstate.providers._vonage import VONAGE
from callstate.web._dialect import TWILIO

__all__ = ["BUNDLED"]


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
        speak=speak_telnyx_texml,
        summary="Telnyx TeXML: Twilio-shaped form callbacks, order by rank",
    ),
    Provider(
        name="telnyx",
        dialect=TELNYX,
        speak=telnyx.speak,
        summary="Telnyx Call Control: JSON events with an event id, order by rank",
    ),
    Provider(
        name="plivo",
        dialect=PLIVO,
        speak=plivo.speak,
        summary="Plivo: form callbacks without sequence or event time, order by rank",
    ),
    Provider(
        name="vonage",
        dialect=VONAGE,
        speak=vonage.speak,
        summary="Vonage Voice: JSON events, order by rank, a failure outranks completed",
    ),
    Provider(
        name="bandwidth",
        dialect=BANDWIDTH,
        speak=bandwidth.speak,
        summary="Bandwidth Voice v2: JSON events, unsigned (Basic auth), order by rank",
    ),
)
