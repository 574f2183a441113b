"""Twilio-style webhook signatures: the one computation, pure.

``X-Twilio-Signature`` is base64(HMAC-SHA1(auth token, URL + params)), where
params are, for a form POST, every parameter name in sorted order, each
followed by its value (repeated names: each value, sorted). For a GET, or a
JSON body covered by a ``bodySHA256`` query parameter, only the URL is signed.

The HMAC is the standard library's, keyed once per token (``keyed``) and
copied for each message: setting the key up is most of an HMAC's cost
(measured for issue 16: 2.09 us a signature, against 2.30 us for the
hand-built inner and outer SHA-1 states this replaced; same output).
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import hmac
from collections.abc import Callable, Iterable
from itertools import chain
from operator import itemgetter
from typing import Final

__all__ = ["body_sha256", "keyed", "sign", "signed_fields", "signed_params", "twilio_signature"]


@functools.lru_cache(maxsize=64)
def keyed(token: str) -> hmac.HMAC:
    """An HMAC-SHA1 keyed with ``token`` that has read nothing.

    ``sign`` copies it and the copy reads the message: never update it in place.
    """
    return hmac.new(token.encode(), digestmod=hashlib.sha1)


def signed_params(params: Iterable[tuple[str, str]], *, distinct: bool = False) -> str:
    """What the parameters add to the signed text: each name then its value, sorted.

    ``distinct`` says no pair repeats (as when no name does): no need to drop copies.
    """
    # Sorting (name, value) pairs orders by name, then a repeated name's values:
    # exactly the order signed; a value repeated under one name counts once.
    # Not mutated: set(params) of distinct pairs keeps them all; distinct only saves the set.
    pairs = params if distinct else set(params)  # pragma: no mutate
    return "".join(chain.from_iterable(sorted(pairs)))


def signed_fields(by_name: dict[str, str]) -> str:
    """``signed_params`` of pairs whose names are distinct, given as a dict.

    A provider sends the same names in the same order from one callback to
    the next: the text is a template of the sorted names, made once per
    order of names, filled in with the values.
    """
    names = tuple(by_name)
    # Not mutated: both give the same template; the bound only says which are kept.
    if sum(map(len, names)) <= _TEMPLATE_NAMES_LENGTH:  # pragma: no mutate
        template, values = _kept_template(names)
    else:
        template, values = _template(names)
    return template % values(by_name)


_Template = tuple[str, Callable[[dict[str, str]], tuple[str, ...]]]
#: Templates are kept for 64 orders of names, none of them very long.
_TEMPLATE_NAMES_LENGTH: Final = 2_048


def _template(names: tuple[str, ...]) -> _Template:
    ordered = sorted(names)
    template = "".join(name.replace("%", "%%") + "%s" for name in ordered)
    values: Callable[[dict[str, str]], tuple[str, ...]]
    # Not mutated: with one name, itemgetter gives the value, not a 1-tuple, and
    # "%s" % value is "%s" % (value,): either way gives the same text.
    if len(ordered) > 1:  # pragma: no mutate
        values = itemgetter(*ordered)
    else:
        values = functools.partial(_values_of, tuple(ordered))
    return (template, values)


_kept_template: Final = functools.lru_cache(maxsize=64)(_template)


def _values_of(names: tuple[str, ...], by_name: dict[str, str]) -> tuple[str, ...]:
    return tuple(by_name[name] for name in names)


def sign(token: str, message: bytes) -> bytes:
    """base64(HMAC-SHA1(token, message)), as ASCII bytes."""
    mac = keyed(token).copy()
    mac.update(message)
    return binascii.b2a_base64(mac.digest(), newline=False)


def twilio_signature(token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """The signature a Twilio-style provider sends for ``url`` and form ``params``."""
    signature = sign(token, (url + signed_params(params)).encode())
    return signature.decode("ascii")  # pragma: no mutate ("ASCII": the same codec)


def body_sha256(body: bytes) -> str:
    """The hex SHA-256 of a raw body, as the ``bodySHA256`` query parameter carries it."""
    return hashlib.sha256(body).hexdigest()
