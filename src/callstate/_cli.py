"""The ``callstate`` command line.

``callstate diagram``: the state machine as Mermaid, dot, SVG or PNG.

``callstate replay FILE``: fold a JSON Lines file of deliveries and Call
resources into call states and print them as one JSON object. A bad line is
reported under ``rejected`` while every good line is still applied. Exit 0
when the file was read, 2 for unusable arguments or an unreadable file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO, Any

from callstate._core._call import CallState
from callstate._core._decider import CallBook, Decider
from callstate._core._parse import parse_callback
from callstate._core._resource import parse_call_resources
from callstate._core._values import Dialect, Reconcile, RecordDelivery
from callstate._diagram import FORMATS, state_diagram
from callstate._errors import InvalidInput, UsageError

__all__ = ["main"]


class _UsageError(Exception):
    """Arguments that cannot be used (exit 2)."""


def _iso(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _UsageError(f"{what}: not an ISO 8601 date and time: {text!r}") from None
    if value.tzinfo is None:
        raise _UsageError(f"{what}: has no time zone: {text!r}")
    return value


def _line_time(item: dict[str, Any], key: str) -> datetime | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(key, "must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(key, f"is not ISO 8601: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise InvalidInput(key, "has no time zone")
    return parsed


def _apply_line(book: CallBook, text: str) -> None:
    try:
        item = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidInput("line", "is not valid JSON") from None
    if not isinstance(item, dict):
        raise InvalidInput("line", "must be a JSON object")
    kinds = [k for k in ("params", "body", "resource") if k in item]
    if len(kinds) != 1:
        raise InvalidInput("line", "must have exactly one of params, body, resource")
    if "resource" in item:
        observed = _line_time(item, "observed_at") or _line_time(item, "received_at")
        for resource in parse_call_resources(item["resource"]):
            book.handle(Reconcile(resource=resource, observed_at=observed))
        return
    received = _line_time(item, "received_at")
    if "body" in item:
        body = item["body"]
        if not isinstance(body, str):
            raise InvalidInput("body", "must be a string")
        delivery = parse_callback(body)
    else:
        params = item["params"]
        if not isinstance(params, dict):
            raise InvalidInput("params", "must be a JSON object")
        delivery = parse_callback(params)
    book.handle(RecordDelivery(delivery=delivery, received_at=received))


def _state_json(state: CallState) -> dict[str, Any]:
    return {
        "status": state.status.value,
        "final": state.final,
        "outcome_known": state.outcome_known,
        "deliveries": state.deliveries,
        "duplicates": state.duplicates,
        "anomalies": [a.as_dict() for a in state.anomalies],
        "timeline": {
            e.status.value: {
                "at": None if e.at is None else e.at.isoformat(),
                "received_at": None if e.received_at is None else e.received_at.isoformat(),
            }
            for e in state.timeline
        },
        "needs_reconciliation": state.needs_reconciliation,
    }


def replay(lines: Iterable[str], decider: Decider, now: datetime | None) -> dict[str, Any]:
    """Fold JSON Lines into call states: the replay report as a JSON-ready dict."""
    book = CallBook(decider)
    rejected = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            _apply_line(book, text)
        except InvalidInput as exc:
            rejected.append({"line": number, "error": str(exc)})
    if now is not None:
        book.tick(now)
    calls = {state.call_sid: _state_json(state) for state in book.states()}
    return {"calls": dict(sorted(calls.items())), "rejected": rejected}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callstate", description="A correct record of every call from its status callbacks."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    replay_cmd = commands.add_parser(
        "replay", help="fold a JSON Lines file of deliveries and Call resources into call states"
    )
    replay_cmd.add_argument("file", help="JSON Lines file, or - for standard input")
    replay_cmd.add_argument(
        "--dialect", choices=[d.value for d in Dialect], default=Dialect.AUTO.value
    )
    replay_cmd.add_argument("--now", help="evaluate staleness at this ISO 8601 time")
    diagram_cmd = commands.add_parser(
        "diagram", help="draw the state machine from its one definition"
    )
    diagram_cmd.add_argument("--format", choices=FORMATS, default="mermaid")
    diagram_cmd.add_argument("-o", "--output", help="write to this file instead of stdout")
    return parser


def _diagram(fmt: str, output: str | None) -> int:
    try:
        drawing = state_diagram(fmt)
    except UsageError as exc:
        raise _UsageError(str(exc)) from None
    data = drawing.encode() if isinstance(drawing, str) else drawing
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    try:
        with open(output, "wb") as file:
            file.write(data)
    except OSError as exc:
        raise _UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    return 0


def _open(path: str) -> IO[str]:
    if path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise _UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        if args.command == "diagram":
            return _diagram(args.format, args.output)
        now = None if args.now is None else _iso(args.now, "--now")
        decider = Decider(dialect=Dialect(args.dialect))
        stream = _open(args.file)
        try:
            report = replay(stream, decider, now)
        except (OSError, UnicodeDecodeError) as exc:
            raise _UsageError(f"cannot read {args.file}: {exc}") from None
        finally:
            if stream is not sys.stdin:
                stream.close()
    except _UsageError as exc:
        print(f"callstate: {exc}", file=sys.stderr)
        return 2
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
