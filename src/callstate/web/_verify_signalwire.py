"""SignalWire's webhook signature: Twilio's scheme, keyed with the project's Signing Key.

SignalWire's Compatibility API (LaML, cXML) signs each callback as Twilio
does: ``X-SignalWire-Signature`` is base64(HMAC-SHA1(key, URL + the form's
names and values, sorted by name)), with ``X-Twilio-Signature`` sent as an
alias for code written against Twilio. Its JSON webhooks (RELAY, SWML) carry
lower-case hex HMAC-SHA1(key, URL + raw body) in the same header.

Two quirks, both read in SignalWire's own validators: a name repeated in the
form is signed with its values in the order sent, each copy kept
(signalwire-sdk's ``webhook_validator``), where Twilio's validator (which
SignalWire's older SDK wrapped) sorts the distinct values; callstate accepts
either. And SignalWire's validator accepts a signature over the URL alone
for any body without ``bodySHA256``; callstate does not: a body the
signature does not cover is refused, as for Twilio.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Final

import attrs

from callstate import _redact as redact
from callstate._errors import VerificationFailed
from callstate.web._request import Headers
from callstate.web._signature import signed_fields, signed_params
from callstate.web._url import port_variants
from callstate.web._verify import (
    _SIGNATURE,
    _ByParts,
    _lookup,
    check_body_sha256,
    hmac_keys,
    matches_any,
)

__all__ = ["SignalWireSignature"]

HEADER: Final = "X-SignalWire-Signature"
ALIAS: Final = "X-Twilio-Signature"
#: Lower-case hex of a 20-byte HMAC-SHA1: the JSON webhooks' form.
_HEX: Final = re.compile(r"[0-9a-f]{40}", re.ASCII)


def _in_order_sent(params: tuple[tuple[str, str], ...]) -> str:
    """The signed text as signalwire-sdk builds it: sorted by name only, every copy kept."""
    ordered = sorted(params, key=_name)  # a stable sort: a name's values stay as sent
    return "".join(chain.from_iterable(ordered))


def _name(pair: tuple[str, str]) -> str:
    return pair[0]


@attrs.frozen(kw_only=True)
class SignalWireSignature(_ByParts):
    """``X-SignalWire-Signature`` (or its alias ``X-Twilio-Signature``), keyed with the Signing Key.

    ``secrets`` are the project's Signing Keys (Dashboard, API Credentials),
    given as for ``TwilioSignature``: one sequence for every project (list
    the new and the old key while rotating), a mapping from the project id
    (the callbacks' ``AccountSid``) to its keys, or a function of it. A form
    POST or a GET is checked exactly as ``TwilioSignature`` checks it (the
    URL tried with and without its default port; any other body covered by
    ``bodySHA256``), except that a repeated name may be signed with its
    values in the order sent. A hex signature (SignalWire's JSON webhooks)
    covers the URL as given and the raw body.
    """

    secrets: Callable[[str | None], Iterable[str]] = attrs.field(
        converter=_lookup, repr=redact.hidden
    )

    def _check(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes,
        params: tuple[tuple[str, str], ...],
        form: bool,
        by_name: dict[str, str] | None,
    ) -> None:
        header = HEADER
        signature = headers.get("x-signalwire-signature")
        if signature is None:
            header = ALIAS
            signature = headers.get("x-twilio-signature")
            if signature is None:
                raise VerificationFailed(HEADER, "is missing")
        if _HEX.fullmatch(signature) is not None:
            keys = hmac_keys(self.secrets, params, by_name)  # pragma: no mutate (by_name: a saving)
            message = url.encode() + body
            expected = signature.encode()
            for key in keys:
                mac = key.copy()
                mac.update(message)
                if hmac.compare_digest(mac.hexdigest().encode(), expected):
                    return
            raise VerificationFailed(header, "does not match the URL and body")
        if _SIGNATURE.fullmatch(signature) is None:
            raise VerificationFailed(
                header, "is neither a base64 nor a hex HMAC-SHA1 (28 or 40 characters)"
            )
        if method != "GET" and not form:
            check_body_sha256(url, body)
        keys = hmac_keys(self.secrets, params, by_name)  # pragma: no mutate (by_name: a saving)
        tails: tuple[str, ...] = ("",)
        if form:
            if by_name is not None:
                tails = (signed_fields(by_name),)
            else:
                sorted_values, in_order = signed_params(params), _in_order_sent(params)
                tails = (sorted_values,)
                if in_order != sorted_values:  # a name repeats, its values not in sorted order
                    tails = (sorted_values, in_order)
        if not matches_any(keys, port_variants(url), tails, signature.encode()):
            raise VerificationFailed(header, "does not match the request")
