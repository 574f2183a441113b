"""Parsing status callbacks: both vocabularies, every timestamp form, typed errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote, quote_plus, unquote_plus, urlencode

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from callstate import (
    CallbackStatus,
    CallstateError,
    InvalidCallback,
    Limits,
    parse_callback,
    parse_form,
)
from callstate._core._form import decodes_plainly
from callstate._core._parse import (
    MAX_NUMBER,
    _delivery,
    parse_known,
    parse_split,
    split_form,
    split_known,
    unquote_ascii,
)
from callstate.testing import strategies as cst
from callstate.web._handler import refusal_status

BASE = {
    "AccountSid": "AC0f3c5b7e9d1a2b4c6d8e0f1a3b5c7d9e",
    "CallSid": "CA0123456789abcdef0123456789abcdef",
    "CallStatus": "ringing",
    "SequenceNumber": "1",
    "Timestamp": "Tue, 24 Nov 2026 10:15:32 +0000",
    "From": "+14155550100",
    "To": "sip:alice@example.com",
    "CallbackSource": "call-progress-events",
}


def body(**changes: str | None) -> bytes:
    params = {**BASE, **changes}
    return urlencode({k: v for k, v in params.items() if v is not None}).encode()


def test_a_plain_twilio_callback():
    d = parse_form(body())
    assert d.call_sid == BASE["CallSid"]
    assert d.sequence_number == 1
    assert d.call_status is CallbackStatus.RINGING
    assert d.timestamp == datetime(2026, 11, 24, 10, 15, 32, tzinfo=UTC)
    assert d.account_sid == BASE["AccountSid"]
    assert d.get("To") == "sip:alice@example.com"
    assert dict(d.params) == BASE


def test_unknown_parameters_are_kept_in_order():
    raw = body() + b"&VoicemailDetector=person_found&SipHeader_X-Tag=a&X-Odd=%E2%9C%93"
    d = parse_form(raw)
    assert d.get("VoicemailDetector") == "person_found"
    assert d.get_all("SipHeader_X-Tag") == ["a"]
    assert d.get("X-Odd") == "\u2713"
    assert [name for name, _ in d.params][-3:] == ["VoicemailDetector", "SipHeader_X-Tag", "X-Odd"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (body() + b"&From=%2B14155550100", "From"),  # a pair identical to one signed
        (body() + b"&From=%2B14155550199", "From"),
        (
            body() + b"&StatusCallbackEvent=ringing&StatusCallbackEvent=completed",
            "StatusCallbackEvent",
        ),
        (body() + b"&Fr%6Fm=x", "From"),  # an escaped name is still that name
        (body() + b"&X=1&Y=2&X=3&Y=4", "X"),  # the first name seen twice
        (body() + b"&" + b"N" * 100 + b"=1&" + b"N" * 100 + b"=1", "N" * 64 + "..."),
    ],
)
def test_a_repeated_name_is_refused(raw, field):
    # No provider repeats a parameter of a status callback, and a repeat is how a
    # signed callback is reshaped (Twilio's signature drops an identical pair).
    for source in (raw, raw.decode()):
        with pytest.raises(InvalidCallback) as caught:
            parse_form(source)
        assert (caught.value.field, caught.value.reason) == (field, "is repeated")
    pairs = split_form(raw)
    with pytest.raises(InvalidCallback, match="is repeated"):
        parse_callback(pairs)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("in-progress", CallbackStatus.IN_PROGRESS),
        ("IN_PROGRESS", CallbackStatus.IN_PROGRESS),
        ("answered", CallbackStatus.ANSWERED),
        ("Answered", CallbackStatus.ANSWERED),
        ("NO_ANSWER", CallbackStatus.NO_ANSWER),
        ("no-answer", CallbackStatus.NO_ANSWER),
        ("Busy", CallbackStatus.BUSY),
        ("completed", CallbackStatus.COMPLETED),
        ("canceled", CallbackStatus.CANCELED),
        ("queued", CallbackStatus.QUEUED),
    ],
)
def test_both_vocabularies_any_case(raw, status):
    assert parse_form(body(CallStatus=raw)).call_status is status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tue, 24 Nov 2026 10:15:32 +0000", datetime(2026, 11, 24, 10, 15, 32, tzinfo=UTC)),
        ("Mon, 18 Jun 2018 17:55:27 UTC", datetime(2018, 6, 18, 17, 55, 27, tzinfo=UTC)),
        ("Mon, 18 Jun 2018 17:55:27 GMT", datetime(2018, 6, 18, 17, 55, 27, tzinfo=UTC)),
        ("18 Jun 2018 17:55:27 -0500", datetime(2018, 6, 18, 22, 55, 27, tzinfo=UTC)),
        ("2026-11-24T10:15:32+00:00", datetime(2026, 11, 24, 10, 15, 32, tzinfo=UTC)),
    ],
)
def test_timestamp_forms(text, expected):
    ts = parse_form(body(Timestamp=text)).timestamp
    assert ts is not None and ts.tzinfo is not None
    assert ts == expected


def test_timestamp_with_an_iana_zone_name():
    ts = parse_form(body(Timestamp="Mon, 18 Jun 2018 17:55:27 America/New_York")).timestamp
    assert ts is not None
    assert ts.utcoffset() == timedelta(hours=-4)  # EDT in June
    assert ts.astimezone(UTC).hour == 21


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"CallSid": None}, "CallSid", "missing"),
        ({"CallStatus": None}, "CallStatus", "missing"),
        ({"SequenceNumber": None}, "SequenceNumber", "missing"),
        ({"CallSid": ""}, "CallSid", "empty"),
        ({"CallSid": "CA 12"}, "CallSid", "letters"),
        ({"CallStatus": "ringing-ish"}, "CallStatus", "not a call status"),
        ({"SequenceNumber": "-1"}, "SequenceNumber", "ASCII digits"),
        ({"SequenceNumber": "+1"}, "SequenceNumber", "ASCII digits"),
        ({"SequenceNumber": " 1"}, "SequenceNumber", "ASCII digits"),
        ({"SequenceNumber": "1_000"}, "SequenceNumber", "ASCII digits"),
        ({"SequenceNumber": "\u0663"}, "SequenceNumber", "ASCII digits"),
        ({"SequenceNumber": "99999999999"}, "SequenceNumber", "out of range"),
        ({"SequenceNumber": "2147483648"}, "SequenceNumber", "out of range"),
        ({"CallDuration": "1e3"}, "CallDuration", "ASCII digits"),
        ({"Timestamp": "yesterday"}, "Timestamp", "neither"),
        ({"Timestamp": "Tue, 24 Nov 2026 10:15:32 Mars/Olympus"}, "Timestamp", "time zone"),
        ({"Timestamp": "Tue, 24 Nov 2026 10:15:32 ../../etc/passwd"}, "Timestamp", "time zone"),
        ({"Timestamp": "Tue, 31 Feb 2026 10:15:32 +0000"}, "Timestamp", "not a real date"),
        ({"Timestamp": "Tue, 24 Foo 2026 10:15:32 +0000"}, "Timestamp", "month"),
        ({"Timestamp": "2026-11-24T10:15:32"}, "Timestamp", "no time zone"),
    ],
)
def test_bad_fields_name_the_field_and_the_reason(changes, field, reason):
    with pytest.raises(InvalidCallback) as caught:
        parse_form(body(**changes))
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert refusal_status(caught.value) == 400  # what a webhook answers it with
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        (body() + b"&CallStatus=busy", "CallStatus", "repeated"),
        (body() + b"&CallSid=CA1", "CallSid", "repeated"),
        (body() + b"&Call%53id=CA1", "CallSid", "repeated"),  # an escaped name is still a name
        (body().replace(b"&", b";"), "body", "';'"),
        (body() + b"&x=%ff", "x", "UTF-8"),
        (body() + b"&%ff=x", "body", "UTF-8"),  # a name that does not decode: the body's fault
        (b"\xff\xfe" + body(), "body", "UTF-8"),
        (body() + b"&=orphan", "body", "no name"),
        (b"x" * 20_000, "body", "larger than"),
    ],
)
def test_bad_bodies_name_the_field_and_the_reason(raw, field, reason):
    with pytest.raises(InvalidCallback) as caught:
        parse_form(raw)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_limits_are_configurable():
    tight = Limits(max_body_bytes=100)
    with pytest.raises(InvalidCallback, match="larger than 100"):
        parse_form(body(), limits=tight)
    with pytest.raises(ValueError, match="positive"):
        Limits(max_body_bytes=0)


@pytest.mark.parametrize(
    "extra",
    [
        [(f"f{i}", "1") for i in range(200)],  # past the old limit of 100 fields
        [("CallToken", "v" * 3_000)],  # past the old 2,048 characters
        [("n" * 100, "1")],  # past the old 64 characters of a name
        [("n" * 100, "é" * 2_000)],  # one long field that needs decoding
    ],
    ids=["many", "long-value", "long-name", "long-encoded"],
)
def test_fields_the_core_does_not_read_are_kept_however_long_or_many(extra):
    # Refusing them lost the event: a provider does not send a 4xx'd callback again.
    raw = body() + b"&" + urlencode(extra).encode()
    params = [*parse_form(body()).params, *extra]
    assert list(parse_form(raw).params) == params
    assert list(parse_callback(params).params) == params
    assert list(parse_callback(dict(params)).params) == params
    assert list(parse_callback(raw.decode()).params) == params


def test_the_whole_callback_is_what_is_bounded():
    # Given as parameters, the characters of the form body they would make at the least.
    params = [("CallSid", "CA1"), ("CallStatus", "ringing"), ("SequenceNumber", "1")]
    exact = len(urlencode(params))
    assert parse_callback(params, limits=Limits(max_body_bytes=exact)).call_sid == "CA1"
    with pytest.raises(InvalidCallback) as caught:
        parse_callback(params, limits=Limits(max_body_bytes=exact - 1))
    assert (caught.value.field, caught.value.reason) == (
        "params",
        f"hold more than {exact - 1} characters",
    )
    with pytest.raises(InvalidCallback, match="body: is larger than"):
        parse_form(urlencode(params), limits=Limits(max_body_bytes=exact - 1))


@pytest.mark.parametrize("name", ["max_fields", "max_name_length", "max_value_length"])
def test_the_old_per_field_limits_warn_that_they_refuse_nothing(name):
    with pytest.warns(DeprecationWarning, match=f"Limits.{name} no longer refuses anything"):
        limits = Limits(**{name: 3})
    many = body() + b"&" + urlencode([(f"f{i}", "long value") for i in range(5)]).encode()
    assert parse_form(many, limits=limits) == parse_form(many)


def test_parse_from_a_mapping_with_a_list_of_one_value():
    d = parse_callback({**BASE, "VoicemailDetector": ["person_found"]})
    assert d.get_all("VoicemailDetector") == ["person_found"]
    assert d == parse_form(urlencode({**BASE, "VoicemailDetector": "person_found"}))
    with pytest.raises(InvalidCallback, match="StatusCallbackEvent: is repeated"):
        parse_callback({**BASE, "StatusCallbackEvent": ["ringing", "completed"]})


def test_parse_from_a_mapping_rejects_repeats_of_critical_fields():
    with pytest.raises(InvalidCallback, match="CallStatus: is repeated"):
        parse_callback({**BASE, "CallStatus": ["ringing", "busy"]})


def test_parse_from_pairs_rejects_non_strings():
    with pytest.raises(InvalidCallback) as caught:
        parse_callback([("CallSid", 12)])  # type: ignore[list-item]
    assert caught.value.field == "CallSid"
    with pytest.raises(InvalidCallback):
        parse_callback(42)  # type: ignore[arg-type]


@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_the_library_error(raw):
    try:
        d = parse_form(raw)
    except InvalidCallback:
        return
    list(d.params)  # decoding the kept parameters later never fails either


@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_the_library_error(raw):
    try:
        list(parse_form(raw).params)
    except InvalidCallback:
        pass


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=20) | st.lists(st.text(max_size=5))))
def test_arbitrary_mappings_raise_only_the_library_error(params):
    try:
        parse_callback({**BASE, **params})
    except CallstateError as exc:
        assert isinstance(exc, InvalidCallback)


@given(st.lists(st.tuples(st.sampled_from(sorted(BASE)), st.text(max_size=40)), max_size=12))
def test_fuzzed_known_fields_raise_only_the_library_error(pairs):
    raw = urlencode(list(BASE.items()) + pairs)
    try:
        parse_form(raw)
    except InvalidCallback:
        pass


@given(cst.deliveries())
def test_the_fast_path_and_the_careful_path_agree(delivery):
    raw = urlencode(list(delivery.params))
    fast = parse_form(raw)
    careful = _delivery(split_form(raw))
    assert fast == careful == delivery
    assert list(fast.params) == list(careful.params)


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_unquote_ascii_is_unquote_plus_for_ascii(text):
    # Its precondition (the parser's fast path checks it): no non-ASCII escapes.
    assume(decodes_plainly(text))
    assert unquote_ascii(text) == unquote_plus(text)
    encoded = quote_plus(text)
    assert unquote_ascii(encoded) == text


@given(cst.deliveries())
def test_content_and_key(delivery):
    copy = parse_form(urlencode(list(delivery.params)))
    assert copy.key == delivery.key
    assert copy.content == delivery.content


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(9999, 12, 31),
        timezones=st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
            lambda m: timezone(timedelta(minutes=m))
        ),
    ).map(lambda d: d.replace(microsecond=0))
)
def test_the_canonical_timestamp_fast_path_agrees_with_the_general_parser(moment):
    from email.utils import format_datetime

    from callstate._core import _time

    text = format_datetime(moment)
    fast = _time._canonical(text)
    assert fast is not None, text
    assert fast == moment
    assert fast.utcoffset() == moment.utcoffset()
    general = _time._RFC2822.fullmatch(text)
    assert general is not None


@given(
    st.text(max_size=40)
    | st.builds(
        lambda day, mon, rest: f"{day}, {rest[:2]} {mon} {rest[2:]}",
        st.sampled_from(["Tue", "tue", "Xyz", "Mon"]),
        st.sampled_from(["Nov", "nov", "Foo", "Feb"]),
        st.text("0123456789 :+-", min_size=20, max_size=20),
    )
)
def test_the_canonical_fast_path_rejects_or_agrees(text):
    from callstate._core import _time

    fast = _time._canonical(text)
    if fast is not None:
        assert _time._general(text) == fast


@given(st.lists(st.tuples(st.text(max_size=8).filter(bool), st.text(max_size=12)), max_size=8))
def test_split_form_decodes_as_the_standard_library_does(pairs):
    from urllib.parse import parse_qsl

    raw = urlencode(pairs)
    try:
        ours = split_form(raw)
    except InvalidCallback:
        return
    assert ours == parse_qsl(raw, keep_blank_values=True)


# Digits as a provider might pad them: the number they spell, whatever the zeros in front.
_DIGITS = st.builds(
    lambda zeros, n: "0" * zeros + str(n),
    st.integers(0, 30) | st.integers(4_290, 6_000),  # past int()'s 4,300 digits too
    st.integers(0, 10**12) | st.sampled_from([MAX_NUMBER, MAX_NUMBER + 1, 0]),
)


@given(st.sampled_from(["SequenceNumber", "CallDuration"]), _DIGITS)
def test_a_number_is_read_whatever_its_leading_zeros(field, text):
    number = int(text.lstrip("0") or "0")
    limits = Limits()
    if number <= MAX_NUMBER:
        delivery = parse_form(body(**{field: text}), limits=limits)
        read = delivery.sequence_number if field == "SequenceNumber" else delivery.call_duration
        assert read == number
    else:
        with pytest.raises(InvalidCallback) as caught:
            parse_form(body(**{field: text}), limits=limits)
        assert caught.value.field == field
        assert "out of range" in caught.value.reason


# The parser's fast paths equal the plain path (from test_web_fast_paths.py).


KNOWN = ("CallSid", "CallStatus", "SequenceNumber", "Timestamp", "CallDuration", "AccountSid")


_field_values = st.one_of(
    st.sampled_from(["ringing", "COMPLETED", "no_answer", "x", "", "1", "007", "+", "%2B1"]),
    st.sampled_from(["Tue, 24 Nov 2026 10:15:32 +0000", "2026-11-24T10:15:32Z", "soon"]),
    st.sampled_from(["CA1", "CA 1", "C%41", "99999999999", "-1"]),
    st.text(max_size=12),
)


_pairs = st.lists(
    st.tuples(st.sampled_from(KNOWN) | st.text(max_size=6), _field_values), max_size=9
)


_raw_forms = st.one_of(
    _pairs.map(urlencode),
    _pairs.map(lambda pairs: "&".join(f"{n}={quote(v, safe='+%')}" for n, v in pairs)),
    st.text(alphabet="CalSdtusq=&%+2B4Fe0x;\u00e9", max_size=60),
    st.binary(max_size=60),
)


def _result(parse: object, raw: object) -> object:
    try:
        delivery = parse(raw)  # type: ignore[operator]
    except InvalidCallback as exc:
        return ("error", str(exc))
    return ("delivery", delivery, list(delivery.params))


@given(_raw_forms, st.sampled_from([Limits(), Limits(max_body_bytes=30)]))
def test_parsing_the_split_pairs_is_parsing_the_form(raw, limits):
    # The handler splits once (the signature needs the pairs), then parses the
    # pairs: the same delivery, or the same error, as parsing the raw form.
    try:
        pairs = split_form(raw, limits)
    except InvalidCallback:
        with pytest.raises(InvalidCallback):
            parse_form(raw, limits=limits)
        return
    expected = _result(lambda r: parse_form(r, limits=limits), raw)
    assert _result(parse_split, pairs) == expected
    assert _result(parse_split, tuple(pairs)) == expected
    # The handler's way: the pairs and, when no name repeats, the pairs by name.
    known, by_name = split_known(raw, limits)
    assert known == tuple(pairs)
    assert by_name == (dict(pairs) if len(dict(pairs)) == len(pairs) else None)
    assert _result(lambda k: parse_known(k, by_name), known) == expected


def _split_result(raw: object, limits: Limits) -> object:
    try:
        return split_form(raw, limits)  # type: ignore[arg-type]
    except InvalidCallback as exc:
        return str(exc)


@given(_raw_forms, st.sampled_from([Limits(max_body_bytes=30), Limits()]))
def test_a_remembered_field_is_read_as_it_was_first(raw, limits):
    # Fields read once are remembered: read again, under other limits or in
    # another body, they give what reading them afresh gives.
    fresh = _split_result(raw, limits)
    for other in (Limits(), Limits(max_body_bytes=30)):
        _split_result(raw, other)
        _split_result(raw + b"&" if isinstance(raw, bytes) else raw + "&", other)
        assert _split_result(raw, limits) == fresh


@given(cst.deliveries())
def test_parsing_split_pairs_of_any_delivery_gives_it_back(delivery):
    raw = urlencode(list(delivery.params))
    assert parse_split(split_form(raw)) == delivery


@given(st.lists(st.tuples(st.text(max_size=8).filter(bool), st.text(max_size=12)), max_size=8))
def test_a_remembered_decoding_is_the_decoding(pairs):
    from urllib.parse import parse_qsl

    raw = urlencode(pairs)
    try:
        first = split_form(raw)
    except InvalidCallback:
        return
    assert split_form(raw) == first == parse_qsl(raw, keep_blank_values=True)
    # "+" is a space only when encoded: a decoded value is never taken for encoded text.
    assert split_form(urlencode([(n, v) for n, v in first])) == first


def test_the_small_numbers_are_the_numbers():
    from callstate._core._parse import _SMALL_NUMBERS, _number

    assert all(_number("SequenceNumber", text) == n for text, n in _SMALL_NUMBERS.items())


# What the mutation run of _core/_parse.py showed unpinned.


@pytest.mark.parametrize("field", ["SequenceNumber", "CallDuration"])
def test_a_number_that_is_not_one_is_quoted_up_to_40_characters(field):
    for text in ("a" * 39, "a" * 40, "a" * 41, "1" * 20 + "x" * 30):
        with pytest.raises(InvalidCallback) as caught:
            parse_form(body(**{field: text}))
        assert caught.value.field == field
        assert caught.value.reason == f"must be a whole number of ASCII digits, not {text[:40]!r}"


def test_a_status_that_is_not_one_is_quoted_up_to_40_characters():
    for text in ("x" * 21, "x" * 40, "x" * 41, "ringing" * 9):
        with pytest.raises(InvalidCallback) as caught:
            parse_form(body(CallStatus=text))
        assert caught.value.field == "CallStatus"
        assert caught.value.reason == f"is not a call status: {text[:40]!r}"


def test_json_values_that_are_not_text_keep_their_characters():
    from callstate._core._parse import params_of_json

    assert params_of_json({"Extra": ["é", {"k": "ü"}], "n": 7, "s": "ß", "gone": None}) == [
        ("Extra", '["é",{"k":"ü"}]'),
        ("n", "7"),
        ("s", "ß"),
    ]


# Raw bodies as a provider or an attacker might write them: names escaped or
# holding "+", values escaped, holding "+" or "=", empty names, empty parts;
# the fast path must read each as the careful one (split, decode, then parse)
# does, and the split must be the standard library's.
_RAW_NAMES = st.sampled_from(
    [*KNOWN, "Call%53id", "CallStatu%73", "Call+Sid", "A+ B", "A +B", "X%20Y", "", "x"]
)
_RAW_VALUES = st.sampled_from(
    [
        "CA1",
        "CA%31",
        "ringing",
        "ringin%67",
        "no+answer",
        "ringing=1",
        "CA1=2",
        "1",
        "%31",
        "+1",
        "1%30",
        "1=",
        "",
        "+",
        "%2B1",
        "x",
    ]
)
_RAW_PARTS = st.tuples(_RAW_NAMES, _RAW_VALUES).map("=".join) | st.sampled_from(["", "x", "A+B"])
_joined = st.lists(_RAW_PARTS, max_size=7).map("&".join)


@given(_joined | _joined.map(str.encode))
@example("CallSid=CA1&CallStatus=ringing=1&SequenceNumber=1")  # "=" in a value
@example("=x")  # no field but one with no name
@example("Call%53id=CA1&CallStatus=ringing&SequenceNumber=1")  # an escaped known name
@example("A+ B=1&A +B=2")  # names that are the same once decoded
def test_the_fast_read_of_a_form_is_the_careful_one(raw):
    expected = _result(lambda r: parse_split(split_form(r)), raw)
    assert _result(parse_form, raw) == expected
    assert _result(parse_callback, raw) == expected


@given(_joined)
@example("CallSid=CA1&&CallStatus=ringing&A+B=1")
def test_a_raw_form_splits_as_the_standard_library_splits_it(raw):
    from urllib.parse import parse_qsl

    try:
        pairs = split_form(raw)
    except InvalidCallback as exc:
        assert (exc.field, exc.reason) == ("body", "has a field with no name")
        assert any(not unquote_plus(part.partition("=")[0]) for part in raw.split("&") if part)
    else:
        assert pairs == parse_qsl(raw, keep_blank_values=True)
        assert _result(parse_callback, raw) == _result(parse_callback, pairs)


@given(
    st.sampled_from(["CallSid", "CallStatus", "SequenceNumber", "CallDuration", "AccountSid"]),
    _RAW_VALUES,
)
def test_a_known_field_is_read_decoded_on_either_path(name, value):
    fields = {"CallSid": "CA1", "CallStatus": "ringing", "SequenceNumber": "1", name: value}
    raw = "&".join(f"{n}={v}" for n, v in fields.items())
    decoded = [(n, unquote_plus(v)) for n, v in fields.items()]
    assert _result(parse_form, raw) == _result(parse_callback, decoded)
