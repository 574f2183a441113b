"""The Call resource, parsed tolerantly from the JSON the Calls API returns.

Seen in the wild (DOMAIN.md): ``date_*`` in RFC 2822 beside ISO 8601
``start_time``; ``NO_ANSWER`` for ``no-answer``; the string ``"null"`` for a
missing value; numbers as strings; a JSON array when a call forked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from callstate._core._make import maker
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
# parsed value of recently seen text is kept, as the callback parser does for
# ``Timestamp``; the cache holds only immutable datetimes and decides nothing.
_DATE_CACHE_SIZE: Final = 4_096
_date_cache: dict[str, datetime] = {}


def _time(data: Mapping[str, object], name: str) -> datetime | None:
    value = data.get(name)
    if value is None:
        return None
    if type(value) is str:  # exact str: its hash and equality are the builtin ones
        cached = _date_cache.get(value)
        if cached is not None:
            return cached
    if _absent(value):
        return None
    if not isinstance(value, str):
        raise InvalidResource(name, f"must be a date in text, not {type(value).__name__}")
    parsed = parse_timestamp(value)
    if isinstance(parsed, str):
        raise InvalidResource(name, parsed)
    if type(value) is str:
        if len(_date_cache) >= _DATE_CACHE_SIZE:
            _date_cache.clear()
        _date_cache[value] = parsed
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


#: First characters that no spelling of "no value" starts with (``_null_text``):
#: text of 1 to ``_MAX_TEXT`` characters starting with one is what ``_text``
#: returns unchanged.
_PLAIN_START: Final = frozenset(
    c for c in map(chr, range(128)) if c not in "nN" and not c.isspace()
)
# parse_call_resource checks and converts every field itself (statuses, dates in range).
_make_resource: Final = maker(CallResource, checked=True)


def parse_call_resource(data: object) -> CallResource:
    """Parse one Call resource (a decoded JSON object). Raises ``InvalidResource``."""
    if type(data) is not dict and not isinstance(data, Mapping):
        raise InvalidResource("resource", f"must be a JSON object, not {type(data).__name__}")
    get = data.get
    # Each field is read in this order, so that of several bad fields the same
    # one is named. A value that ``_text``, ``_time`` or ``whole_number`` would
    # pass unchanged (None, plain text, a cached date, a count) is taken as it
    # stands, without a call; any other goes the careful way.
    v = get("sid")
    if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_TEXT and v[0] in _PLAIN_START):
        v = _text(data, "sid")
    if v is None:
        raise InvalidResource("sid", "is missing")
    sid = v
    raw_status = get("status")
    # The provider's own spelling is a key as it stands; any other goes the careful way.
    status: CallStatus | None = _STATUS.get(raw_status) if type(raw_status) is str else None
    if status is None:
        if _absent(raw_status):
            raise InvalidResource("status", "is missing")
        status = normalize_call_status(raw_status)
        if status is None:
            raise InvalidResource("status", f"is not a call status: {str(raw_status)[:40]!r}")
    v = get("account_sid")
    if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_TEXT and v[0] in _PLAIN_START):
        v = _text(data, "account_sid")
    account_sid = v
    v = get("parent_call_sid")
    if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_TEXT and v[0] in _PLAIN_START):
        v = _text(data, "parent_call_sid")
    parent_call_sid = v
    v = get("to")
    if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_TEXT and v[0] in _PLAIN_START):
        v = _text(data, "to")
    to = v
    v = get("direction")
    if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_TEXT and v[0] in _PLAIN_START):
        v = _text(data, "direction")
    direction = v
    v = get("answered_by")
    if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_TEXT and v[0] in _PLAIN_START):
        v = _text(data, "answered_by")
    answered_by = v
    v = get("price")
    if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_TEXT and v[0] in _PLAIN_START):
        v = _text(data, "price")
    price = v
    v = get("price_unit")
    if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_TEXT and v[0] in _PLAIN_START):
        v = _text(data, "price_unit")
    price_unit = v
    v = get("uri")
    if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_TEXT and v[0] in _PLAIN_START):
        v = _text(data, "uri")
    uri = v
    v = get("from")
    if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_TEXT and v[0] in _PLAIN_START):
        v = _text(data, "from")
    from_ = v
    v = get("date_created")
    date_created = _date_cache.get(v) if type(v) is str else None
    if date_created is None and v is not None:
        date_created = _time(data, "date_created")
    v = get("date_updated")
    date_updated = _date_cache.get(v) if type(v) is str else None
    if date_updated is None and v is not None:
        date_updated = _time(data, "date_updated")
    v = get("start_time")
    start_time = _date_cache.get(v) if type(v) is str else None
    if start_time is None and v is not None:
        start_time = _time(data, "start_time")
    v = get("end_time")
    end_time = _date_cache.get(v) if type(v) is str else None
    if end_time is None and v is not None:
        end_time = _time(data, "end_time")
    v = get("duration")
    if v is not None and not (type(v) is int and 0 <= v <= MAX_NUMBER):
        v = whole_number(data, "duration")
    duration = v
    v = get("ring_duration")
    if v is not None and not (type(v) is int and 0 <= v <= MAX_NUMBER):
        v = whole_number(data, "ring_duration")
    ring_duration = v
    raw = (
        tuple(data.items())
        if type(data) is dict
        else tuple((str(k), value) for k, value in data.items())
    )
    return _make_resource(
        sid, status, account_sid, parent_call_sid, to, from_, direction, answered_by,
        date_created, date_updated, start_time, end_time, duration, ring_duration,
        price, price_unit, uri, raw,
    )  # fmt: skip


def parse_call_resources(data: object) -> tuple[CallResource, ...]:
    """Parse a Call resource, or the JSON array Restcomm returns for a forked call."""
    if isinstance(data, list):
        if not data:
            raise InvalidResource("resource", "is an empty array")
        return tuple(parse_call_resource(item) for item in data)
    return (parse_call_resource(data),)
