"""The Call resource parser's fast paths give what the careful path gives.

The fast paths: the null check, the status lookup, the date cache, and each
field's value taken as it stands when the careful path would pass it unchanged.

``careful_parse`` below is the parser as it was before the fast paths (every
null spelling checked in full, every status normalised, every date parsed):
for any resource, quirky or broken, the parser must build the same value or
raise the same error, naming the same field with the same reason, whether
its date cache is cold or warm.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate import CallStatus, InvalidResource, parse_call_resource
from callstate._core import _resource
from callstate._core._parse import MAX_NUMBER
from callstate._core._resource import normalize_call_status
from callstate._core._time import parse_timestamp
from callstate._core._values import CallResource

_OLD_NULLS = frozenset(("", "null", "NULL", "Null", "None", "none"))
_TEXT_FIELDS = (
    "account_sid",
    "parent_call_sid",
    "to",
    "direction",
    "answered_by",
    "price",
    "price_unit",
    "uri",
)


def careful_null(value: str) -> bool:
    if value in _OLD_NULLS:
        return True
    return len(value) <= 8 and value.strip().lower() in ("", "null", "none")


def _absent(value: object) -> bool:
    return value is None or (isinstance(value, str) and careful_null(value))


def _text(data: Mapping[str, object], name: str) -> str | None:
    value = data.get(name)
    if isinstance(value, str):
        if careful_null(value):
            return None
        if len(value) > 4_096:
            raise InvalidResource(name, "is longer than 4096 characters")
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


def _whole(data: Mapping[str, object], name: str) -> int | None:
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
        # Leading zeros count for nothing; past ten digits, no int is made at all.
        digits = text.lstrip("0")
        value = int(digits or "0") if len(digits) <= 10 else MAX_NUMBER + 1
    if not isinstance(value, int) or not 0 <= value <= MAX_NUMBER:
        raise InvalidResource(name, f"must be a whole number from 0 to {MAX_NUMBER}")
    return value


def careful_parse(data: object) -> CallResource:
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
        duration=_whole(data, "duration"),
        ring_duration=_whole(data, "ring_duration"),
        raw=tuple(data.items())
        if type(data) is dict
        else tuple((str(k), v) for k, v in data.items()),
        **texts,
    )


def outcome(parse: object, data: object) -> object:
    try:
        value = parse(data)  # type: ignore[operator]
    except InvalidResource as exc:
        return ("error", exc.field, str(exc))
    fields = {
        name: getattr(value, name)
        for name in ("date_created", "date_updated", "start_time", "end_time")
    }
    return (
        "value",
        value,
        value.raw,
        {k: (v, None if v is None else v.utcoffset()) for k, v in fields.items()},
    )


NULLISH = st.sampled_from(
    ["", "null", "NULL", "Null", "None", "none", " null ", "\tNone", "nUlL", " ", "n", "nul",
     "\u2003null", "nonE\n", "null!", "nullnull", "N/A", "no-answer"]
)  # fmt: skip
STATUSES = st.sampled_from(
    [s.value for s in CallStatus]
    + ["answered", "NO_ANSWER", "BUSY", "in_progress", "Canceled", " queued ", "in progress"]
    + ["wait-for-answer", "WAIT_FOR_ANSWER", "not-found", "NOT_FOUND"]  # Restcomm's own
)
TIMESTAMPS = (
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(9999, 12, 31),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(0))]),
    )
    .map(lambda d: d.replace(microsecond=0))
    .flatmap(lambda d: st.sampled_from([format_datetime(d), d.isoformat()]))
)
QUIRKS = st.sampled_from(
    ["Mon, 18 Jun 2018 17:55:27 UTC", "Mon, 18 Jun 2018 17:55:27 America/New_York",
     "Tue, 24 Nov 2026 10:15:32 +0000", "24 Nov 2026 10:15 GMT", "2026-11-24T10:15:31Z",
     "Tue, 31 Feb 2026 10:15:32 +0000", "2026-11-24T10:15:31", "soon"]
)  # fmt: skip
VALUES = (
    st.none()
    | NULLISH
    | STATUSES
    | TIMESTAMPS
    | QUIRKS
    | st.text(max_size=12)
    | st.sampled_from(["+" * 4_096, "+" * 4_097, "n" * 4_097, " " * 4_097])  # the length limit
    | st.integers(-5, 2**40)
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.just({"nested": 1})
)
BASE = {
    "sid": "CA" + "3" * 32,
    "account_sid": "AC" + "4" * 32,
    "status": "completed",
    "date_created": "Tue, 24 Nov 2026 10:15:30 +0000",
    "date_updated": "Tue, 24 Nov 2026 10:17:41 +0000",
    "start_time": "2026-11-24T10:15:31+00:00",
    "end_time": "null",
    "duration": "120",
    "price": None,
    "from": "+14155550100",
}
FIELDS = st.sampled_from(
    sorted({*BASE, *_TEXT_FIELDS, "ring_duration", "subresource_uris", "status"})
)


@given(st.dictionaries(FIELDS, VALUES, max_size=8), st.booleans())
def test_the_parser_agrees_with_the_careful_path(changes, cold):
    data = {**BASE, **changes}
    if cold:
        _resource._date_cache.clear()
    expected = outcome(careful_parse, data)
    assert outcome(parse_call_resource, data) == expected
    # Again, with every date it parsed now in the cache.
    assert outcome(parse_call_resource, data) == expected


@given(FIELDS, VALUES)
def test_each_field_alone_agrees_with_the_careful_path(name, value):
    # One field at a time: each field's own fast path meets every kind of value.
    data = {**BASE, name: value}
    expected = outcome(careful_parse, data)
    assert outcome(parse_call_resource, data) == expected
    assert outcome(parse_call_resource, data) == expected


@given(st.text(max_size=12) | NULLISH)
def test_the_null_check_agrees_with_the_careful_one(text):
    assert _resource._null_text(text) is careful_null(text)


@given(st.lists(TIMESTAMPS | QUIRKS, max_size=6))
def test_a_cached_date_is_the_date_parsed_afresh(texts):
    for text in texts + texts:
        data = {**BASE, "date_created": text}
        fresh = parse_timestamp(text)
        if isinstance(fresh, str):
            with pytest.raises(InvalidResource):
                parse_call_resource(data)
            assert text not in _resource._date_cache
        else:
            got = parse_call_resource(data).date_created
            assert got == fresh
            assert got is not None and got.tzinfo is not None
            assert got.utcoffset() == fresh.utcoffset()
            assert got.tzinfo == fresh.tzinfo


def test_the_date_cache_stays_bounded():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(_resource._DATE_CACHE_SIZE + 10):
        text = format_datetime(start + timedelta(seconds=n))
        parse_call_resource({**BASE, "date_updated": text})
    assert len(_resource._date_cache) <= _resource._DATE_CACHE_SIZE


def test_a_str_subclass_is_parsed_not_looked_up():
    class Odd(str):
        def __hash__(self) -> int:
            raise AssertionError("looked up in the cache")

    text = Odd("Tue, 24 Nov 2026 10:15:30 +0000")
    r = parse_call_resource({**BASE, "date_created": text})
    assert r.date_created == datetime(2026, 11, 24, 10, 15, 30, tzinfo=UTC)
