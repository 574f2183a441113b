"""Webhooks signed as a Twilio-style provider signs them: for tests, no pytest needed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlencode

import attrs

from callstate import _redact as redact
from callstate.web._signature import twilio_signature

__all__ = ["SignedWebhook", "sign_webhook"]


@attrs.frozen(kw_only=True)
class SignedWebhook:
    """A status-callback request as the provider would send it."""

    method: str
    url: str = attrs.field(repr=redact.urls)
    headers: tuple[tuple[str, str], ...] = attrs.field(repr=redact.headers)
    body: bytes = attrs.field(repr=redact.urls)


def sign_webhook(
    url: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    token: str,
    *,
    method: str = "POST",
) -> SignedWebhook:
    """Build a form POST (or a GET with the params in the query) signed with ``token``."""
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    if method.upper() == "GET":
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(pairs)}"
        signature = twilio_signature(token, url)
        return SignedWebhook(
            method="GET", url=url, headers=(("X-Twilio-Signature", signature),), body=b""
        )
    signature = twilio_signature(token, url, pairs)
    return SignedWebhook(
        method="POST",
        url=url,
        headers=(
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Twilio-Signature", signature),
        ),
        body=urlencode(pairs).encode(),
    )
