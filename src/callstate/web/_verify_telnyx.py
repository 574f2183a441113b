"""Telnyx's webhook signature: Ed25519 over ``{telnyx-timestamp}|{raw body}``.

Telnyx signs every webhook (TeXML's form posts and Call Control's JSON
events alike) with its account's Ed25519 key: ``telnyx-signature-ed25519``
is the base64 of the 64-byte signature, over the ``telnyx-timestamp``
header (Unix seconds), a ``|`` and the raw body, exactly as sent. The
public key is in the Telnyx portal (Keys & Credentials, as base64).

A captured webhook would verify forever, so the timestamp must be within
``replay_window`` of when the webhook was received (``received_at``, which
the handler is given; nothing here reads a clock). Telnyx's SDK allows 300
seconds either way; so does the default here.

Ed25519 is ``cryptography``'s (the ``telnyx`` extra), imported when a
``TelnyxSignature`` is made, so importing ``callstate.web`` does not need it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from callstate._errors import UsageError, VerificationFailed
from callstate.web._request import WebhookRequest

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["TelnyxSignature"]

SIGNATURE_HEADER: Final = "telnyx-signature-ed25519"
TIMESTAMP_HEADER: Final = "telnyx-timestamp"
#: Unix seconds, as Telnyx writes them (at most 12 digits: past the year 33,000).
_SECONDS: Final = re.compile(r"[0-9]{1,12}", re.ASCII)


def _cryptography() -> tuple[Any, type[Exception]]:
    """``Ed25519PublicKey`` and ``InvalidSignature``, or a UsageError naming the extra."""
    try:
        from cryptography.exceptions import InvalidSignature  # noqa: PLC0415 (optional extra)
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
            Ed25519PublicKey,
        )
    except ImportError:
        raise UsageError(
            "TelnyxSignature verifies Ed25519 with the 'cryptography' package: "
            "install the telnyx extra, pip install 'callstate[telnyx]'"
        ) from None
    return Ed25519PublicKey, InvalidSignature


def _public_keys(value: str | Sequence[str]) -> tuple[str, ...]:
    keys = (value,) if isinstance(value, str) else tuple(value)
    if not keys:
        raise UsageError("TelnyxSignature needs at least one public key")
    for key in keys:
        if not isinstance(key, str):
            raise UsageError("a Telnyx public key is its base64 text, a str")
        try:
            raw = base64.b64decode(key.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise UsageError("a Telnyx public key must be base64, as the portal shows it") from None
        if len(raw) != 32:
            raise UsageError(f"a Telnyx public key is 32 bytes of Ed25519, not {len(raw)}")
    return tuple(key.strip() for key in keys)


def _window(value: timedelta) -> timedelta:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise UsageError("replay_window must be a positive timedelta")
    return value


@attrs.frozen(kw_only=True)
class TelnyxSignature:
    """``telnyx-signature-ed25519`` and ``telnyx-timestamp``: Telnyx's Ed25519 signature.

    ``public_keys`` is the account's public key as base64 (Telnyx portal,
    Keys & Credentials), or several while moving from one to another.
    ``replay_window`` is how far the ``telnyx-timestamp`` may be from the
    time the webhook was received, either way (default 300 seconds, as
    Telnyx's SDK allows). The body is checked as received, byte for byte:
    form (TeXML) or JSON (Call Control).
    """

    public_keys: tuple[str, ...] = attrs.field(converter=_public_keys)
    replay_window: timedelta = attrs.field(default=timedelta(seconds=300), converter=_window)
    _keys: tuple[Ed25519PublicKey, ...] = attrs.field(init=False, repr=False, eq=False)
    _invalid: type[Exception] = attrs.field(init=False, repr=False, eq=False)

    @_keys.default
    def _load(self) -> tuple[Ed25519PublicKey, ...]:
        public_key, _ = _cryptography()
        return tuple(
            public_key.from_public_bytes(base64.b64decode(key)) for key in self.public_keys
        )

    @_invalid.default
    def _invalid_signature(self) -> type[Exception]:
        return _cryptography()[1]

    def verify(self, request: WebhookRequest) -> None:
        if request.method == "GET":
            # The signature covers the body; a GET's fields are in its query
            # string, which one signature over an empty body would vouch for.
            raise VerificationFailed(
                SIGNATURE_HEADER, "covers the body only: a GET callback is not signed; use POST"
            )
        headers = request.headers
        signature = headers.get(SIGNATURE_HEADER)
        if signature is None:
            raise VerificationFailed(SIGNATURE_HEADER, "is missing")
        timestamp = headers.get(TIMESTAMP_HEADER)
        if timestamp is None:
            raise VerificationFailed(TIMESTAMP_HEADER, "is missing")
        if _SECONDS.fullmatch(timestamp) is None:
            raise VerificationFailed(TIMESTAMP_HEADER, "is not a Unix time in whole seconds")
        apart = abs(request.received_at.timestamp() - int(timestamp))
        window = self.replay_window.total_seconds()
        if apart > window:
            raise VerificationFailed(
                TIMESTAMP_HEADER,
                f"is {apart:.0f} s from when the webhook was received, "
                f"outside the {window:g} s replay window",
            )
        try:
            raw = base64.b64decode(signature, validate=True)
        except ValueError:  # binascii.Error is one
            raw = b""  # pragma: no mutate (refused below, whatever it holds: not 64 bytes)
        if len(raw) != 64:
            raise VerificationFailed(
                SIGNATURE_HEADER, "is not a base64 Ed25519 signature (64 bytes)"
            )
        message = timestamp.encode() + b"|" + request.body
        for key in self._keys:
            try:
                key.verify(raw, message)
            except self._invalid:
                continue
            return
        raise VerificationFailed(SIGNATURE_HEADER, "does not match the timestamp and body")
