"""What a fake provider needs to speak a provider's dialect: an event in, its callbacks out.

A ``Provider``'s ``speak`` is the inverse of its dialect, for tests and the
demo: given what happened to a call (a ``ProviderEvent``, in callstate's
words), the callbacks the provider would send for it, as (content type, raw
body) pairs: none (Bandwidth sends no ringing event), one, or several (a
failed Vonage call sends its failure and ``completed``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Final
from urllib.parse import urlencode

import attrs

__all__ = ["FORM", "JSON", "ProviderEvent", "Speaker", "form_body", "iso", "json_body", "rfc2822"]

FORM: Final = "application/x-www-form-urlencoded"
JSON: Final = "application/json"


@attrs.frozen(kw_only=True)
class ProviderEvent:
    """What happened to a call, which its provider reports in a callback.

    ``status`` is in callstate's words (``initiated``, ``ringing``,
    ``in-progress``, ``completed``, ``busy``, ``failed``, ``no-answer``,
    ``canceled``); ``position`` is the event's place in the call's life (0,
    1, ...); ``duration`` the call's seconds, on its end.
    """

    call_sid: str
    status: str
    at: datetime
    position: int = 0
    duration: int | None = None
    account_sid: str | None = None
    to: str = "+15550100"
    from_: str = "+15550199"


Speaker = Callable[[ProviderEvent], Sequence[tuple[str, bytes]]]
"""A provider's ``speak``: its callbacks for one event, as (content type, raw body) pairs."""


def form_body(*pairs: tuple[str, object]) -> tuple[str, bytes]:
    """A form callback of these fields (None values left out)."""
    return FORM, urlencode([(k, str(v)) for k, v in pairs if v is not None]).encode()


def json_body(document: object) -> tuple[str, bytes]:
    """A JSON callback of ``document``."""
    return JSON, json.dumps(document).encode()


def rfc2822(at: datetime) -> str:
    return format_datetime(at.astimezone(UTC), usegmt=False)


def iso(at: datetime, *, digits: int = 3, sep: str = "T") -> str:
    """``2026-12-06T12:00:05.123Z`` (``digits`` of the second's fraction: 0, 3 or 6)."""
    at = at.astimezone(UTC)
    text = at.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if digits:
        text += f".{at.microsecond:06d}"[: digits + 1]
    return text + "Z"


def event_id(event: ProviderEvent) -> str:
    """A stable id for the event: the same event, the same id (as a provider's redelivery)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event.call_sid}/{event.status}/{event.position}"))
