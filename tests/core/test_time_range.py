"""Every instant that comes in is one callstate can hold, or it is refused.

A datetime near the ends of its range (year 1 at +01:00 is year 0 in UTC)
once parsed, was stored, and then broke every read of the call. These laws
draw instants from datetime's whole range, at every offset, through each way
in: a callback's ``Timestamp``, a Call resource's dates, a ``received_at``, a
command built by hand, a ``Tick``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate import (
    CallBook,
    CallResource,
    Decider,
    Delivery,
    InvalidCallback,
    InvalidResource,
    InvalidValue,
    Reconcile,
    RecordDelivery,
    RegisterCall,
    Tick,
    parse_call_resource,
    parse_form,
)
from callstate._core._report import state_json
from callstate._core._time import EARLIEST, LATEST, OUT_OF_RANGE, parse_timestamp

OFFSETS = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
MOMENTS = st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=OFFSETS).map(
    lambda moment: moment.replace(microsecond=0)
)
# The ends of the range, where the trouble is, as often as the middle.
EDGES = st.one_of(
    MOMENTS,
    st.builds(
        lambda day, offset: day.replace(tzinfo=offset),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 3)),
        OFFSETS,
    ),
    st.builds(
        lambda day, offset: day.replace(tzinfo=offset),
        st.datetimes(min_value=datetime(9999, 12, 29), max_value=datetime.max),
        OFFSETS,
    ),
).map(lambda moment: moment.replace(microsecond=0))


def inside(moment: datetime) -> bool:
    """Whether ``moment`` lies in the range, worked out without converting it to UTC."""
    naive_utc = moment.replace(tzinfo=None)
    offset = moment.utcoffset()
    assert offset is not None
    # Compare the local wall time with the bounds moved by the offset instead.
    low = EARLIEST.replace(tzinfo=None) + offset
    high = LATEST.replace(tzinfo=None) + offset
    return low <= naive_utc <= high


def readable(book: CallBook, call_sid: str) -> None:
    """Everything a reader asks of the call works (what ``callstate replay`` prints)."""
    state = book.state(call_sid)
    state_json(state)
    assert state.overdue_since is None or state.overdue_since.tzinfo is not None
    assert state.ring_time is None or isinstance(state.ring_time, timedelta)
    assert state.talk_time is None or isinstance(state.talk_time, timedelta)


@given(EDGES)
def test_a_timestamp_parses_to_itself_or_is_out_of_range(moment):
    for text in (format_datetime(moment), moment.isoformat()):
        parsed = parse_timestamp(text)
        if inside(moment):
            assert parsed == moment, text
        else:
            assert parsed == OUT_OF_RANGE, text


@given(EDGES, EDGES)
def test_a_callback_timestamp_is_refused_or_every_read_works(moment, received):
    body = urlencode(
        {
            "CallSid": "CA1",
            "CallStatus": "completed",
            "SequenceNumber": "3",
            "Timestamp": format_datetime(moment),
            "CallDuration": "5",
        }
    ).encode()
    try:
        delivery = parse_form(body)
    except InvalidCallback as exc:
        assert not inside(moment)
        assert (exc.field, exc.reason) == ("Timestamp", OUT_OF_RANGE)
        return
    assert inside(moment)
    book = CallBook()
    try:
        book.record(delivery, received)
    except InvalidValue as exc:
        assert not inside(received)
        assert (exc.field, exc.reason) == ("received_at", OUT_OF_RANGE)
        return
    assert inside(received)
    readable(book, "CA1")
    assert book.state("CA1").timeline[-1].at == moment


@given(EDGES, st.sampled_from(["date_created", "date_updated", "start_time", "end_time"]))
def test_a_resource_date_is_refused_or_every_read_works(moment, field):
    data = {"sid": "CA1", "status": "completed", field: moment.isoformat()}
    try:
        resource = parse_call_resource(data)
    except InvalidResource as exc:
        assert not inside(moment)
        assert (exc.field, exc.reason) == (field, OUT_OF_RANGE)
        return
    assert inside(moment)
    book = CallBook()
    book.handle(Reconcile(resource=resource))
    readable(book, "CA1")


@given(EDGES)
def test_commands_and_values_built_by_hand_check_their_instants(moment):
    builds = {
        "received_at": lambda: RecordDelivery(
            delivery=parse_form(b"CallSid=CA1&CallStatus=ringing&SequenceNumber=1"),
            received_at=moment,
        ),
        "observed_at": lambda: Reconcile(
            resource=CallResource(sid="CA1", status="busy"), observed_at=moment
        ),
        "placed_at": lambda: RegisterCall(call_sid="CA1", placed_at=moment),
        "now": lambda: Tick(now=moment),
        "timestamp": lambda: Delivery(
            call_sid="CA1", sequence_number=1, call_status="ringing", timestamp=moment
        ),
        "end_time": lambda: CallResource(sid="CA1", status="busy", end_time=moment),
    }
    for field, build in builds.items():
        if inside(moment):
            build()
        else:
            with pytest.raises(InvalidValue) as caught:
                build()
            assert (caught.value.field, caught.value.reason) == (field, OUT_OF_RANGE)


@given(EDGES, st.integers(0, 3 * 24 * 3600))
def test_a_call_placed_and_ticked_at_any_instant_stays_readable(moment, later):
    if not inside(moment):
        return
    # Capped at LATEST before adding: local wall time past 9999-12-31 would overflow.
    now = moment + min(timedelta(seconds=later), LATEST - moment)
    book = CallBook(Decider(max_call_length=timedelta(days=1)))
    book.handle(RegisterCall(call_sid="CA1", placed_at=moment))
    requests = book.tick(now)
    assert len(requests) == (now.timestamp() - moment.timestamp() > 60 + 24 * 3600)
    readable(book, "CA1")
    assert book.state("CA1").overdue_since == (now if requests else None)


def test_a_stored_instant_past_the_ends_reads_as_the_end():
    # Only events stored before instants were range-checked can hold one.
    from callstate._core._call import _dt

    assert _dt(EARLIEST.timestamp() - 3 * 86400) == EARLIEST
    assert _dt(LATEST.timestamp() + 3 * 86400) == LATEST
    assert _dt(float("nan")) is None


def test_the_ends_of_the_range_themselves():
    assert parse_timestamp("0001-01-02T00:00:00+00:00") == EARLIEST
    assert parse_timestamp("9999-12-30T00:00:00+00:00") == LATEST
    assert parse_timestamp("Mon, 01 Jan 0001 00:00:00 +0100") == OUT_OF_RANGE
    assert parse_timestamp("9999-12-31T23:59:59-23:59") == OUT_OF_RANGE
    assert parse_timestamp("9999-12-30T00:00:01+00:00") == OUT_OF_RANGE


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Delivery(call_sid="CA1", sequence_number=1, call_status="bogus"), "call_status"),
        (lambda: Delivery(call_sid="", sequence_number=1, call_status="busy"), "call_sid"),
        (
            lambda: Delivery(call_sid="CA1", sequence_number=-1, call_status="busy"),
            "sequence_number",
        ),
        (
            lambda: Delivery(
                call_sid="CA1",
                sequence_number=1,
                call_status="busy",
                timestamp=datetime(2026, 1, 1),
            ),
            "timestamp",
        ),
        (lambda: CallResource(sid="CA1", status="bogus"), "status"),
        (lambda: Decider(dialect="nope"), "dialect"),
        (lambda: Tick(now=datetime(2026, 1, 1)), "now"),
        (
            lambda: CallBook().record(
                parse_form(b"CallSid=CA1&CallStatus=busy&SequenceNumber=1"), datetime(2026, 1, 1)
            ),
            "received_at",
        ),
    ],
)
def test_a_value_built_by_hand_names_its_bad_field(build, field):
    with pytest.raises(InvalidValue) as caught:
        build()
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)  # what these raised before, still true
