"""The Call resource, parsed tolerantly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate import CallStatus, InvalidResource, parse_call_resource, parse_call_resources
from callstate._core._parse import MAX_NUMBER

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
