"""The providers callstate bundles, as any user's own would be declared."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import attrs

from callstate._errors import UsageError
from callstate.client._profile import Profile
from callstate.providers._bandwidth import BANDWIDTH
from callstate.providers._plivo import PLIVO
from callstate.providers._provider import Provider
from callstate.providers._telnyx import TELNYX
from callstate.providers._twilio import (
    SIGNALWIRE,
    TELNYX_TEXML,
    signalwire_verifier,
    twilio_verifier,
)
from callstate.providers._vonage import VONAGE
from callstate.web._dialect import TWILIO
from callstate.web._verify import BasicAuth, Verifier

__all__ = ["BUNDLED", "basic_auth_verifier"]


def basic_auth_verifier(secrets: Sequence[str]) -> Verifier:
    """Basic-auth credentials in the callback URL: ``user:password`` entries."""
    credentials: dict[str, list[str]] = {}
    for entry in secrets:
        user, sep, password = entry.partition(":")
        if not (user and sep and password):
            raise UsageError("Basic-auth credentials must be user:password, both non-empty")
        credentials.setdefault(user, []).append(password)
    return BasicAuth(credentials=credentials)


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
        verifier=basic_auth_verifier,
        profile=Profile.api19,
        summary="CallAPI / api19 (Restcomm 2012-04-24): form callbacks, Basic auth in the URL",
    ),
    Provider(
        name="restcomm",
        dialect=TWILIO,
        verifier=basic_auth_verifier,
        profile=_restcomm,
        summary="Restcomm Connect: form callbacks, Basic auth in the URL",
    ),
    Provider(
        name="signalwire",
        dialect=SIGNALWIRE,
        verifier=signalwire_verifier,
        profile=_signalwire,
        summary="SignalWire (cXML/LaML): Twilio-shaped form callbacks, X-SignalWire-Signature",
    ),
    Provider(
        name="telnyx-texml",
        dialect=TELNYX_TEXML,
        summary="Telnyx TeXML: Twilio-shaped form callbacks, order by rank",
    ),
    Provider(
        name="telnyx",
        dialect=TELNYX,
        summary="Telnyx Call Control: JSON events with an event id, order by rank",
    ),
    Provider(
        name="plivo",
        dialect=PLIVO,
        summary="Plivo: form callbacks without sequence or event time, order by rank",
    ),
    Provider(
        name="vonage",
        dialect=VONAGE,
        summary="Vonage Voice: JSON events, order by rank, a failure outranks completed",
    ),
    Provider(
        name="bandwidth",
        dialect=BANDWIDTH,
        verifier=basic_auth_verifier,
        summary="Bandwidth Voice v2: JSON events, Basic auth you configure, order by rank",
    ),
)
