"""Timestamps as providers write them, parsed without ``email.utils``.

``Timestamp`` is documented as RFC 2822 in UTC, but Restcomm prints a zone
*name* in the server's zone (``UTC``, ``America/New_York``), which
``email.utils`` rejects, and the Call resource mixes RFC 2822 with ISO 8601.
Every result is an aware datetime. Zone names are looked up with ``zoneinfo``
(the interpreter's time-zone data, read once per name and cached); everything
else is arithmetic on the string.

All of RFC 2822 is read, its obsolete syntax (section 4.3) included:
comments and folding white space between the parts, two- and three-digit
years (00-49 are 2000-2049, 50-99 and any three digits add 1900), the
obsolete zone names and the military single letters (read as ``-0000``: UTC,
as the RFC says). A leap second, ``:60``, is read as the second after
``:59``: the first second of the next minute, as POSIX time counts it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

__all__ = ["EARLIEST", "LATEST", "OUT_OF_RANGE", "out_of_range", "parse_timestamp"]

# Comments are blanked out first (``_uncommented``), so white space here
# stands for RFC 2822's CFWS: optional around each part in the obsolete syntax.
_RFC2822: Final = re.compile(
    r"\s*(?:(?P<wday>[A-Za-z]{3})\s*(?:,\s*|\s))?"
    r"(?P<day>\d{1,2})\s+(?P<mon>[A-Za-z]{3})\s+(?P<year>\d{2,4})\s+"
    r"(?P<hh>\d{1,2})\s*:\s*(?P<mm>\d{2})(?:\s*:\s*(?P<ss>\d{2}))?"
    r"\s+(?P<zone>[^\s]{1,64})\s*",
    re.ASCII,
)
_MONTHS: Final = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_WEEKDAYS: Final = frozenset(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
# RFC 2822 section 4.3: the obsolete North American zone names.
_NAMED_OFFSETS: Final = {
    "UT": 0,
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
}
# The military zones, every letter but J: RFC 2822 says to read them as
# -0000 (RFC 822 gave their signs backwards, so no offset can be trusted).
_NAMED_OFFSETS.update((letter, 0) for letter in "ABCDEFGHIKLMNOPQRSTUVWXYZ")
#: The instants callstate holds: datetime's own range less a day at each end.
#: Zone offsets are under a day, so an instant inside converts to UTC, to epoch
#: seconds and back without overflowing (year 1 at +01:00 is year 0 in UTC).
EARLIEST: Final = datetime(1, 1, 2, tzinfo=UTC)
LATEST: Final = datetime(9999, 12, 30, tzinfo=UTC)
OUT_OF_RANGE: Final = "is out of range (0001-01-02 to 9999-12-30 UTC)"


def out_of_range(value: datetime) -> bool:
    """Whether the aware ``value`` lies outside ``EARLIEST`` .. ``LATEST``."""
    if 1 < value.year < 9999:
        return False
    return not EARLIEST <= value <= LATEST


_IANA_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,3}", re.ASCII)


@lru_cache(maxsize=64)
def _fixed(minutes: int) -> tzinfo:
    return UTC if minutes == 0 else timezone(timedelta(minutes=minutes))


@lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo | None:
    """The zone called ``name``, or None when there is no such zone."""
    upper = name.upper()
    if upper in _NAMED_OFFSETS:
        return _fixed(_NAMED_OFFSETS[upper] * 60)
    if len(name) == 5 and name[0] in "+-" and name[1:].isdigit():
        hours, minutes = int(name[1:3]), int(name[3:])
        if hours > 23 or minutes > 59:
            return None
        sign = -1 if name[0] == "-" else 1
        return _fixed(sign * (hours * 60 + minutes))
    if not _IANA_NAME.fullmatch(name) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError, OSError: all "no such zone"
        return None


_MONTH_DIGITS: Final = {
    name: f"{number:02d}" for name, number in _MONTHS.items() for name in (name, name.title())
}
_DAY_NAMES: Final = frozenset(_WEEKDAYS | {d.title() for d in _WEEKDAYS})


def _canonical(text: str) -> datetime | None:
    """The common spelling, ``Tue, 24 Nov 2026 10:15:32 +0000``, read by position.

    Rewritten as ISO 8601 for ``datetime.fromisoformat`` (which checks every
    digit and range); None sends anything else to the general parser.
    """
    if (
        len(text) != 31
        or text[3:5] != ", "
        or text[26] not in "+-"
        or not text[7] == text[11] == text[16] == text[25] == " "
        or text[:3] not in _DAY_NAMES
    ):
        return None
    month = _MONTH_DIGITS.get(text[8:11])
    if month is None:
        return None
    iso = f"{text[12:16]}-{month}-{text[5:7]}T{text[17:25]}{text[26:29]}:{text[29:31]}"
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return None


def _uncommented(text: str) -> str | None:
    """``text`` with each comment, ``( ... )`` (nested, ``\\`` escaping), made a space.

    None when a comment is not closed.
    """
    out: list[str] = []
    depth, escaped = 0, False
    for char in text:
        if depth == 0:
            if char == "(":
                depth = 1
                out.append(" ")
            else:
                out.append(char)
        elif escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
    return None if depth else "".join(out)


def _rfc2822_year(digits: str) -> int:
    """The year RFC 2822 (4.3) reads in ``digits``: two of them are 1950-2049, three add 1900."""
    year = int(digits)
    if len(digits) == 2:
        return year + (2000 if year < 50 else 1900)
    if len(digits) == 3:
        return year + 1900
    return year


#: Why a zone of four bare digits is refused: the usual cause.
_LOST_PLUS: Final = ": a '+' sent unencoded in a form body reads as a space (send it as %2B)"
_BARE_OFFSET: Final = re.compile(r"\d\d:?\d\d", re.ASCII)
#: Longer text is refused unread (a date is about 31 characters; this leaves room for comments).
_MAX_LENGTH: Final = 256
_ONE_SECOND: Final = timedelta(seconds=1)


def parse_timestamp(text: str) -> datetime | str:
    """Parse an RFC 2822 or ISO 8601 timestamp into an aware datetime.

    Returns the reason as a string instead of raising, so the caller can name
    the field in the error it raises.
    """
    if len(text) > _MAX_LENGTH:
        return "is too long to be a timestamp"
    if len(text) >= 10 and text[4] == "-" and text[:4].isdigit():  # ISO 8601 (start_time...)
        parsed = _parse_iso(text)
    else:
        fast = _canonical(text)
        parsed = fast if fast is not None else _general(text)
    if isinstance(parsed, datetime) and out_of_range(parsed):
        return OUT_OF_RANGE
    return parsed


def _general(text: str) -> datetime | str:
    """Every other spelling: RFC 2822 by regular expression, else ISO 8601."""
    if "(" in text:
        uncommented = _uncommented(text)
        if uncommented is None:
            return "has a comment '(' that is not closed"
        text = uncommented
    match = _RFC2822.fullmatch(text)
    if match is None:
        return _parse_iso(text)
    wday = match["wday"]
    if wday is not None and wday.lower() not in _WEEKDAYS:
        return f"has an unknown day name {wday!r}"
    month = _MONTHS.get(match["mon"].lower())
    if month is None:
        return f"has an unknown month {match['mon']!r}"
    zone = _zone(match["zone"])
    if zone is None:
        name = match["zone"]
        hint = _LOST_PLUS if len(name) == 4 and name.isdigit() else ""
        return f"has an unknown time zone {name!r}{hint}"
    seconds = int(match["ss"] or 0)
    leap = seconds == 60
    try:
        value = datetime(
            _rfc2822_year(match["year"]),
            month,
            int(match["day"]),
            int(match["hh"]),
            int(match["mm"]),
            59 if leap else seconds,
            tzinfo=zone,
        )
        # A leap second is the second after :59 (the next minute's first).
        return value + _ONE_SECOND if leap else value
    except ValueError:
        return "is not a real date and time"
    except OverflowError:  # the leap second after 9999-12-31 23:59:59
        return OUT_OF_RANGE


def _parse_iso(text: str) -> datetime | str:
    if not text.isascii() or len(text) < 10 or not text[:4].isdigit():
        return "is neither RFC 2822 nor ISO 8601"
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        head, _, offset = text.strip().rpartition(" ")
        if head and _BARE_OFFSET.fullmatch(offset) and _iso_or_none(f"{head}+{offset}"):
            return f"has no time zone sign before {offset!r}{_LOST_PLUS}"
        return "is neither RFC 2822 nor ISO 8601"
    if value.tzinfo is None:
        return "has no time zone"
    return value


def _iso_or_none(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
