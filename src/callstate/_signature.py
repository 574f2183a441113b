"""Twilio-style webhook signatures: the one computation, pure.

``X-Twilio-Signature`` is base64(HMAC-SHA1(auth token, URL + params)), where
params are, for a form POST, every parameter name in sorted order, each
followed by its value (repeated names: each value, sorted). For a GET, or a
JSON body covered by a ``bodySHA256`` query parameter, only the URL is signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

__all__ = ["body_sha256", "twilio_signature"]


def twilio_signature(token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """The signature a Twilio-style provider sends for ``url`` and form ``params``."""
    # Sorting (name, value) pairs orders by name, then a repeated name's values:
    # exactly the order signed; a value repeated under one name counts once.
    signed = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def body_sha256(body: bytes) -> str:
    """The hex SHA-256 of a raw body, as the ``bodySHA256`` query parameter carries it."""
    return hashlib.sha256(body).hexdigest()
