"""The receiver's log formats: every control character a request can send is escaped."""

from __future__ import annotations

import json
import logging
import re
import sys

from hypothesis import given
from hypothesis import strategies as st

from callstate.serve._logging import JsonFormatter, TextFormatter, escape, log_config

#: Every character no log line may hold as it is (issue 22.3).
CONTROLS = (
    [chr(c) for c in range(0x20)]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + ["\u061c", "\u200e", "\u200f", "\u2028", "\u2029"]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\ud800", "\udc9b", "\udfff"]
)
UNSAFE = re.compile("[" + "".join(map(re.escape, CONTROLS)) + "]")

_texts = st.text(st.sampled_from(CONTROLS) | st.characters(codec="utf-8"), max_size=30)


def _fail(message: str) -> None:
    raise ValueError(message)


def record(message: str, extra: dict[str, object], *, error: bool = False) -> logging.LogRecord:
    exc_info = None
    if error:
        try:
            _fail(message)
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, "%s", (message,), exc_info
    )
    made.__dict__.update(extra)
    return made


@given(_texts, _texts, st.booleans())
def test_a_json_line_holds_no_control_and_reads_back_as_written(message, value, error):
    line = JsonFormatter().format(record(message, {"client": value}, error=error))
    assert UNSAFE.search(line) is None, line
    line.encode("utf-8")  # lone surrogates too: escaped, so the line can be written
    read = json.loads(line)
    assert (read["message"], read["client"]) == (message, value)
    assert ("error" in read) is error


@given(_texts, _texts, st.booleans())
def test_a_text_line_holds_no_control_and_a_traceback_is_indented(message, value, error):
    text = TextFormatter().format(record(message, {"client": value}, error=error))
    first, *rest = text.split("\n")
    for line in (first, *rest):
        assert UNSAFE.search(line) is None, line
    assert re.match(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00 info uvicorn\.access: ", first)
    assert escape(message) in first
    assert all(line.startswith("  ") for line in rest)
    assert bool(rest) is error


def test_escapes_are_the_ones_a_reader_knows():
    assert escape("a\nb\r\tc") == "a\\nb\\r\\tc"
    assert escape("\x1b[31m\x9b31m\x7f") == "\\x1b[31m\\x9b31m\\x7f"
    assert escape("x\u2028y\u202ez\ud800") == "x\\u2028y\\u202ez\\ud800"
    assert escape("caf\u00e9 \u4e2d \U0001f600") == "caf\u00e9 \u4e2d \U0001f600"  # text stays


def test_text_fields_with_spaces_are_quoted():
    text = TextFormatter().format(record("serving", {"host": "127.0.0.1", "store": "a b"}))
    assert text.endswith(' host=127.0.0.1 store="a b"')


def test_the_config_names_the_format():
    for name, formatter in (("json", JsonFormatter), ("text", TextFormatter)):
        config = log_config("info", name)
        assert config["formatters"]["callstate"]["()"].endswith(formatter.__name__)
