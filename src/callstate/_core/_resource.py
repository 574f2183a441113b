"""The Call resource, parsed tolerantly from the JSON the Calls API returns.

Seen in the wild (DOMAIN.md): ``date_*`` in RFC 2822 beside ISO 8601
``start_time``; ``NO_ANSWER`` for ``no-answer``; the string ``"null"`` for a
missing value; numbers as strings; a JSON array when a call forked.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from callstate._core._parse import MAX_NUMBER, digits_value
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
# Restcomm Connect writes its CallStateChanged.State into the call record,
# as the value (``wait-for-answer``) or the Java name (``WAIT_FOR_ANSWER``):
# two of its ten states are not Twilio's. ``wait-for-answer`` is an inbound
# call whose answer (the SIP 200 OK) is held back while its application
# runs: not answered yet, so a live call before in-progress. ``not-found`` is
# the SIP 404 (no such callee): the call is over and never connected.
_STATUS["wait-for-answer"] = CallStatus.RINGING
_STATUS["not-found"] = CallStatus.FAILED
_MAX_TEXT: Final = 4_096


def normalize_call_status(value: object) -> CallStatus | None:
    """A Call resource ``status`` in any spelling seen (``NO_ANSWER``...), or None."""
    if not isinstance(value, str) or len(value) > 20:
        return None
    return _STATUS.get(value.strip().lower().replace("_", "-").replace(" ", "-"))


def _null_text(value: str) -> bool:
    """``value`` means "no value": empty, or ``null``/``none`` in any case, padded or not.

    Only text of at most 8 characters whose first character is a space or an
    ``n`` can strip and lower to ``null`` or ``none`` (no other character lowers
    to ``n``), so most values are told apart by one character.
    """
    if not value:
        return True
    if len(value) > 8:
        return False
    first = value[0]
    return (first in "nN" or first.isspace()) and value.strip().lower() in ("", "null", "none")


def _absent(value: object) -> bool:
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    return _null_text(value)


def _text(data: Mapping[str, object], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        if _null_text(value):
            return None
        if len(value) > _MAX_TEXT:
            raise InvalidResource(name, f"is longer than {_MAX_TEXT} characters")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidResource(name, f"must be text, not {type(value).__name__}")
    return str(value)


# A call's dates repeat: ``date_updated`` is often ``date_created``, and a call
# fetched again (reconciliation) or listed again answers the same text. The
# parse of recently seen text is kept (pure: a datetime, or why not).
_parsed_date: Final = functools.lru_cache(maxsize=4_096)(parse_timestamp)


def _time(data: Mapping[str, object], name: str) -> datetime | None:
    value = data.get(name)
    if _absent(value):
        return None
    if not isinstance(value, str):
        raise InvalidResource(name, f"must be a date in text, not {type(value).__name__}")
    parsed = _parsed_date(value) if type(value) is str else parse_timestamp(value)
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
        if not (text.isascii() and text.isdigit()):
            raise InvalidResource(name, f"must be a whole number, not {value[:40]!r}")
        value = digits_value(text)
    if not isinstance(value, int) or not 0 <= value <= MAX_NUMBER:
        raise InvalidResource(name, f"must be a whole number from 0 to {MAX_NUMBER}")
    return value


#: The text fields, dates and counts of a resource, each in the order read
#: (of several bad fields, the first is named).
_TEXTS: Final = (
    "account_sid", "parent_call_sid", "to", "direction", "answered_by", "price", "price_unit",
    "uri", "from",
)  # fmt: skip
_DATES: Final = ("date_created", "date_updated", "start_time", "end_time")
_COUNTS: Final = ("duration", "ring_duration")


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
    account_sid, parent_call_sid, to, direction, answered_by, price, price_unit, uri, from_ = (
        _text(data, name) for name in _TEXTS
    )
    date_created, date_updated, start_time, end_time = (_time(data, name) for name in _DATES)
    duration, ring_duration = (whole_number(data, name) for name in _COUNTS)
    raw = (
        tuple(data.items())
        if type(data) is dict
        else tuple((str(k), value) for k, value in data.items())
    )
    return CallResource(
        sid=sid, status=status, account_sid=account_sid, parent_call_sid=parent_call_sid,
        to=to, from_=from_, direction=direction, answered_by=answered_by,
        date_created=date_created, date_updated=date_updated, start_time=start_time,
        end_time=end_time, duration=duration, ring_duration=ring_duration, price=price,
        price_unit=price_unit, uri=uri, raw=raw,
    )  # fmt: skip


def parse_call_resources(data: object) -> tuple[CallResource, ...]:
    """Parse a Call resource, or the JSON array Restcomm returns for a forked call."""
    if isinstance(data, list):
        if not data:
            raise InvalidResource("resource", "is an empty array")
        return tuple(parse_call_resource(item) for item in data)
    return (parse_call_resource(data),)
