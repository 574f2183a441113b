"""The parser at every edge: each limit at exactly its value and one past it, on
every path in (bytes, text, pairs, a mapping; the fast path and the careful
one; a field read before, under other limits), and the defaults pinned.

Only ``max_body_bytes`` refuses a callback; ``max_fields``, ``max_name_length``
and ``max_value_length`` are deprecated and refuse nothing (issue 20.4: a field
the core does not read must never be why a delivery is lost).
"""

from __future__ import annotations

import os
import warnings
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate import CallbackStatus, Delivery, InvalidCallback, Limits, parse_callback
from callstate._core._parse import (
    DEFAULT_LIMITS,
    normalize_status,
    parse_form,
    parse_known,
    parse_split,
    split_form,
    split_known,
)

SID = "CA" + "6" * 32
BASE = [("CallSid", SID), ("CallStatus", "ringing"), ("SequenceNumber", "1")]


def deprecated(**kwargs: int) -> Limits:
    """``Limits`` with the deprecated per-field limits set (their warning checked)."""
    with pytest.warns(DeprecationWarning, match="no longer refuses anything"):
        return Limits(**kwargs)


def every_way(pairs: list[tuple[str, str]], limits: Limits = DEFAULT_LIMITS) -> list[object]:
    """What each way in makes of ``pairs``: a Delivery, or the error's (field, reason)."""
    body = urlencode(pairs)
    mapping: dict[str, list[str]] = {}
    for name, value in pairs:
        mapping.setdefault(name, []).append(value)

    def attempt(make: object) -> object:
        try:
            return make()  # type: ignore[operator]
        except InvalidCallback as exc:
            return (exc.field, exc.reason)

    ways = [
        lambda: parse_callback(body.encode(), limits=limits),
        lambda: parse_callback(body, limits=limits),
        lambda: parse_form(body.encode(), limits=limits),
        lambda: parse_split(split_form(body, limits)),
        lambda: parse_known(*split_known(body.encode(), limits)),
    ]
    return [attempt(w) for w in ways]


def agree(pairs: list[tuple[str, str]], limits: Limits = DEFAULT_LIMITS) -> object:
    found = every_way(pairs, limits)
    assert all(f == found[0] for f in found), found
    return found[0]


def from_params(pairs: list[tuple[str, str]], limits: Limits = DEFAULT_LIMITS) -> object:
    mapping: dict[str, list[str]] = {}
    for name, value in pairs:
        mapping.setdefault(name, []).append(value)
    out = []
    for source in (pairs, iter(pairs), mapping):
        try:
            out.append(parse_callback(source, limits=limits))
        except InvalidCallback as exc:
            out.append((exc.field, exc.reason))
    assert out[0] == out[1]
    return out[0]


def test_the_default_limits():
    assert Limits() == DEFAULT_LIMITS
    assert (
        DEFAULT_LIMITS.max_body_bytes,
        DEFAULT_LIMITS.max_fields,
        DEFAULT_LIMITS.max_name_length,
        DEFAULT_LIMITS.max_value_length,
    ) == (16_384, 100, 64, 2_048)


@pytest.mark.parametrize(
    "name", ["max_body_bytes", "max_fields", "max_name_length", "max_value_length"]
)
@pytest.mark.parametrize("value", [0, -1, True, 1.0, "5", None])
def test_limits_must_be_positive_integers(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        Limits(**{name: value})


def test_a_limit_of_one_is_allowed():
    assert Limits(max_body_bytes=1).max_body_bytes == 1
    for name in ("max_fields", "max_name_length", "max_value_length"):
        assert getattr(deprecated(**{name: 1}), name) == 1


def test_only_a_deprecated_limit_set_otherwise_warns():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Limits(max_body_bytes=5, max_fields=100, max_name_length=64, max_value_length=2_048)


@pytest.mark.parametrize("fresh", [True, False])
def test_max_value_length_refuses_nothing(fresh):
    value = "v" * 300
    if not fresh:  # the same field read before, under the default limits
        agree([*BASE, ("Extra", value)])
    for limits in (DEFAULT_LIMITS, deprecated(max_value_length=299)):
        assert agree([*BASE, ("Extra", value)], limits) == agree([*BASE, ("Extra", value)])
        assert isinstance(agree([*BASE, ("Extra", value)], limits), Delivery)
        assert isinstance(from_params([*BASE, ("Extra", value)], limits), Delivery)
        escaped = [*BASE, ("Extra", "é" * 150)]
        assert isinstance(agree(escaped, limits), Delivery)


@pytest.mark.parametrize("fresh", [True, False])
def test_max_name_length_refuses_nothing(fresh):
    name = "N" * 40
    if not fresh:
        agree([*BASE, (name, "x")])
    for limits in (DEFAULT_LIMITS, deprecated(max_name_length=39)):
        assert isinstance(agree([*BASE, (name, "x")], limits), Delivery)
        assert isinstance(from_params([*BASE, (name, "x")], limits), Delivery)
        assert isinstance(agree([*BASE, ("é" * 20, "x")], limits), Delivery)


def test_max_fields_refuses_nothing():
    pairs = [*BASE, *((f"X{i}", "1") for i in range(7))]  # 10 fields
    for limits in (DEFAULT_LIMITS, deprecated(max_fields=9)):
        assert isinstance(agree(pairs, limits), Delivery)
        assert isinstance(from_params(pairs, limits), Delivery)


def test_max_body_bytes_bounds_pairs_and_mappings_as_their_form_body():
    pairs = [*BASE, ("Pad", "x" * 20)]
    size = len(urlencode(pairs))
    assert isinstance(from_params(pairs, Limits(max_body_bytes=size)), Delivery)
    assert from_params(pairs, Limits(max_body_bytes=size - 1)) == (
        "params",
        f"hold more than {size - 1} characters",
    )


def test_max_body_bytes_at_its_edge():
    body = urlencode([*BASE, ("Pad", "é" * 20)])
    size = len(body.encode())
    assert isinstance(parse_callback(body.encode(), limits=Limits(max_body_bytes=size)), Delivery)
    with pytest.raises(InvalidCallback) as caught:
        parse_callback(body.encode(), limits=Limits(max_body_bytes=size - 1))
    assert (caught.value.field, caught.value.reason) == ("body", f"is larger than {size - 1} bytes")
    raw = "CallSid=" + SID + "&CallStatus=ringing&SequenceNumber=1&Pad=" + "é" * 20
    assert isinstance(parse_callback(raw, limits=Limits(max_body_bytes=len(raw))), Delivery)
    with pytest.raises(InvalidCallback, match="larger than"):
        parse_callback(raw, limits=Limits(max_body_bytes=len(raw) - 1))


def test_a_body_longer_than_max_value_length_still_parses():
    pairs = [*BASE, *((f"X{i}", "y" * 50) for i in range(5))]
    assert isinstance(agree(pairs, deprecated(max_value_length=60)), Delivery)


@given(
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "Ab", "é", "x%y"]), st.text(max_size=5)), max_size=5
    ),
    st.integers(1, 200),
)
def test_only_the_body_size_and_repeated_names_refuse_extra_fields(extra, max_body):
    # As a reference reads them: past the body's size, or a name seen twice.
    pairs = [*BASE, *extra]
    found = agree(pairs, Limits(max_body_bytes=max_body))
    too_big = len(urlencode(pairs).encode()) > max_body
    repeated = len({n for n, _ in pairs}) < len(pairs)
    assert isinstance(found, Delivery) is (not too_big and not repeated), found


def test_bytes_text_and_pairs_make_the_same_delivery():
    pairs = [
        ("CallSid", SID),
        ("AccountSid", "AC" + "7" * 32),
        ("CallStatus", "completed"),
        ("SequenceNumber", "0003"),
        ("CallDuration", "42"),
        ("Timestamp", "Tue, 24 Nov 2026 10:15:32 +0000"),
        ("Note", "a b+c&d=é"),
    ]
    delivery = agree(pairs)
    assert isinstance(delivery, Delivery)
    assert from_params(pairs) == delivery
    assert delivery.call_sid == SID
    assert delivery.account_sid == "AC" + "7" * 32
    assert delivery.call_status is CallbackStatus.COMPLETED
    assert delivery.sequence_number == 3
    assert delivery.call_duration == 42
    assert delivery.timestamp == datetime(2026, 11, 24, 10, 15, 32, tzinfo=UTC)
    assert list(delivery.params) == pairs


def test_known_fields_that_need_decoding():
    body = "&".join(
        [
            "CallSid=" + quote(SID),
            "CallStatus=" + quote("no answer").replace("%20", "+"),
            "SequenceNumber=%31%32",
            "CallDuration=%37",
            "AccountSid=AC%2E1",
            "Timestamp=Tue,+24+Nov+2026+10:15:32+%2B0000",
        ]
    )
    for source in (body, body.encode()):
        delivery = parse_callback(source)
        assert delivery.call_status is CallbackStatus.NO_ANSWER
        assert delivery.sequence_number == 12
        assert delivery.call_duration == 7
        assert delivery.account_sid == "AC.1"
        assert delivery.timestamp == datetime(2026, 11, 24, 10, 15, 32, tzinfo=UTC)


def test_a_plus_in_a_decoded_timestamp_is_a_plus():
    # Pairs hold decoded text: "+0000" is an offset there, a space in a raw body.
    text = "Tue, 24 Nov 2026 10:15:32 +0100"
    for _ in range(2):  # and again, once the value has been seen
        decoded = parse_callback([*BASE, ("Timestamp", text)])
        assert decoded.timestamp == datetime(2026, 11, 24, 9, 15, 32, tzinfo=UTC)
        with pytest.raises(InvalidCallback, match="Timestamp"):
            parse_callback("&".join([urlencode(BASE), "Timestamp=" + text.replace(" ", "%20")]))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("CallSid&CallStatus=ringing&SequenceNumber=1", ("CallSid", "is empty")),
        ("CallSid=CA1&CallStatus&SequenceNumber=1", ("CallStatus", "is not a call status: ''")),
        ("CallSid=CA1&CallStatus=ringing&SequenceNumber", ("SequenceNumber", "is empty")),
        ("CallSid=CA1&CallStatus=ringing&SequenceNumber=1&Timestamp&CallDuration", None),
        ("CallSid=CA1&CallStatus=ringing&SequenceNumber=1&Flag&Flag", ("Flag", "is repeated")),
    ],
)
def test_a_field_without_an_equals_sign_is_an_empty_value_on_every_path(body, expected):
    found = agree([])  # every way agrees on nothing sent, too
    assert found == ("CallSid", "is missing")
    results = []
    for way in (parse_form, lambda b: parse_split(split_form(b)), parse_callback):
        try:
            results.append(way(body))
        except InvalidCallback as exc:
            results.append((exc.field, exc.reason))
    assert all(r == results[0] for r in results), results
    if expected is None:
        assert isinstance(results[0], Delivery)
    else:
        assert results[0] == expected


def test_empty_optional_fields_are_absent():
    delivery = agree([*BASE, ("CallDuration", ""), ("AccountSid", ""), ("Timestamp", "")])
    assert isinstance(delivery, Delivery)
    assert (delivery.call_duration, delivery.account_sid, delivery.timestamp) == (None, None, None)


@pytest.mark.parametrize(
    ("pairs", "field", "reason"),
    [
        (BASE[1:], "CallSid", "is missing"),
        ([BASE[0], BASE[2]], "CallStatus", "is missing"),
        (BASE[:2], "SequenceNumber", "is missing"),
        ([*BASE, ("CallSid", SID)], "CallSid", "is repeated"),
        ([*BASE, ("SequenceNumber", "1")], "SequenceNumber", "is repeated"),
        ([("CallSid", ""), *BASE[1:]], "CallSid", "is empty"),
        (
            [("CallSid", "C" * 129), *BASE[1:]],
            "CallSid",
            "must be 1 to 128 letters, digits or . _ : -",
        ),
        ([("CallSid", "-CA"), *BASE[1:]], "CallSid", "must be 1 to 128 letters, digits or . _ : -"),
        (
            [*BASE, ("AccountSid", "a b")],
            "AccountSid",
            "must be 1 to 128 letters, digits or . _ : -",
        ),
        ([*BASE[:2], ("SequenceNumber", "")], "SequenceNumber", "is empty"),
        (
            [*BASE[:2], ("SequenceNumber", "-1")],
            "SequenceNumber",
            "must be a whole number of ASCII digits, not '-1'",
        ),
        (
            [*BASE[:2], ("SequenceNumber", "\u0661")],
            "SequenceNumber",
            "must be a whole number of ASCII digits, not '\u0661'",
        ),
        (
            [*BASE[:2], ("SequenceNumber", "2147483648")],
            "SequenceNumber",
            "is out of range (at most 2147483647)",
        ),
        (
            [*BASE[:2], ("SequenceNumber", "9" * 30)],
            "SequenceNumber",
            "is out of range (at most 2147483647)",
        ),
        (
            [*BASE, ("CallDuration", "x")],
            "CallDuration",
            "must be a whole number of ASCII digits, not 'x'",
        ),
        (
            [BASE[0], ("CallStatus", "talking"), BASE[2]],
            "CallStatus",
            "is not a call status: 'talking'",
        ),
    ],
)
def test_bad_fields(pairs, field, reason):
    assert agree(pairs) == (field, reason)


def test_the_largest_numbers_and_sids_accepted():
    delivery = agree([("CallSid", "C" * 128), BASE[1], ("SequenceNumber", "0" * 20 + "2147483647")])
    assert isinstance(delivery, Delivery)
    assert delivery.sequence_number == 2**31 - 1
    for n in (4095, 4096, 10**9):
        found = agree([*BASE[:2], ("SequenceNumber", str(n)), ("CallDuration", "0" + str(n))])
        assert isinstance(found, Delivery)
        assert (found.sequence_number, found.call_duration) == (n, n)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"CallSid=\xff", "is not valid UTF-8"),
        ("CallSid=a;CallStatus=b", "uses ';', which is not a separator of form fields"),
        (b"CallSid=a;b", "uses ';', which is not a separator of form fields"),
        (b"=x&" + urlencode(BASE).encode(), "has a field with no name"),
        (b"%3D=x&" + urlencode(BASE).encode(), None),
        (b"Name=%FF&" + urlencode(BASE).encode(), "Name"),
    ],
)
def test_bad_bodies(body, reason):
    if reason is None:
        assert isinstance(parse_callback(body), Delivery)
        return
    with pytest.raises(InvalidCallback) as caught:
        parse_callback(body)
    if reason == "Name":
        assert (caught.value.field, caught.value.reason) == (
            "Name",
            "is not valid UTF-8 once percent-decoded",
        )
    else:
        assert (caught.value.field, caught.value.reason) == ("body", reason)


def test_a_body_that_is_not_text_is_refused():
    with pytest.raises(InvalidCallback) as caught:
        parse_form(bytearray(b"CallSid=x"))  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.reason) == (
        "body",
        "must be bytes or str, not bytearray",
    )


def test_non_ascii_utf8_bodies_are_read():
    body = urlencode([*BASE, ("Caller", "Zoë")]).replace("%C3%AB", "ë").encode()
    delivery = parse_callback(body)
    assert dict(delivery.params)["Caller"] == "Zoë"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ([("", "x")], ("params", "every parameter name must be a non-empty str")),
        ([(1, "x")], ("params", "every parameter name must be a non-empty str")),
        ([("CallSid", 1)], ("CallSid", "must be a str, not int")),
        ([("CallSid",)], ("params", "must be a mapping or (name, value) pairs")),
        ([1], ("params", "must be a mapping or (name, value) pairs")),
        (5, ("params", "must be a mapping or (name, value) pairs")),
        ({"CallSid": [SID, 1]}, ("CallSid", "must be a str, not int")),
    ],
)
def test_bad_params(source, reason):
    with pytest.raises(InvalidCallback) as caught:
        parse_callback(source)
    assert (caught.value.field, caught.value.reason) == reason


def test_a_mapping_with_values_in_lists_and_tuples():
    delivery = parse_callback({**dict(BASE), "Event": ("a",), "Other": ["b"]})
    assert [(n, v) for n, v in delivery.params if n in ("Event", "Other")] == [
        ("Event", "a"),
        ("Other", "b"),
    ]
    # No name may repeat (issue 22.7): two values are two parameters of one name.
    with pytest.raises(InvalidCallback) as caught:
        parse_callback({**dict(BASE), "Event": ("a", "b")})
    assert (caught.value.field, caught.value.reason) == ("Event", "is repeated")


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("no-answer", CallbackStatus.NO_ANSWER),
        ("NO_ANSWER", CallbackStatus.NO_ANSWER),
        ("No Answer", CallbackStatus.NO_ANSWER),
        ("  busy  ", CallbackStatus.BUSY),
        ("In_Progress", CallbackStatus.IN_PROGRESS),
        ("x" * 21, None),
        ("in-progress" + " " * 10, None),  # past 20 characters nothing is normalised
        ("in-progress" + " " * 9, CallbackStatus.IN_PROGRESS),
        ("nope", None),
    ],
)
def test_normalize_status(text, status):
    assert normalize_status(text) is status


# What the mutation run of _core/_parse.py showed unpinned.


@pytest.mark.parametrize("name", ["max_fields", "max_name_length", "max_value_length"])
def test_the_deprecation_names_the_limit_and_points_at_the_caller(name):
    with pytest.warns(DeprecationWarning, match=f"Limits.{name}") as caught:
        Limits(**{name: 7})
    (warning,) = caught
    assert str(warning.message) == (
        f"Limits.{name} no longer refuses anything (a field callstate does not read is"
        " kept as received); only max_body_bytes bounds a callback"
    )
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutmut's trampoline adds a frame of its own
        assert warning.filename == __file__  # the line that set the limit, not callstate's


@pytest.mark.parametrize("length", [63, 64, 65, 200])
def test_a_name_in_an_error_is_cut_past_64_characters(length):
    name = "N" * length
    shown = name if length <= 64 else name[:64] + "..."
    repeated = [*BASE, (name, "a"), (name, "b")]
    for source in (urlencode(repeated), urlencode(repeated).encode(), repeated):
        with pytest.raises(InvalidCallback) as caught:
            parse_callback(source)
        assert (caught.value.field, caught.value.reason) == (shown, "is repeated")
    with pytest.raises(InvalidCallback) as caught:
        parse_callback([*BASE, (name, 7)])  # type: ignore[list-item]
    assert (caught.value.field, caught.value.reason) == (shown, "must be a str, not int")
