"""The Call resource, parsed tolerantly from the JSON the Calls API returns.

Seen in the wild (DOMAIN.md): ``date_*`` in RFC 2822 beside ISO 8601
``start_time``; ``NO_ANSWER`` for ``no-answer``; the string ``"null"`` for a
missing value; numbers as strings; a JSON array when a call forked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from callstate._core._parse import MAX_NUMBER
from callstate._core._state import CallStatus
from callstate._core._time import parse_timestamp
from callstate._core._values import CallResource
from callstate._errors import InvalidResource

__all__ = [
    "normalize_call_status",
    "parse_call_resource",
    "parse_call_resources",
    "whole_number",
]

_STATUS: Final = {s.value: s for s in CallStatus if s is not CallStatus.ENDED}
_STATUS["answered"] = CallStatus.IN_PROGRESS
_TEXT_FIELDS: Final = (
    "account_sid",
    "parent_call_sid",
    "to",
    "direction",
    "answered_by",
    "price",
    "price_unit",
    "uri",
)
_MAX_TEXT: Final = 4_096


def normalize_call_status(value: object) -> CallStatus | None:
    """A Call resource ``status`` in any spelling seen (``NO_ANSWER``...), or None."""
    if not isinstance(value, str) or len(value) > 20:
        return None
    return _STATUS.get(value.strip().lower().replace("_", "-").replace(" ", "-"))


_NULLS: Final = frozenset(("", "null", "NULL", "Null", "None", "none"))


def _absent(value: object) -> bool:
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    return value in _NULLS or (len(value) <= 8 and value.strip().lower() in ("", "null", "none"))


def _text(data: Mapping[str, object], name: str) -> str | None:
    value = data.get(name)
    if isinstance(value, str):
        if value in _NULLS or (len(value) <= 8 and value.strip().lower() in ("", "null", "none")):
            return None
        if len(value) > _MAX_TEXT:
            raise InvalidResource(name, f"is longer than {_MAX_TEXT} characters")
        return value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidResource(name, f"must be text, not {type(value).__name__}")
    return str(value)


def _time(data: Mapping[str, object], name: str) -> datetime | None:
    value = data.get(name)
    if _absent(value):
        return None
    if not isinstance(value, str):
        raise InvalidResource(name, f"must be a date in text, not {type(value).__name__}")
    parsed = parse_timestamp(value)
    if isinstance(parsed, str):
        raise InvalidResource(name, parsed)
    return parsed


def whole_number(data: Mapping[str, object], name: str) -> int | None:
    """Field ``name`` as a count: absent or ``"null"`` is None; text or float must be whole."""
    value = data.get(name)
    if _absent(value):
        return None
    if isinstance(value, bool):
        raise InvalidResource(name, "must be a whole number, not a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 10):
            raise InvalidResource(name, f"must be a whole number, not {value[:40]!r}")
        value = int(text)
    if not isinstance(value, int) or not 0 <= value <= MAX_NUMBER:
        raise InvalidResource(name, f"must be a whole number from 0 to {MAX_NUMBER}")
    return value


def parse_call_resource(data: object) -> CallResource:
    """Parse one Call resource (a decoded JSON object). Raises ``InvalidResource``."""
    if not isinstance(data, Mapping):
        raise InvalidResource("resource", f"must be a JSON object, not {type(data).__name__}")
    sid = _text(data, "sid")
    if sid is None:
        raise InvalidResource("sid", "is missing")
    raw_status = data.get("status")
    if _absent(raw_status):
        raise InvalidResource("status", "is missing")
    status = normalize_call_status(raw_status)
    if status is None:
        raise InvalidResource("status", f"is not a call status: {str(raw_status)[:40]!r}")
    texts = {name: _text(data, name) for name in _TEXT_FIELDS}
    return CallResource(
        sid=sid,
        status=status,
        from_=_text(data, "from"),
        date_created=_time(data, "date_created"),
        date_updated=_time(data, "date_updated"),
        start_time=_time(data, "start_time"),
        end_time=_time(data, "end_time"),
        duration=whole_number(data, "duration"),
        ring_duration=whole_number(data, "ring_duration"),
        raw=tuple(data.items())
        if type(data) is dict
        else tuple((str(k), v) for k, v in data.items()),
        **texts,
    )


def parse_call_resources(data: object) -> tuple[CallResource, ...]:
    """Parse a Call resource, or the JSON array Restcomm returns for a forked call."""
    if isinstance(data, list):
        if not data:
            raise InvalidResource("resource", "is an empty array")
        return tuple(parse_call_resource(item) for item in data)
    return (parse_call_resource(data),)
