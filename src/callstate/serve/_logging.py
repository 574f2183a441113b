"""The receiver's logs, for callstate and uvicorn: JSON (one object a line) or text.

What a request sends can reach a log line (the access log writes its path
and query string as received). Neither format lets it write a control
character: C0 (newlines among them), DEL, C1 (a raw CSI, ``\\x9b``, moves a
terminal's cursor as ``ESC [`` does), the line and paragraph separators
U+2028/U+2029 (line breaks to JavaScript and some log viewers), the bidi
marks and overrides (U+061C, U+200E/F, U+202A-E, U+2066-9: they reorder what
a reader sees) and lone surrogates (they cannot even be written as UTF-8).
JSON writes each as a ``\\uXXXX`` escape, which reads back as the same text;
text writes ``\\n``, ``\\xNN`` or ``\\uXXXX``, and indents a traceback's
lines, so no line of a log can pass for the start of another.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, Final

__all__ = ["LOG_FORMATS", "JsonFormatter", "TextFormatter", "escape", "log_config"]

LOG_FORMATS: Final = ("json", "text")

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
#: What no log line may hold as it is (see the module's docstring).
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_SHORT: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _text_escape(found: re.Match[str]) -> str:
    char = found.group()
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escape(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


def escape(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x9b``)."""
    return _UNSAFE.sub(_text_escape, text)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's ``extra`` fields: plain values as they are, others as their repr."""
    return {
        key: value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_")
    }


def _at(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """``{"at", "level", "logger", "message", ...extra}`` on one line, controls escaped."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "at": _at(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(_fields(record))
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        # json.dumps escapes C0 and leaves the rest as it is (ensure_ascii=False
        # keeps other text readable): the rest is escaped here, inside strings.
        return _UNSAFE.sub(_json_escape, json.dumps(out, ensure_ascii=False))


def _value(value: Any) -> str:
    text = escape(str(value))
    if text and not any(c in text for c in ' "='):
        return text
    return '"' + text.replace('"', '\\"') + '"'


class TextFormatter(logging.Formatter):
    """``<at> <level> <logger>: <message> key=value ...``, for people; controls escaped.

    A traceback follows on lines of its own, each indented by two spaces.
    """

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_at(record)} {record.levelname.lower()} {escape(record.name)}: "
        line += escape(record.getMessage())
        for key, value in _fields(record).items():
            line += f" {escape(key)}={_value(value)}"
        extra = []
        if record.exc_info:
            extra.append(self.formatException(record.exc_info))
        if record.stack_info:
            extra.append(self.formatStack(record.stack_info))
        for text in extra:
            line += "".join(f"\n  {escape(part)}" for part in text.split("\n"))
        return line


def log_config(level: str, log_format: str = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and callstate, to stderr in ``log_format``."""
    formatter = {"json": JsonFormatter, "text": TextFormatter}[log_format]
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "callstate",
        "stream": "ext://sys.stderr",
    }
    loggers = {
        name: {"handlers": ["callstate"], "level": level.upper(), "propagate": False}
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "callstate")
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"callstate": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {"callstate": handler},
        "loggers": loggers,
    }
