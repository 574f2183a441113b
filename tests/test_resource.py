"""The Call resource, parsed tolerantly."""

from __future__ import annotations

import json
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
