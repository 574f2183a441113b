"""Vonage's signed webhooks: a JWT (HS256, the signature secret) in ``Authorization``.

Vonage signs each Voice webhook with ``Authorization: Bearer <JWT>``, an
HS256 token keyed with the account's *signature secret* (Dashboard,
settings). Its claims: ``iat`` (seconds), ``jti``, ``iss`` ("Vonage"),
``api_key``, ``application_id`` and ``payload_hash``, the hex SHA-256 of
the request's payload. HS256 is the standard library's HMAC-SHA256; nothing
else is accepted (an ``alg`` of ``none`` or RS256 is refused, so the secret
cannot be taken for a public key).

The token says nothing of the body unless it carries ``payload_hash``:
when it does, it must be the SHA-256 of the raw body (for a GET, of the
query's parameters as compact JSON, as Vonage's support pages describe
it). A token is accepted only within ``replay_window`` of its ``iat``
(either way, measured from ``received_at``: nothing here reads a clock),
and never at or past its ``exp`` or before its ``nbf`` when it has them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

import attrs

from callstate import _redact as redact
from callstate._errors import UsageError, VerificationFailed
from callstate.web._request import WebhookRequest
from callstate.web._verify import _as_list

__all__ = ["VonageSignature"]

HEADER: Final = "Authorization"
_PART: Final = re.compile(r"[A-Za-z0-9_-]*", re.ASCII)
#: A JWT read: its header, its claims, its signature's bytes.
_Read = tuple[dict[str, object], dict[str, object], bytes]


def _secrets(value: str | Sequence[str]) -> tuple[str, ...]:
    secrets = _as_list(value, "secrets")
    if not secrets:
        raise UsageError("VonageSignature needs at least one signature secret")
    return secrets


def _window(value: timedelta) -> timedelta:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise UsageError("replay_window must be a positive timedelta")
    return value


def _unpadded(part: str) -> bytes:
    """A JWT part's bytes (base64url without padding); ValueError if it is none."""
    if _PART.fullmatch(part) is None:
        raise ValueError(part)  # pragma: no mutate (caught: its text is never read)
    # Python's decoder takes surplus "=": exact padding is not observable.
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))  # pragma: no mutate


def _written(raw: bytes) -> str:
    """``raw`` as base64url without padding, written the one canonical way."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")  # pragma: no mutate


def _object(part: str) -> dict[str, object] | None:
    """A JWT part's JSON object, or None when it holds another JSON value."""
    document = json.loads(_unpadded(part))
    return document if isinstance(document, dict) else None


def _read(head: str, body: str, signature: str) -> _Read | None:
    """A JWT's header, claims and signature; None when it is not one.

    A signature written with its unused low bits set decodes to the same
    bytes; PyJWT refuses it ("Invalid crypto padding"), and so does this.
    """
    try:
        heading, claims, sent = _object(head), _object(body), _unpadded(signature)
    except (ValueError, RecursionError):  # binascii.Error and bad JSON are ValueErrors
        return None
    if heading is None or claims is None or _written(sent) != signature:
        return None
    return heading, claims, sent


def _number(claims: dict[str, object], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise VerificationFailed(HEADER, f"the token's {name} is not a time in seconds")
    # NaN compares false with everything (a NaN iat would pass any window, a NaN
    # exp never expire), and a huge int overflows a float: both refused.
    if not _EARLIEST <= value <= _LATEST:
        raise VerificationFailed(HEADER, f"the token's {name} is not a time in seconds")
    return float(value)


#: The times a token's claims may name: 1970 to the year 9999, in seconds.
_EARLIEST: Final = 0
_LATEST: Final = 253_402_300_799


def _payload(request: WebhookRequest) -> bytes:
    if request.method == "GET":
        document = dict(request.params)
        return json.dumps(
            document,
            separators=(",", ":"),
            ensure_ascii=False,  # pragma: no mutate (None is false too)
        ).encode()
    return request.body


@attrs.frozen(kw_only=True)
class VonageSignature:
    """``Authorization: Bearer <JWT>``: Vonage's signed webhooks (HS256).

    ``secrets`` are the account's signature secrets (the new and the old one
    while rotating). ``replay_window`` is how far the token's ``iat`` may be
    from the time the webhook was received, either way (default 300 seconds;
    Vonage documents none). A ``payload_hash`` claim, when the token has one,
    must be the SHA-256 of the body (of a GET's query as compact JSON); a
    token without one is refused, since it would vouch for any body sent
    with it (Vonage puts one in the tokens of its signed webhooks).
    """

    secrets: tuple[str, ...] = attrs.field(converter=_secrets, repr=redact.hidden)
    replay_window: timedelta = attrs.field(default=timedelta(seconds=300), converter=_window)
    #: Each secret's HMAC-SHA256, keyed once; copied for each token.
    _keys: tuple[hmac.HMAC, ...] = attrs.field(init=False, repr=False, eq=False)

    @_keys.default
    def _keyed(self) -> tuple[hmac.HMAC, ...]:
        return tuple(hmac.new(secret.encode(), digestmod=hashlib.sha256) for secret in self.secrets)

    def verify(self, request: WebhookRequest) -> None:
        header = request.headers.get("authorization")
        if header is None:
            raise VerificationFailed(HEADER, "is missing")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise VerificationFailed(HEADER, "must be a Bearer token (a signed JWT)")
        parts = token.strip().split(".")
        if len(parts) != 3:
            raise VerificationFailed(HEADER, "is not a signed JWT (three parts)")
        read = _read(*parts)
        if read is None:
            raise VerificationFailed(HEADER, "is not a signed JWT (three parts)")
        heading, claims, sent = read
        if heading.get("alg") != "HS256":
            raise VerificationFailed(HEADER, "the token must be signed with HS256")
        message = f"{parts[0]}.{parts[1]}".encode()
        matched = False
        for key in self._keys:
            mac = key.copy()
            mac.update(message)
            matched |= hmac.compare_digest(mac.digest(), sent)
        if not matched:
            raise VerificationFailed(HEADER, "the token's signature does not match")
        now = request.received_at.timestamp()
        issued = _number(claims, "iat")
        if issued is None:
            raise VerificationFailed(HEADER, "the token has no iat (when it was issued)")
        window = self.replay_window.total_seconds()
        if abs(now - issued) > window:
            raise VerificationFailed(
                HEADER,
                f"the token was issued {abs(now - issued):.0f} s from when the webhook was "
                f"received, outside the {window:g} s replay window",
            )
        expires = _number(claims, "exp")
        if expires is not None and expires <= now:
            raise VerificationFailed(HEADER, "the token has expired")
        not_before = _number(claims, "nbf")
        if not_before is not None and not_before > now:
            raise VerificationFailed(HEADER, "the token is not valid yet")
        if "payload_hash" not in claims:
            raise VerificationFailed(
                HEADER, "the token has no payload_hash: it would vouch for any body"
            )
        claimed = claims["payload_hash"]
        digest = hashlib.sha256(_payload(request)).hexdigest().encode()
        if not isinstance(claimed, str) or not hmac.compare_digest(
            claimed.lower().encode(), digest
        ):
            raise VerificationFailed(HEADER, "the token's payload_hash does not match the body")
