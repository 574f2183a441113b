"""The Call resource, parsed tolerantly.

Below the examples, ``careful_parse`` is the parser written plainly (every
null spelling checked in full, every status normalised, every date parsed
afresh): for any resource, quirky or broken, the parser must build the same
value or raise the same error, naming the same field with the same reason,
whether its date cache is cold or warm.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate import CallStatus, InvalidResource, parse_call_resource, parse_call_resources
from callstate._core import _resource
from callstate._core._parse import MAX_NUMBER
from callstate._core._resource import normalize_call_status
from callstate._core._time import parse_timestamp
from callstate._core._values import CallResource

TWILIO = {
    "sid": "CA" + "3" * 32,
    "account_sid": "AC" + "4" * 32,
    "status": "completed",
    "date_created": "Tue, 24 Nov 2026 10:15:30 +0000",
    "date_updated": "Tue, 24 Nov 2026 10:17:41 +0000",
    "start_time": "2026-11-24T10:15:31+00:00",
    "end_time": "2026-11-24T10:17:40Z",
    "duration": "120",
    "price": "-0.0130",
    "price_unit": "USD",
    "direction": "outbound-api",
    "from": "+14155550100",
    "to": "+14155550199",
    "answered_by": None,
    "subresource_uris": {"notifications": "/x"},
}


def test_a_twilio_resource():
    r = parse_call_resource(TWILIO)
    assert r.status is CallStatus.COMPLETED
    assert r.duration == 120
    assert r.date_created == datetime(2026, 11, 24, 10, 15, 30, tzinfo=UTC)
    assert r.end_time == datetime(2026, 11, 24, 10, 17, 40, tzinfo=UTC)
    assert r.from_ == "+14155550100"
    assert dict(r.raw)["subresource_uris"] == {"notifications": "/x"}


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("NO_ANSWER", CallStatus.NO_ANSWER),
        ("BUSY", CallStatus.BUSY),
        ("in_progress", CallStatus.IN_PROGRESS),
        ("Canceled", CallStatus.CANCELED),
    ],
)
def test_status_spellings(raw, status):
    assert parse_call_resource({**TWILIO, "status": raw}).status is status


def test_null_strings_and_numbers_as_text():
    r = parse_call_resource({**TWILIO, "duration": "null", "end_time": "null", "price": "null"})
    assert r.duration is None
    assert r.end_time is None
    assert r.price is None
    assert parse_call_resource({**TWILIO, "duration": 7}).duration == 7


def test_a_forked_call_is_an_array():
    other = {**TWILIO, "sid": "CA" + "5" * 32}
    assert [r.sid for r in parse_call_resources([TWILIO, other])] == [TWILIO["sid"], other["sid"]]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**TWILIO, "sid": None}, "sid"),
        ({**TWILIO, "status": "ended"}, "status"),
        ({**TWILIO, "status": "null"}, "status"),
        ({**TWILIO, "duration": "-3"}, "duration"),
        ({**TWILIO, "duration": True}, "duration"),
        ({**TWILIO, "date_created": "soon"}, "date_created"),
        ({**TWILIO, "to": {"x": 1}}, "to"),
        ([], "resource"),
        ("nope", "resource"),
    ],
)
def test_bad_resources_name_the_field(data, field):
    with pytest.raises(InvalidResource) as caught:
        parse_call_resources(data)
    assert caught.value.field == field


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.dictionaries(st.sampled_from(sorted(TWILIO)), json_values))
def test_arbitrary_json_raises_only_the_library_error(changes):
    try:
        parse_call_resource({**TWILIO, **changes})
    except InvalidResource:
        pass


@pytest.mark.parametrize("value", ["9" * 5000, 1e300, float("nan"), "-1", "1.5", 2**40])
def test_counts_out_of_range_are_typed_errors(value):
    from callstate._core._resource import whole_number

    with pytest.raises(InvalidResource) as caught:
        whole_number({"page_size": value}, "page_size")
    assert caught.value.field == "page_size"


@given(
    st.builds(
        lambda zeros, n: "0" * zeros + str(n),
        st.integers(0, 30) | st.integers(4_290, 6_000),  # past int()'s 4,300 digits too
        st.integers(0, 10**12) | st.sampled_from([MAX_NUMBER, MAX_NUMBER + 1, 0]),
    )
)
def test_a_count_is_read_whatever_its_leading_zeros(text):
    from callstate._core._resource import whole_number

    number = int(text.lstrip("0") or "0")
    if number <= MAX_NUMBER:
        assert whole_number({"duration": text}, "duration") == number
    else:
        with pytest.raises(InvalidResource) as caught:
            whole_number({"duration": text}, "duration")
        assert caught.value.field == "duration"
        assert f"from 0 to {MAX_NUMBER}" in caught.value.reason


# Every status each provider's server writes into a Call resource, and what
# callstate reads it as. Twilio: the ``status`` enum of its Call resource
# (queued, ringing, in-progress, completed, busy, failed, no-answer, canceled).
# Restcomm Connect: its ``CallStateChanged.State``, which the call-record
# writers store as the value (``toString()``: ``wait-for-answer``) or as the
# Java name (``name()``: ``WAIT_FOR_ANSWER``), depending on the writer.
TWILIO_STATUSES = {
    "queued": CallStatus.QUEUED,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "failed": CallStatus.FAILED,
    "no-answer": CallStatus.NO_ANSWER,
    "canceled": CallStatus.CANCELED,
}
RESTCOMM_STATES = {
    ("QUEUED", "queued"): CallStatus.QUEUED,
    ("RINGING", "ringing"): CallStatus.RINGING,
    ("CANCELED", "canceled"): CallStatus.CANCELED,
    ("BUSY", "busy"): CallStatus.BUSY,
    ("NOT_FOUND", "not-found"): CallStatus.FAILED,
    ("FAILED", "failed"): CallStatus.FAILED,
    ("NO_ANSWER", "no-answer"): CallStatus.NO_ANSWER,
    ("WAIT_FOR_ANSWER", "wait-for-answer"): CallStatus.RINGING,
    ("IN_PROGRESS", "in-progress"): CallStatus.IN_PROGRESS,
    ("COMPLETED", "completed"): CallStatus.COMPLETED,
}
EVERY_WRITTEN_STATUS = [
    *(("twilio", raw, status) for raw, status in TWILIO_STATUSES.items()),
    *(
        ("restcomm", raw, status)
        for spellings, status in RESTCOMM_STATES.items()
        for raw in spellings
    ),
]
#: A call record as Restcomm Connect's CallDetailRecordConverter writes it in JSON.
RESTCOMM = {
    "sid": "CA" + "6" * 32,
    "instance_id": "ID" + "7" * 32,
    "date_created": "Tue, 24 Nov 2026 10:15:30 +0000",
    "date_updated": "Tue, 24 Nov 2026 10:15:31 +0000",
    "account_sid": "AC" + "4" * 32,
    "to": "1999",
    "from": "alice",
    "status": "queued",
    "start_time": "2026-11-24T10:15:30.000Z",
    "duration": 0,
    "price_unit": "USD",
    "direction": "inbound",
    "api_version": "2012-04-24",
    "caller_name": "alice",
    "uri": "/restcomm/2012-04-24/Accounts/AC" + "4" * 32 + "/Calls/CA" + "6" * 32 + ".json",
    "ring_duration": 2,
    "subresource_uris": {},
}


@pytest.mark.parametrize(("profile", "raw", "status"), EVERY_WRITTEN_STATUS)
def test_every_status_a_provider_writes_is_read(profile, raw, status):
    base = TWILIO if profile == "twilio" else RESTCOMM
    resource = parse_call_resource({**base, "status": raw})
    assert resource.status is status
    assert dict(resource.raw)["status"] == raw  # as received, whatever it was read as


def test_restcomm_states_that_are_not_twilios_are_a_ringing_and_a_failed_call():
    # wait-for-answer: an inbound call whose 200 OK is held back; not answered yet.
    waiting = parse_call_resource({**RESTCOMM, "status": "wait-for-answer"}).status
    assert (waiting, waiting.is_final) == (CallStatus.RINGING, False)
    # not-found: the SIP 404, no such callee; over, never connected.
    missing = parse_call_resource({**RESTCOMM, "status": "NOT_FOUND"}).status
    assert (missing, missing.is_final) == (CallStatus.FAILED, True)


def test_every_restcomm_status_is_fetched_through_the_client_over_a_socket():
    # Restcomm Connect answers GET Calls/{sid}.json with its call record; the
    # client reads each status it writes (this was a BadResponse for two).
    from callstate.client import Calls, CallsApi, Profile
    from callstate.client.urllib import UrllibTransport
    from callstate.testing.servers import serve_wsgi

    answer: dict[str, object] = {}

    def app(environ, start_response):
        body = json.dumps(answer).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    with serve_wsgi(app) as base:
        api = CallsApi(
            account_sid=RESTCOMM["account_sid"], token="t", profile=Profile.restcomm(base)
        )
        calls = Calls(api, UrllibTransport(timeout=10))
        for (name, value), status in RESTCOMM_STATES.items():
            for raw in (name, value):
                answer = {**RESTCOMM, "status": raw}
                assert calls.fetch(str(RESTCOMM["sid"])).status is status, raw


# The parser against the plain, careful reading, with its null check and date cache.

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
        _resource._parsed_date.cache_clear()
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
            with pytest.raises(InvalidResource, match=fresh):
                parse_call_resource(data)
        else:
            got = parse_call_resource(data).date_created
            assert got == fresh
            assert got is not None and got.tzinfo is not None
            assert got.utcoffset() == fresh.utcoffset()
            assert got.tzinfo == fresh.tzinfo


def test_the_date_cache_stays_bounded():
    size = _resource._parsed_date.cache_info().maxsize
    assert size is not None
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(size + 10):
        text = format_datetime(start + timedelta(seconds=n))
        parse_call_resource({**BASE, "date_updated": text})
    assert _resource._parsed_date.cache_info().currsize <= size


def test_a_str_subclass_is_parsed_not_looked_up():
    class Odd(str):
        def __hash__(self) -> int:
            raise AssertionError("looked up in the cache")

    text = Odd("Tue, 24 Nov 2026 10:15:30 +0000")
    r = parse_call_resource({**BASE, "date_created": text})
    assert r.date_created == datetime(2026, 11, 24, 10, 15, 30, tzinfo=UTC)
