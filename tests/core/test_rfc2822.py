"""Timestamps in all of RFC 2822, obsolete syntax included, against independent references.

The dates are drawn as their parts (a year written with two, three or four
digits; a leap second; a numeric, named or military zone; comments and
folding white space where the grammar allows them), written out, and parsed.
The reference for what the text means is made from the parts with the RFC's
own rules and ``datetime`` arithmetic; where the standard library's
``email.utils`` reads the text too, its instant (POSIX seconds, through
``mktime_tz``) must agree as well.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone
from email.utils import mktime_tz, parsedate_tz
from urllib.parse import quote_plus

import attrs
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from callstate import InvalidCallback, parse_call_resource, parse_form
from callstate._core._time import parse_timestamp

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# RFC 2822, 4.3: the obsolete zone names, in hours.
NAMED = {
    "UT": 0, "GMT": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
    "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
}  # fmt: skip
# RFC 2822, 4.3: the military zones, every letter but J, "equivalent to -0000".
MILITARY = list("ABCDEFGHIKLMNOPQRSTUVWXYZabcdefghiklmnopqrstuvwxyz")


@attrs.frozen
class Written:
    """A date as its parts, and how it was written."""

    text: str
    year: int  # the year the RFC reads in what was written
    month: int
    day: int
    hour: int
    minute: int
    second: int  # 60 for a leap second
    offset_minutes: int
    plain: bool  # no obsolete syntax email.utils misreads (comments, CFWS around ':')


def _comment(draw: st.DrawFn) -> str:
    inner = draw(st.text("ab XY+-:,01", max_size=3))
    escaped = draw(st.sampled_from(["", "\\)", "\\(", "\\\\"]))
    nested = draw(st.sampled_from(["", "(x)", "(a(b)c)"]))
    return f"({inner}{escaped}{nested})"


@st.composite
def rfc2822_dates(draw: st.DrawFn) -> Written:
    form = draw(st.sampled_from(["4", "2", "3"]))
    if form == "4":
        year = draw(st.integers(1900, 9998))
        written_year = f"{year:04d}"
    elif form == "2":
        yy = draw(st.integers(0, 99))
        year, written_year = (2000 + yy if yy < 50 else 1900 + yy), f"{yy:02d}"
    else:
        yyy = draw(st.integers(100, 999))
        year, written_year = 1900 + yyy, str(yyy)
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, calendar.monthrange(year, month)[1]))
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    second = draw(st.none() | st.integers(0, 60))
    kind = draw(st.sampled_from(["numeric", "named", "military"]))
    if kind == "numeric":
        minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
        sign = "-" if minutes < 0 or (minutes == 0 and draw(st.booleans())) else "+"
        zone = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    elif kind == "named":
        zone = draw(st.sampled_from(sorted(NAMED)))
        minutes = NAMED[zone] * 60
    else:
        zone, minutes = draw(st.sampled_from(MILITARY)), 0

    obsolete = draw(st.booleans())

    def fws() -> str:  # folding white space: required between the parts
        return draw(st.sampled_from([" ", "  ", "\t", "\r\n ", " \r\n\t"]))

    def cfws(required: bool) -> str:  # comments and folding white space
        if not obsolete:
            return fws() if required else ""
        parts = draw(st.lists(st.sampled_from(["fws", "comment"]), max_size=2))
        out = "".join(fws() if p == "fws" else _comment(draw) for p in parts)
        return out or (fws() if required else "")  # a comment alone separates too

    weekday = ""
    if draw(st.booleans()):
        name = DAYS[calendar.weekday(year, month, day)]
        weekday = f"{cfws(False)}{name}{cfws(False)},"
    day_text = f"{day:02d}" if draw(st.booleans()) else str(day)
    time = f"{hour:02d}{cfws(False)}:{cfws(False)}{minute:02d}"
    if second is not None:
        time += f"{cfws(False)}:{cfws(False)}{second:02d}"
    text = (
        f"{weekday}{cfws(True)}{day_text}{cfws(True)}{MONTHS[month - 1]}{cfws(True)}"
        f"{written_year}{cfws(True)}{time}{cfws(True)}{zone}{cfws(False)}"
    )
    assume(len(text) <= 256)  # the longest text read as a timestamp
    return Written(
        text=text,
        year=year,
        month=month,
        day=day,
        hour=hour,
        minute=minute,
        second=0 if second is None else second,
        offset_minutes=minutes,
        plain=not obsolete and kind != "military" and form == "4",
    )


def reference(date: Written) -> datetime:
    """What the text means, from its parts: a leap second is the second after :59."""
    zone = timezone(timedelta(minutes=date.offset_minutes))
    moment = datetime(
        date.year, date.month, date.day, date.hour, date.minute, min(date.second, 59), tzinfo=zone
    )
    return moment + timedelta(seconds=1) if date.second == 60 else moment


@given(rfc2822_dates())
@example(Written("Tue, 24 Nov 26 10:15:32 +0000", 2026, 11, 24, 10, 15, 32, 0, plain=False))
@example(Written("Wed, 31 Dec 2036 23:59:60 +0000", 2036, 12, 31, 23, 59, 60, 0, plain=True))
@example(Written("1 Jan 50 00:00 A", 1950, 1, 1, 0, 0, 0, 0, plain=False))
def test_every_rfc2822_date_is_read_as_the_rfc_says(date):
    parsed = parse_timestamp(date.text)
    assert isinstance(parsed, datetime), (date.text, parsed)
    expected = reference(date)
    assert parsed == expected, date.text
    assert parsed.utcoffset() == expected.utcoffset(), date.text
    if date.plain:
        # An independent reader of the same text: the instant, in POSIX seconds.
        fields = parsedate_tz(date.text)
        assert fields is not None, date.text
        assert mktime_tz(fields) == parsed.timestamp(), date.text


@given(rfc2822_dates())
def test_a_callback_and_a_call_resource_read_the_same_instant(date):
    # Through the form (percent-encoded, as a provider sends it) and the resource.
    delivery = parse_form(
        f"CallSid=CA1&CallStatus=ringing&SequenceNumber=1&Timestamp={quote_plus(date.text)}"
    )
    assert delivery.timestamp == reference(date)
    resource = parse_call_resource({"sid": "CA1", "status": "queued", "date_created": date.text})
    assert resource.date_created == reference(date)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The leap second of 2016-12-31, in UTC and where it fell in New York.
        ("Sat, 31 Dec 2016 23:59:60 +0000", datetime(2017, 1, 1, tzinfo=UTC)),
        (
            "Sat, 31 Dec 2016 18:59:60 -0500",
            datetime(2016, 12, 31, 19, 0, tzinfo=timezone(timedelta(hours=-5))),
        ),
        ("Sat, 31 Dec 16 23:59:60 GMT", datetime(2017, 1, 1, tzinfo=UTC)),
        ("31 Dec 2016 23:59:60 (leap) +0000 (UTC)", datetime(2017, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_leap_second_is_the_next_minutes_first_second(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Tue, 24 Nov 2026 10:15:61 +0000", "is not a real date and time"),
        ("Tue, 24 Nov 2026 10:15:32 J", "has an unknown time zone 'J'"),
        ("Tue, 24 Nov 2026 10:15:32 +0000 (open", "has a comment '(' that is not closed"),
        ("Fri, 31 Dec 9999 23:59:60 +0000", "is out of range"),
        ("Tue, 24 Nov 1 10:15:32 +0000", "is neither RFC 2822 nor ISO 8601"),
    ],
)
def test_what_the_rfc_does_not_allow_is_still_refused(text, reason):
    parsed = parse_timestamp(text)
    assert isinstance(parsed, str) and parsed.startswith(reason), parsed


@pytest.mark.parametrize(
    "raw",
    [
        # curl -d 'Timestamp=Tue, 24 Nov 2026 10:15:32 +0000': the '+' is not encoded.
        b"Timestamp=Tue, 24 Nov 2026 10:15:32 +0000",
        b"Timestamp=Tue,+24+Nov+2026+10:15:32++0000",
        b"Timestamp=2026-11-24T10:15:32+00:00",
    ],
)
def test_a_plus_sent_unencoded_is_named_as_the_cause(raw):
    body = b"CallSid=CA1&CallStatus=ringing&SequenceNumber=1&" + raw
    with pytest.raises(InvalidCallback) as caught:
        parse_form(body)
    assert caught.value.field == "Timestamp"
    assert "a '+' sent unencoded in a form body reads as a space (send it as %2B)" in (
        caught.value.reason
    )
    # Encoded, the same text is read.
    encoded = body.replace(b"+0000", b"%2B0000").replace(b"+00:00", b"%2B00:00")
    assert parse_form(encoded).timestamp is not None
