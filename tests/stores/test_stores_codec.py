"""Events survive the trip to JSON and back, exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callstate import (
    CallbackStatus,
    CallRegistered,
    CallResource,
    CallStatus,
    Delivery,
    DeliveryAccepted,
    DuplicateIgnored,
    Event,
    ReconciliationRequested,
    ResourceObserved,
    StoreError,
    UsageError,
    parse_form,
)
from callstate.stores._codec import _ENCODER, _dumps, decode, delivery_key, encode
from callstate.testing.strategies import form_bodies

ZONES = [ZoneInfo(k) for k in ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "UTC")]
offsets = st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
zones = st.one_of(st.just(UTC), offsets, st.sampled_from(ZONES))
times = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=zones
)
maybe_times = st.none() | times
sids = st.text("ABCDEFabcdef0123456789", min_size=2, max_size=34)
texts = st.text(max_size=20)
counts = st.none() | st.integers(0, 2**31 - 1)
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def deliveries(draw: st.DrawFn, sid: str) -> Delivery:
    return Delivery(
        call_sid=sid,
        sequence_number=draw(st.integers(0, 2**31 - 1)),
        call_status=draw(st.sampled_from(CallbackStatus)),
        timestamp=draw(maybe_times),
        call_duration=draw(counts),
        account_sid=draw(st.none() | st.text(min_size=1, max_size=20)),
        params=tuple(draw(st.lists(st.tuples(texts, texts), max_size=8))),
    )


@st.composite
def resources(draw: st.DrawFn, sid: str) -> CallResource:
    text = st.none() | texts
    return CallResource(
        sid=sid,
        status=draw(st.sampled_from(CallStatus)),
        account_sid=draw(text),
        parent_call_sid=draw(text),
        to=draw(text),
        from_=draw(text),
        direction=draw(text),
        answered_by=draw(text),
        date_created=draw(maybe_times),
        date_updated=draw(maybe_times),
        start_time=draw(maybe_times),
        end_time=draw(maybe_times),
        duration=draw(counts),
        ring_duration=draw(counts),
        price=draw(text),
        price_unit=draw(text),
        uri=draw(text),
        raw=tuple(draw(st.lists(st.tuples(texts, json_values), max_size=6))),
    )


@st.composite
def events(draw: st.DrawFn) -> Event:
    sid = draw(sids)
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return DeliveryAccepted(delivery=draw(deliveries(sid)), received_at=draw(maybe_times))
    if kind == 1:
        return DuplicateIgnored(
            call_sid=sid,
            sequence_number=draw(st.integers(0, 2**31 - 1)),
            received_at=draw(maybe_times),
        )
    if kind == 2:
        return ResourceObserved(resource=draw(resources(sid)), observed_at=draw(maybe_times))
    if kind == 3:
        return CallRegistered(
            call_sid=sid,
            placed_at=draw(times),
            ring_timeout=draw(st.none() | st.timedeltas(min_value=timedelta(0))),
        )
    return ReconciliationRequested(call_sid=sid, at=draw(times))


def _times_of(event: Event) -> list[datetime | None]:
    if isinstance(event, DeliveryAccepted):
        return [event.delivery.timestamp, event.received_at]
    if isinstance(event, ResourceObserved):
        r = event.resource
        return [r.date_created, r.date_updated, r.start_time, r.end_time, event.observed_at]
    if isinstance(event, CallRegistered):
        return [event.placed_at]
    if isinstance(event, ReconciliationRequested):
        return [event.at]
    return [event.received_at]


@settings(max_examples=100)
@given(events())
def test_decode_inverts_encode(event: Event) -> None:
    back = decode(*encode(event))
    assert back == event
    assert type(back) is type(event)
    if isinstance(event, ResourceObserved):
        assert isinstance(back, ResourceObserved)
        assert back.resource.raw == event.resource.raw  # raw is not part of ==
    if isinstance(event, DeliveryAccepted):
        assert isinstance(back, DeliveryAccepted)
        assert list(back.delivery.params) == list(event.delivery.params)
    for original, copy in zip(_times_of(event), _times_of(back), strict=True):
        if original is not None:
            assert copy is not None
            assert copy.utcoffset() == original.utcoffset()
            assert copy.tzinfo == original.tzinfo or not isinstance(original.tzinfo, ZoneInfo)


@settings(max_examples=50)
@given(st.data())
def test_the_delivery_key_is_the_identity_of_a_copy(data: st.DataObject) -> None:
    one = data.draw(deliveries("CA1"))
    copy = Delivery(
        call_sid=one.call_sid,
        sequence_number=one.sequence_number,
        call_status=one.call_status,
        timestamp=None if one.timestamp is None else one.timestamp.astimezone(UTC),
        call_duration=one.call_duration,
        params=(("Other", "params"),),
    )
    assert delivery_key(copy) == delivery_key(one)
    other = data.draw(deliveries("CA1"))
    same = (other.sequence_number, other.call_status, other.call_duration) == (
        one.sequence_number,
        one.call_status,
        one.call_duration,
    ) and (other.timestamp is None) == (one.timestamp is None)
    if not same:
        assert delivery_key(other) != delivery_key(one)


def test_what_json_cannot_hold_is_a_usage_error() -> None:
    resource = CallResource(sid="CA1", status=CallStatus.BUSY, raw=(("when", datetime.now(UTC)),))
    with pytest.raises(UsageError, match="resource"):
        encode(ResourceObserved(resource=resource))
    with pytest.raises(UsageError):
        encode("not an event")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "text"),
    [("delivery", "{"), ("delivery", "{}"), ("nonsense", "{}"), ("registered", '{"sid":"x"}')],
)
def test_an_unreadable_stored_event_is_a_store_error(kind: str, text: str) -> None:
    with pytest.raises(StoreError, match=kind):
        decode(kind, text)


@pytest.mark.parametrize(
    "when",
    [
        datetime(2000, 4, 2, 2, 30, tzinfo=ZoneInfo("America/New_York")),  # in the DST gap
        datetime(2000, 10, 29, 1, 30, tzinfo=ZoneInfo("America/New_York")),  # first 1:30
        datetime(2000, 10, 29, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York")),  # second
    ],
)
def test_a_named_zone_keeps_wall_time_fold_and_offset(when: datetime) -> None:
    back = decode(*encode(CallRegistered(call_sid="CA1", placed_at=when)))
    assert isinstance(back, CallRegistered)
    again = back.placed_at
    assert (again.replace(tzinfo=None), again.fold, again.utcoffset(), again.tzinfo) == (
        when.replace(tzinfo=None),
        when.fold,
        when.utcoffset(),
        when.tzinfo,
    )


@settings(max_examples=200)
@given(json_values | st.tuples(texts, json_values) | st.lists(st.tuples(texts, texts)))
def test_the_reused_json_encoder_writes_what_the_stdlib_encoder_writes(value: Any) -> None:
    assert _dumps(value) == _ENCODER.encode(value)


@pytest.mark.parametrize(
    ("value", "error"),
    [([float("nan")], ValueError), ({"x": float("inf")}, ValueError), ([object()], TypeError)],
)
def test_the_reused_json_encoder_refuses_what_the_stdlib_encoder_refuses(
    value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        _ENCODER.encode(value)
    with pytest.raises(error):
        _dumps(value)


@settings(max_examples=150)
@given(
    form_bodies(),
    # Distinct names: a repeated one is refused (no provider repeats a parameter).
    st.lists(
        st.tuples(st.text("xyzXYZ_", min_size=1, max_size=8), texts),
        max_size=4,
        unique_by=lambda pair: pair[0],
    ),
    maybe_times,
)
def test_a_parsed_form_is_stored_as_received_and_read_back_the_same(
    body: bytes, extra: list[tuple[str, str]], received_at: datetime | None
) -> None:
    if extra:  # unknown parameters of any text, percent-encoded as a provider would
        body += b"&" + urlencode(extra).encode("ascii")
    delivery = parse_form(body)
    event = DeliveryAccepted(delivery=delivery, received_at=received_at)
    kind, text = encode(event)
    back = decode(kind, text)
    assert back == event
    assert isinstance(back, DeliveryAccepted)
    assert list(back.delivery.params) == list(delivery.params)
    form = delivery.params.form_body
    if form is not None:  # the parser kept the body: it is what is stored
        assert back.delivery.params.form_body == form
        assert json.loads(text)[6] == form


@pytest.mark.parametrize("form", ["CallSid=CA1&Caller=%C3%BC", "CallSid=CA1&Caller=\u00fc"])
def test_a_stored_form_that_would_not_decode_cleanly_is_a_store_error(form: str) -> None:
    text = json.dumps(["CA1", 0, "ringing", None, None, None, form, None])
    with pytest.raises(StoreError, match="delivery"):
        decode("delivery", text)
