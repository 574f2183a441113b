"""Reprs that never show a secret: for attrs ``field(repr=...)`` of the classes that hold one.

An error tracker records the reprs of a failing frame's locals; a log line
may hold the repr of a request. So every class that holds an auth token, a
password, an API key or a DSN shows that it holds one, never what it is:

- ``hidden``: a secret field (``'***'``, or ``None`` when there is none);
- ``urls``: any value (a URL, a body, pairs of parameters) with the password
  of each URL's user information replaced (``https://user:***@host/``),
  where the URL is written plainly and where it sits percent-encoded in a
  form or a query (a ``StatusCallback`` with credentials in a create call);
- ``scrub``: the same for a text, such as an error message that names a URL;
- ``headers``: header pairs or a mapping, with the values of the headers that
  carry credentials replaced (the scheme kept: ``'Basic ***'``), then as
  ``urls``.

They run only when a repr is asked for: nothing here is on a hot path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

__all__ = ["CREDENTIAL_HEADERS", "MASK", "headers", "hidden", "scrub", "urls"]

MASK: Final = "***"

#: Headers whose value is a credential, lower-cased.
CREDENTIAL_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"}
)

# ``scheme://user:password@``: the password runs to the last ``@`` before the
# path (a raw ``@`` in a password is a mistake urllib still reads so).
_PLAIN: Final = re.compile(r"(?i)([a-z][a-z0-9+.\-]*://[^/?#@\s:]*:)[^/?#\s]*@")
# The same, percent-encoded once (a URL inside a form value or a query).
_ENCODED: Final = re.compile(
    r"(?i)(%3A%2F%2F(?:(?!%2F|%3F|%23|%40|%3A)[^/?#&=\s])*%3A)"
    r"(?:(?!%2F|%3F|%23)[^/?#&=\s])*%40"
)


def scrub(text: str) -> str:
    """``text`` with the password of each URL in it replaced, plain or percent-encoded."""
    return _ENCODED.sub(r"\1***%40", _PLAIN.sub(r"\1***@", text))


def hidden(value: object) -> str:
    """The repr of a secret field: that there is one, never what it is."""
    return "None" if value is None else repr(MASK)


def urls(value: object) -> str:
    """The repr of ``value`` (a URL, a body, pairs...), the passwords of its URLs replaced."""
    return scrub(repr(value))


def _header_value(name: object, value: object) -> object:
    if not isinstance(value, str) or str(name).lower() not in CREDENTIAL_HEADERS:
        return value
    scheme, space, _ = value.strip().partition(" ")
    return f"{scheme} {MASK}" if space else MASK


def headers(value: object) -> str:
    """The repr of headers (pairs or a mapping), credentials and URL passwords replaced."""
    if isinstance(value, Mapping):
        value = {k: _header_value(k, v) for k, v in value.items()}
    elif isinstance(value, tuple | list) and all(
        isinstance(p, tuple) and len(p) == 2 for p in value
    ):
        value = tuple((k, _header_value(k, v)) for k, v in value)
    return urls(value)
