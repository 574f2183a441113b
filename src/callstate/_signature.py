"""Twilio-style webhook signatures: the one computation, pure.

``X-Twilio-Signature`` is base64(HMAC-SHA1(auth token, URL + params)), where
params are, for a form POST, every parameter name in sorted order, each
followed by its value (repeated names: each value, sorted). For a GET, or a
JSON body covered by a ``bodySHA256`` query parameter, only the URL is signed.

The HMAC is RFC 2104 over SHA-1 with the keyed inner and outer states made
once per token: a webhook then costs two copies and three small hashes
(``hmac.new`` sets the key up again every time, which is most of its cost).
"""

from __future__ import annotations

import binascii
import functools
import hashlib
from collections.abc import Callable, Iterable
from itertools import chain
from operator import itemgetter
from typing import Any, Final

__all__ = ["body_sha256", "keyed", "sign", "signed_fields", "signed_params", "twilio_signature"]

_BLOCK: Final = 64  # SHA-1's block size, in bytes
_IPAD: Final = bytes(x ^ 0x36 for x in range(256))
_OPAD: Final = bytes(x ^ 0x5C for x in range(256))


@functools.lru_cache(maxsize=64)
def keyed(token: str) -> tuple[Any, Any]:
    """SHA-1 states that have read the inner and the outer padded key of ``token``.

    ``sign`` copies them: a copy of the inner state reads the message, a copy
    of the outer one the inner digest. Never update them in place.
    """
    key = token.encode()
    if len(key) > _BLOCK:
        key = hashlib.sha1(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha1(key.translate(_IPAD)), hashlib.sha1(key.translate(_OPAD))


def signed_params(params: Iterable[tuple[str, str]], *, distinct: bool = False) -> str:
    """What the parameters add to the signed text: each name then its value, sorted.

    ``distinct`` says no pair repeats (as when no name does): no need to drop copies.
    """
    # Sorting (name, value) pairs orders by name, then a repeated name's values:
    # exactly the order signed; a value repeated under one name counts once.
    return "".join(chain.from_iterable(sorted(params if distinct else set(params))))


def signed_fields(by_name: dict[str, str]) -> str:
    """``signed_params`` of pairs whose names are distinct, given as a dict.

    A provider sends the same names in the same order from one callback to
    the next: the text is a template of the sorted names, made once per
    order of names, filled in with the values.
    """
    names = tuple(by_name)
    found = _templates.get(names)
    if found is None:
        found = _template(names)
    template, values = found
    return template % values(by_name)


_Template = tuple[str, Callable[[dict[str, str]], tuple[str, ...]]]
# Kept for a bounded number of orders of names, none of them very long.
_TEMPLATES_SIZE: Final = 64
_TEMPLATE_NAMES_LENGTH: Final = 2_048
_templates: dict[tuple[str, ...], _Template] = {}


def _template(names: tuple[str, ...]) -> _Template:
    ordered = sorted(names)
    template = "".join(name.replace("%", "%%") + "%s" for name in ordered)
    values: Callable[[dict[str, str]], tuple[str, ...]]
    if len(ordered) > 1:
        values = itemgetter(*ordered)
    else:
        values = functools.partial(_values_of, tuple(ordered))
    found = (template, values)
    if sum(map(len, names)) <= _TEMPLATE_NAMES_LENGTH:
        if len(_templates) >= _TEMPLATES_SIZE:
            _templates.clear()
        _templates[names] = found
    return found


def _values_of(names: tuple[str, ...], by_name: dict[str, str]) -> tuple[str, ...]:
    return tuple(by_name[name] for name in names)


def sign(token: str, message: bytes) -> bytes:
    """base64(HMAC-SHA1(token, message)), as ASCII bytes."""
    inner_key, outer_key = keyed(token)
    inner = inner_key.copy()
    inner.update(message)
    outer = outer_key.copy()
    outer.update(inner.digest())
    return binascii.b2a_base64(outer.digest(), newline=False)


def twilio_signature(token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """The signature a Twilio-style provider sends for ``url`` and form ``params``."""
    return sign(token, (url + signed_params(params)).encode()).decode("ascii")


def body_sha256(body: bytes) -> str:
    """The hex SHA-256 of a raw body, as the ``bodySHA256`` query parameter carries it."""
    return hashlib.sha256(body).hexdigest()
