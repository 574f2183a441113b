"""Plivo's webhook signature (V3): HMAC-SHA256 over the URL, the parameters and a nonce.

``X-Plivo-Signature-V3`` is base64(HMAC-SHA256(auth token, base + "." +
nonce)), the nonce from ``X-Plivo-Signature-V3-Nonce``; the header may hold
several signatures, comma-separated, and one matching is enough. The base,
as plivo-python's ``validate_v3_signature`` builds it (plivo-go's is the
same), is the URL's ``scheme://host/path`` followed by:

- for a GET, ``?`` and the query's parameters (the callback's among them) sorted by name, each
  ``name=value`` (a name's values sorted), joined with ``&`` (nothing when
  there are none);
- for a POST, ``?`` and the URL's own query so written, then (when there is
  both a query and a body) ``.``, then the body's parameters sorted by name,
  each name followed by its value with no separator (a POST with no
  parameters and no query adds nothing).

Names and values are compared decoded (``%20`` and ``+`` are a space). The
scheme has no timestamp and the SDKs keep no record of nonces: a captured
callback verifies again. ``X-Plivo-Signature-Ma-V3`` is the same signature
keyed with the main account's token (give ``header=`` and that token).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import parse_qsl, urlparse, urlunparse

import attrs

from callstate import _redact as redact
from callstate._errors import UsageError, VerificationFailed
from callstate.web._request import Headers
from callstate.web._verify import _as_list, _ByParts

__all__ = ["PlivoSignature", "plivo_base"]

NONCE_HEADER: Final = "X-Plivo-Signature-V3-Nonce"


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def _query_text(grouped: dict[str, list[str]]) -> str:
    return "&".join(
        f"{name}={value}" for name in sorted(grouped) for value in sorted(grouped[name])
    )


def plivo_base(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The text Plivo signs before ``"." + nonce``, for a request to ``url`` with ``params``.

    ``params`` are a POST's form parameters, decoded; a GET's are read from ``url``.
    """
    parts = urlparse(url)  # as plivo-python reads it: a path's ";params" is not signed
    head = urlunparse((parts.scheme, parts.netloc, parts.path, "", "", ""))
    query = _grouped(parse_qsl(parts.query, keep_blank_values=True))
    if method == "GET":  # a GET's parameters are its query's
        text = _query_text(query)
        return f"{head}?{text}" if text else head
    posted = _grouped(params)
    text = _query_text(query)
    if posted or text:
        head = f"{head}?{text}"
    if posted and text:
        head += "."
    return head + "".join(name + value for name in sorted(posted) for value in sorted(posted[name]))


def _tokens(value: str | Sequence[str]) -> tuple[str, ...]:
    tokens = _as_list(value, "secrets")
    if not tokens:
        raise UsageError("PlivoSignature needs at least one auth token")
    return tokens


@attrs.frozen(kw_only=True)
class PlivoSignature(_ByParts):
    """``X-Plivo-Signature-V3`` with ``X-Plivo-Signature-V3-Nonce``: Plivo's HMAC-SHA256.

    ``secrets`` are the auth tokens of the (sub)account the callbacks are
    for (Plivo console, Overview): the new and the old one while rotating.
    ``header`` is ``"X-Plivo-Signature-Ma-V3"`` to check the signature made
    with the main account's token instead.
    """

    secrets: tuple[str, ...] = attrs.field(converter=_tokens, repr=redact.hidden)
    header: str = "X-Plivo-Signature-V3"
    _key: str = attrs.field(init=False, repr=False, eq=False)
    #: Each token's HMAC-SHA256, keyed once; copied for each message.
    _keys: tuple[hmac.HMAC, ...] = attrs.field(init=False, repr=False, eq=False)

    @_key.default
    def _lower_header(self) -> str:
        return self.header.lower()

    @_keys.default
    def _keyed(self) -> tuple[hmac.HMAC, ...]:
        return tuple(hmac.new(token.encode(), digestmod=hashlib.sha256) for token in self.secrets)

    def _check(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes,
        params: tuple[tuple[str, str], ...],
        *rest: object,
    ) -> None:
        signatures = headers.get(self._key)
        if signatures is None:
            raise VerificationFailed(self.header, "is missing")
        nonce = headers.get(NONCE_HEADER.lower())
        if nonce is None:
            raise VerificationFailed(NONCE_HEADER, "is missing")
        # Header values are text as the server read them: one that holds what is
        # no character (aiohttp keeps undecodable bytes as lone surrogates) is
        # refused, never an error of encoding.
        if not nonce.isascii():
            raise VerificationFailed(NONCE_HEADER, "is not ASCII")
        if not signatures.isascii():
            raise VerificationFailed(self.header, "is not base64 signatures (ASCII)")
        try:
            message = f"{plivo_base(method, url, params)}.{nonce}".encode()
        except ValueError:  # urllib's reading of a URL no provider could have called, or
            # a URL or parameter holding a lone surrogate (a UnicodeEncodeError is one)
            raise VerificationFailed(self.header, "cannot cover this URL") from None
        sent = [part.strip().encode() for part in signatures.split(",")]
        for key in self._keys:
            mac = key.copy()
            mac.update(message)
            expected = binascii.b2a_base64(mac.digest(), newline=False)
            matched = False
            for signature in sent:  # every one compared: constant time for each
                matched |= hmac.compare_digest(expected, signature)
            if matched:
                return
        raise VerificationFailed(self.header, "does not match the request")
