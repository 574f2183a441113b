"""Timestamps as providers write them, parsed without ``email.utils``.

``Timestamp`` is documented as RFC 2822 in UTC, but Restcomm prints a zone
*name* in the server's zone (``UTC``, ``America/New_York``), which
``email.utils`` rejects, and the Call resource mixes RFC 2822 with ISO 8601.
Every result is an aware datetime. Zone names are looked up with ``zoneinfo``
(the interpreter's time-zone data, read once per name and cached); everything
else is arithmetic on the string.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

__all__ = ["EARLIEST", "LATEST", "OUT_OF_RANGE", "out_of_range", "parse_timestamp"]

_RFC2822: Final = re.compile(
    r"\s*(?:(?P<wday>[A-Za-z]{3}),?\s+)?"
    r"(?P<day>\d{1,2})\s+(?P<mon>[A-Za-z]{3})\s+(?P<year>\d{4})\s+"
    r"(?P<hh>\d{1,2}):(?P<mm>\d{2})(?::(?P<ss>\d{2}))?"
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


def parse_timestamp(text: str) -> datetime | str:
    """Parse an RFC 2822 or ISO 8601 timestamp into an aware datetime.

    Returns the reason as a string instead of raising, so the caller can name
    the field in the error it raises.
    """
    if len(text) > 100:
        return "is too long to be a timestamp"
    if len(text) >= 10 and text[4] == "-":  # ISO 8601 (start_time, end_time)
        parsed = _parse_iso(text)
    else:
        fast = _canonical(text)
        parsed = fast if fast is not None else _general(text)
    if isinstance(parsed, datetime) and out_of_range(parsed):
        return OUT_OF_RANGE
    return parsed


def _general(text: str) -> datetime | str:
    """Every other spelling: RFC 2822 by regular expression, else ISO 8601."""
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
        return f"has an unknown time zone {match['zone']!r}"
    seconds = match["ss"]
    try:
        return datetime(
            int(match["year"]),
            month,
            int(match["day"]),
            int(match["hh"]),
            int(match["mm"]),
            int(seconds) if seconds else 0,
            tzinfo=zone,
        )
    except ValueError:
        return "is not a real date and time"


def _parse_iso(text: str) -> datetime | str:
    if not text.isascii() or len(text) < 10 or not text[:4].isdigit():
        return "is neither RFC 2822 nor ISO 8601"
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return "is neither RFC 2822 nor ISO 8601"
    if value.tzinfo is None:
        return "has no time zone"
    return value
