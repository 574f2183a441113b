"""The ``callstate`` command line.

``callstate diagram``: the state machine as Mermaid, dot, SVG or PNG.

``callstate prune``: retention, one run; ``callstate export``: stored calls as
the JSON Lines that ``replay`` reads back.

``callstate replay FILE``: fold a JSON Lines file of deliveries and Call
resources into call states and print them as one JSON object. A bad line is
reported under ``rejected`` while every good line is still applied. Exit 0
when the file was read, 2 for unusable arguments or an unreadable file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

from callstate._core._call import CallState
from callstate._core._decider import CallBook, Decider
from callstate._core._parse import params_of_json, parse_callback
from callstate._core._report import state_json
from callstate._core._resource import parse_call_resources
from callstate._core._state import CallStatus
from callstate._core._time import OUT_OF_RANGE, out_of_range
from callstate._core._values import (
    Dialect,
    Reconcile,
    ReconciliationRequested,
    RecordDelivery,
    RegisterCall,
)
from callstate._errors import InvalidInput, StoreError, UsageError
from callstate.cli._diagram import FORMATS, state_diagram

if TYPE_CHECKING:
    from callstate.cli._store_replay import ReplayItem

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
    if out_of_range(value):
        raise _UsageError(f"{what}: {OUT_OF_RANGE}: {text!r}")
    return value


#: The line kinds, each a key of its own (a line has exactly one).
_KINDS = ("params", "body", "resource", "registered", "reconciliation_requested")

#: The longest ring timeout a ``registered`` line may give, in seconds.
_MAX_RING = 2**31 - 1


def _line_time(item: dict[str, Any], key: str, field: str | None = None) -> datetime | None:
    """``item[key]`` as an aware time, or None; a bad one is an error naming ``field``."""
    name = key if field is None else field
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(name, "must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(name, f"is not ISO 8601: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise InvalidInput(name, "has no time zone")
    if out_of_range(parsed):
        raise InvalidInput(name, OUT_OF_RANGE)
    return parsed


def _fields_of(
    item: dict[str, Any], kind: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The object under ``kind``: ``required`` there, nothing but those and ``optional``."""
    fields = item[kind]
    if not isinstance(fields, dict):
        raise InvalidInput(kind, "must be a JSON object")
    for name in fields:
        if name not in required and name not in optional:
            raise InvalidInput(f"{kind}.{name}", "is not a field of this line kind")
    for name in required:
        if fields.get(name) is None:
            raise InvalidInput(f"{kind}.{name}", "is missing")
    sid = fields["call_sid"]
    if not isinstance(sid, str) or not sid:
        raise InvalidInput(f"{kind}.call_sid", "must be a non-empty string")
    return fields


def _instant_of(fields: dict[str, Any], kind: str, key: str) -> datetime:
    value = _line_time(fields, key, f"{kind}.{key}")
    assert value is not None  # _fields_of checked it is there
    return value


def _ring_timeout(fields: dict[str, Any]) -> timedelta | None:
    value = fields.get("ring_timeout")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput("registered.ring_timeout", "must be a number of seconds or null")
    if not 0 <= value <= _MAX_RING:  # NaN fails this too
        raise InvalidInput("registered.ring_timeout", f"must be from 0 to {_MAX_RING} seconds")
    return timedelta(seconds=value)


def _commands_of_line(text: str) -> list[ReplayItem]:
    """What one JSON line asks for (a forked resource gives several commands)."""
    try:
        item = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidInput("line", "is not valid JSON") from None
    if not isinstance(item, dict):
        raise InvalidInput("line", "must be a JSON object")
    kinds = [k for k in _KINDS if k in item]
    if len(kinds) != 1:
        raise InvalidInput("line", f"must have exactly one of {', '.join(_KINDS)}")
    if "registered" in item:
        fields = _fields_of(item, "registered", ("call_sid", "placed_at"), ("ring_timeout",))
        return [
            RegisterCall(
                call_sid=fields["call_sid"],
                placed_at=_instant_of(fields, "registered", "placed_at"),
                ring_timeout=_ring_timeout(fields),
            )
        ]
    if "reconciliation_requested" in item:
        kind = "reconciliation_requested"
        fields = _fields_of(item, kind, ("call_sid", "at"))
        at = _instant_of(fields, kind, "at")
        return [ReconciliationRequested(call_sid=fields["call_sid"], at=at)]
    if "resource" in item:
        observed = _line_time(item, "observed_at") or _line_time(item, "received_at")
        return [
            Reconcile(resource=resource, observed_at=observed)
            for resource in parse_call_resources(item["resource"])
        ]
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
        delivery = parse_callback(params_of_json(params))
    return [RecordDelivery(delivery=delivery, received_at=received)]


class _Progress:
    """A progress line on stderr for large files, when stderr is a terminal."""

    def __init__(self, stream: IO[str], total_bytes: int | None) -> None:
        self._total = total_bytes
        self._on = bool(total_bytes and total_bytes > 1_000_000) and sys.stderr.isatty()
        self._stream = stream
        self._done = 0
        self._lines = 0

    def step(self, line: str) -> None:
        self._lines += 1
        self._done += len(line.encode("utf-8", "replace"))
        if self._on and self._total and self._lines % 5_000 == 0:
            percent = min(100.0, 100.0 * self._done / self._total)
            sys.stderr.write(f"\rreplayed {self._lines:,} lines ({percent:.0f}%)")
            sys.stderr.flush()

    def close(self) -> None:
        if self._on:
            sys.stderr.write(f"\rreplayed {self._lines:,} lines (100%)\n")


def replay(
    lines: Iterable[str],
    decider: Decider,
    now: datetime | None,
    *,
    sink: _ReplaySink | None = None,
    progress: _Progress | None = None,
) -> dict[str, Any]:
    """Fold JSON Lines into call states: the replay report as a JSON-ready dict."""
    target: _ReplaySink = _BookSink(CallBook(decider)) if sink is None else sink
    rejected = []
    for number, line in enumerate(lines, start=1):
        if progress is not None:
            progress.step(line)
        text = line.strip()
        if not text:
            continue
        try:
            for command in _commands_of_line(text):
                target.apply(command)
        except InvalidInput as exc:
            rejected.append({"line": number, "error": str(exc)})
    if progress is not None:
        progress.close()
    if now is not None:
        target.tick(now)
    calls = {state.call_sid: state_json(state) for state in target.states()}
    return {"calls": dict(sorted(calls.items())), "rejected": rejected}


class _ReplaySink:
    def apply(self, command: ReplayItem) -> None:
        raise NotImplementedError

    def tick(self, now: datetime) -> None:
        raise NotImplementedError

    def states(self) -> Iterable[CallState]:
        raise NotImplementedError


class _BookSink(_ReplaySink):
    """Replay in memory."""

    def __init__(self, book: CallBook) -> None:
        self.book = book

    def apply(self, command: ReplayItem) -> None:
        if isinstance(command, ReconciliationRequested):
            self.book.apply(command)
        else:
            self.book.handle(command)

    def tick(self, now: datetime) -> None:
        self.book.tick(now)

    def states(self) -> Iterable[CallState]:
        return self.book.states()


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
    replay_cmd.add_argument(
        "--store",
        help="persist into this SQLite file or PostgreSQL DSN (replaying twice changes nothing)",
    )
    calls_cmd = commands.add_parser("calls", help="list calls from a store, or show one")
    calls_cmd.add_argument("call_sid", nargs="?", help="show this call (with its timeline)")
    calls_cmd.add_argument(
        "--store",
        help="an existing SQLite file or a PostgreSQL DSN (CALLSTATE_STORE, callstate.sqlite)",
    )
    calls_cmd.add_argument(
        "--status",
        action="append",
        choices=[s.value for s in CallStatus],
        help="only calls with this current status; repeatable",
    )
    calls_cmd.add_argument("--dialect", choices=[d.value for d in Dialect], default="auto")
    serve_cmd = commands.add_parser(
        "serve",
        help="run the reference receiver (flags override CALLSTATE_* environment variables)",
    )
    serve_cmd.add_argument("--host", help="address to listen on (CALLSTATE_HOST, 127.0.0.1)")
    serve_cmd.add_argument("--port", help="port (CALLSTATE_PORT, 8000; 0 picks one)")
    serve_cmd.add_argument(
        "--store",
        help="SQLite file or PostgreSQL DSN (CALLSTATE_STORE, callstate.sqlite); "
        "a DSN's password belongs in CALLSTATE_STORE, PGPASSWORD or ~/.pgpass, not a flag",
    )
    serve_cmd.add_argument(
        "--auth-token",
        help="Twilio-style signing token; unsigned callbacks are then refused; with "
        "--account-sid also the Calls API's password. Prefer CALLSTATE_AUTH_TOKEN: a flag "
        "shows in ps to every user of the machine",
    )
    serve_cmd.add_argument(
        "--basic-auth",
        action="append",
        metavar="USER:PASSWORD",
        help="Basic-auth credentials that callbacks may carry (the Restcomm family's way); "
        "repeatable (CALLSTATE_BASIC_AUTH, a comma list)",
    )
    serve_cmd.add_argument(
        "--insecure-no-signatures",
        action="store_true",
        default=None,
        help="accept callbacks unverified, on a loopback address only "
        "(CALLSTATE_INSECURE_NO_SIGNATURES=1)",
    )
    serve_cmd.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        help="a bearer key for /calls; repeatable, to rotate (CALLSTATE_API_KEYS, a comma "
        "list); without one /calls answers 403",
    )
    serve_cmd.add_argument("--dialect", choices=[d.value for d in Dialect])
    serve_cmd.add_argument(
        "--provider",
        metavar="NAME",
        help="whose callbacks /callbacks reads, and whose signature the auth token checks: "
        "twilio (default), api19, restcomm, signalwire, telnyx-texml, telnyx, plivo, vonage, "
        "bandwidth, or a provider a package registers (CALLSTATE_PROVIDER)",
    )
    serve_cmd.add_argument(
        "--public-url",
        help="the callback URL as configured at the provider (or just its origin, "
        "https://calls.example.com): signatures are checked against it, whatever the "
        "Host header says (CALLSTATE_PUBLIC_URL)",
    )
    serve_cmd.add_argument(
        "--trust-proxy-header",
        action="append",
        dest="trusted_proxy_headers",
        help="a forwarded header your proxy sets, to rebuild the public URL; repeatable "
        "(CALLSTATE_TRUSTED_PROXY_HEADERS, comma-separated)",
    )
    serve_cmd.add_argument(
        "--trusted-proxy-ips",
        action="append",
        dest="trusted_proxy_ips",
        help="your proxies' addresses or networks, comma-separated: forwarded headers are "
        "read only from these (CALLSTATE_TRUSTED_PROXY_IPS; 127.0.0.1,::1)",
    )
    serve_cmd.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve_cmd.add_argument(
        "--log-format",
        choices=["json", "text"],
        help="json (one object a line; CALLSTATE_LOG_FORMAT, the default) or text; "
        "control characters are escaped in both",
    )
    serve_cmd.add_argument(
        "--store-timeout",
        help="seconds a store operation may take; past it the request gets 503 "
        "(CALLSTATE_STORE_TIMEOUT, 5)",
    )
    serve_cmd.add_argument(
        "--header-timeout",
        help="seconds to send a request's headers; past it 408 and closed "
        "(CALLSTATE_HEADER_TIMEOUT, 10)",
    )
    serve_cmd.add_argument(
        "--body-timeout",
        help="seconds to send a request's body after its headers; past it 408, nothing stored "
        "(CALLSTATE_BODY_TIMEOUT, 10)",
    )
    serve_cmd.add_argument(
        "--max-connections",
        help="connections at once; past it requests get 503 (CALLSTATE_MAX_CONNECTIONS, 1000)",
    )
    serve_cmd.add_argument(
        "--workers",
        help="worker processes on one port over one PostgreSQL store; each its own "
        "connections, background loops and /metrics (CALLSTATE_WORKERS, 1)",
    )
    serve_cmd.add_argument(
        "--forward",
        action="append",
        metavar="URL",
        help="send every status change to URL as a signed webhook (Standard Webhooks); "
        "repeatable (CALLSTATE_FORWARD, a comma list); needs CALLSTATE_FORWARD_SECRET",
    )
    serve_cmd.add_argument(
        "--forward-secret",
        help="the forwards' signing secret, whsec_<base64>. Prefer CALLSTATE_FORWARD_SECRET: "
        "a flag shows in ps to every user of the machine",
    )
    _reconcile_arguments(serve_cmd)
    _retention_arguments(serve_cmd)
    serve_cmd.add_argument(
        "--retention-interval",
        help="seconds between retention passes (CALLSTATE_RETENTION_INTERVAL, 600)",
    )
    reconcile_cmd = commands.add_parser(
        "reconcile",
        help="one reconciliation pass over a store: fetch the calls whose outcome is unknown",
    )
    reconcile_cmd.add_argument(
        "--store", help="SQLite file or PostgreSQL DSN (CALLSTATE_STORE, callstate.sqlite)"
    )
    reconcile_cmd.add_argument(
        "--auth-token", help="the Calls API's password; prefer CALLSTATE_AUTH_TOKEN"
    )
    reconcile_cmd.add_argument("--dialect", choices=[d.value for d in Dialect])
    reconcile_cmd.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    _reconcile_arguments(reconcile_cmd)
    prune_cmd = commands.add_parser(
        "prune", help="remove the calls final for longer than --keep-days, then exit"
    )
    prune_cmd.add_argument(
        "--store", help="SQLite file or PostgreSQL DSN (CALLSTATE_STORE, callstate.sqlite)"
    )
    _retention_arguments(prune_cmd)
    prune_cmd.add_argument("--dialect", choices=[d.value for d in Dialect])
    prune_cmd.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    export_cmd = commands.add_parser(
        "export", help="write stored calls as the JSON Lines that replay reads back"
    )
    export_cmd.add_argument(
        "--store",
        help="an existing SQLite file or a PostgreSQL DSN (CALLSTATE_STORE, callstate.sqlite)",
    )
    export_cmd.add_argument(
        "--since", help="the calls last heard of at or after this ISO 8601 time"
    )
    export_cmd.add_argument("--until", help="... and before this one")
    export_cmd.add_argument(
        "--keep-days",
        type=int,
        help="the calls `prune --keep-days N` would remove now (instead of --since/--until)",
    )
    export_cmd.add_argument("--format", choices=["jsonl"], default="jsonl")
    export_cmd.add_argument("-o", "--output", help="write to this file instead of stdout")
    export_cmd.add_argument("--dialect", choices=[d.value for d in Dialect], default="auto")
    demo_cmd = commands.add_parser(
        "demo", help="place calls on a fake provider with chaos on, and show they all converge"
    )
    demo_cmd.add_argument("--calls", type=int, default=200, help="how many calls (200)")
    demo_cmd.add_argument("--store", help="SQLite file or PostgreSQL DSN (a temporary file)")
    demo_cmd.add_argument("--seed", type=int, default=2026)
    demo_cmd.add_argument("--vocabulary", choices=["twilio", "restcomm"], default="twilio")
    demo_cmd.add_argument(
        "--provider",
        default="twilio",
        metavar="NAME",
        help="whose callbacks the fake provider sends, in its dialect: twilio (default), "
        "signalwire, telnyx-texml, telnyx, plivo, vonage, bandwidth",
    )
    demo_cmd.add_argument(
        "--serve",
        action="store_true",
        help="run a real `callstate serve` process with reconciliation on, drop 30%% of "
        "callbacks (finals too), and let its reconciliation end every call",
    )
    diagram_cmd = commands.add_parser(
        "diagram", help="draw the state machine from its one definition"
    )
    diagram_cmd.add_argument("--format", choices=FORMATS, default="mermaid")
    diagram_cmd.add_argument("-o", "--output", help="write to this file instead of stdout")
    diagram_cmd.add_argument(
        "--summary",
        action="store_true",
        help="the grouped drawing the docs show (dot, svg or png): final statuses in one box",
    )
    return parser


def _reconcile_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--account-sid",
        help="the provider account whose calls are reconciled (CALLSTATE_ACCOUNT_SID); "
        "with CALLSTATE_AUTH_TOKEN it turns reconciliation on",
    )
    command.add_argument(
        "--profile",
        choices=["api19", "restcomm", "twilio"],
        help="which Calls API (CALLSTATE_PROFILE, twilio)",
    )
    command.add_argument(
        "--api-base-url",
        help="the Calls API's address before /Accounts (CALLSTATE_API_BASE_URL; the profile's own)",
    )
    command.add_argument(
        "--api-timeout", help="seconds a Calls API request may take (CALLSTATE_API_TIMEOUT, 10)"
    )
    command.add_argument(
        "--reconcile-interval",
        help="seconds between passes, and a call's first backoff "
        "(CALLSTATE_RECONCILE_INTERVAL, 30)",
    )
    command.add_argument(
        "--reconcile-concurrency",
        help="fetches at once (CALLSTATE_RECONCILE_CONCURRENCY, 4)",
    )
    command.add_argument(
        "--ring-timeout",
        help="seconds a call rings when its own timeout is unknown (CALLSTATE_RING_TIMEOUT, 60)",
    )
    command.add_argument(
        "--max-call-length",
        help="seconds after its ring timeout before a live call is overdue "
        "(CALLSTATE_MAX_CALL_LENGTH, 14400)",
    )


def _retention_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--keep-days",
        help="remove the events and projections of calls final for longer than this many "
        "days (CALLSTATE_KEEP_DAYS; none: keep everything)",
    )


_RECONCILE_FLAGS = (
    "account_sid",
    "profile",
    "api_base_url",
    "api_timeout",
    "reconcile_interval",
    "reconcile_concurrency",
    "ring_timeout",
    "max_call_length",
)


def _reconcile(args: argparse.Namespace) -> int:
    from callstate.serve._main import reconcile_once  # noqa: PLC0415 (needs the serve extra)

    flags = {name: getattr(args, name) for name in _RECONCILE_FLAGS}
    flags.update(
        store=args.store, auth_token=args.auth_token, dialect=args.dialect, log_level=args.log_level
    )
    return _report_of(reconcile_once, flags)


def _prune(args: argparse.Namespace) -> int:
    from callstate.serve._main import prune_once  # noqa: PLC0415 (needs the serve extra)

    flags = {
        "store": args.store,
        "keep_days": args.keep_days,
        "dialect": args.dialect,
        "log_level": args.log_level,
    }
    return _report_of(prune_once, flags)


def _report_of(
    command: Callable[[dict[str, Any]], Mapping[str, object]], flags: dict[str, Any]
) -> int:
    """Run a one-pass command (reconcile, prune) and print its JSON report."""
    try:
        report = command(flags)
    except (UsageError, StoreError) as exc:
        raise _UsageError(str(exc)) from None
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _export(args: argparse.Namespace) -> int:
    from datetime import UTC, timedelta  # noqa: PLC0415

    from callstate.cli._export import export_calls  # noqa: PLC0415
    from callstate.stores import Runner  # noqa: PLC0415
    from callstate.stores._retention import newest_time, selected  # noqa: PLC0415

    if args.keep_days is not None and (args.since or args.until):
        raise _UsageError("give --keep-days, or --since/--until, not both")
    if args.keep_days is None and not args.since:
        raise _UsageError("give --since (and maybe --until), or --keep-days")
    if args.keep_days is not None and args.keep_days < 0:
        raise _UsageError("--keep-days must be 0 or more")
    since = None if args.since is None else _iso(args.since, "--since")
    until = None if args.until is None else _iso(args.until, "--until")
    target, source = _calls_store(args.store)
    store = _open_store(target, existing=True, source=source)
    runner = Runner(store, Decider(dialect=Dialect(args.dialect)))
    if args.keep_days is not None:
        cutoff = datetime.now(UTC) - timedelta(days=args.keep_days)

        def wanted(stored: Sequence[Any]) -> bool:
            return selected(runner, stored, cutoff)
    else:

        def wanted(stored: Sequence[Any]) -> bool:
            newest = newest_time(stored)
            if newest is None or (since is not None and newest < since):
                return False
            return until is None or newest < until

    try:
        with _output(args.output) as out:
            report = export_calls(store, wanted, out)
    except StoreError as exc:
        raise _UsageError(f"--store: {exc}") from None
    finally:
        store.close()
    print(json.dumps({"exported": report.as_json()}), file=sys.stderr)
    return 0


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[IO[str]]:
    """Standard output, or the file ``path`` (refused with exit 2 if it cannot be written)."""
    if path is None:
        yield sys.stdout
        return
    try:
        file = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise _UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    with file:
        yield file


def _diagram(fmt: str, output: str | None, summary: bool = False) -> int:
    try:
        drawing = state_diagram(fmt, summary=summary)
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


def _serve(args: argparse.Namespace) -> int:
    from callstate.serve._main import serve  # noqa: PLC0415 (needs the serve extra)

    flags = {
        "host": args.host,
        "port": args.port,
        "store": args.store,
        "auth_token": args.auth_token,
        "basic_auth": tuple(args.basic_auth or ()) or None,
        "insecure_no_signatures": args.insecure_no_signatures,
        "api_keys": tuple(args.api_keys or ()) or None,
        "dialect": args.dialect,
        "provider": args.provider,
        "public_url": args.public_url,
        "trusted_proxy_headers": tuple(args.trusted_proxy_headers or ()) or None,
        "trusted_proxy_ips": tuple(
            ip.strip()
            for ips in args.trusted_proxy_ips or ()
            for ip in ips.split(",")
            if ip.strip()
        )
        or None,
        "log_level": args.log_level,
        "log_format": args.log_format,
        "store_timeout": args.store_timeout,
        "header_timeout": args.header_timeout,
        "body_timeout": args.body_timeout,
        "max_connections": args.max_connections,
        "workers": args.workers,
        "forward": tuple(args.forward or ()) or None,
        "forward_secret": args.forward_secret,
        **{name: getattr(args, name) for name in _RECONCILE_FLAGS},
        "keep_days": args.keep_days,
        "retention_interval": args.retention_interval,
    }
    try:
        return serve(flags)
    except UsageError as exc:
        raise _UsageError(str(exc)) from None


def _demo(args: argparse.Namespace) -> int:
    from callstate.cli._demo import render, run_demo  # noqa: PLC0415 (needs the serve extra)

    if args.calls < 1:
        raise _UsageError("--calls must be at least 1")
    try:
        report = run_demo(
            args.calls,
            store=args.store,
            seed=args.seed,
            vocabulary=args.vocabulary,
            serve=args.serve,
            provider_name=args.provider,
        )
    except UsageError as exc:
        raise _UsageError(str(exc)) from None
    print(render(report))
    return 0 if report.converged else 1


def _size(path: str) -> int | None:
    try:
        return None if path == "-" else os.path.getsize(path)
    except OSError:
        return None


def _open_store(target: str, *, existing: bool = False, source: str = "--store") -> Any:
    """The store ``target`` names; ``existing``: a SQLite file must be there already.

    A command that only reads must not create an empty database where a
    typo pointed, and then report that it holds no calls.
    """
    from callstate.stores._open import is_postgres, open_store  # noqa: PLC0415 (optional here)

    if existing and not is_postgres(target) and not os.path.isfile(target):
        raise _UsageError(
            f"{source}: no SQLite store at {target!r} (calls only reads: give an existing file)"
        )
    try:
        return open_store(target)
    except (UsageError, StoreError) as exc:
        raise _UsageError(f"{source}: {exc}") from None


def _store_sink(store: Any, decider: Decider) -> Any:
    from callstate.cli._store_replay import StoreReplay  # noqa: PLC0415
    from callstate.stores import Runner  # noqa: PLC0415

    return StoreReplay(store, Runner(store, decider))


def _calls_store(flag: str | None) -> tuple[str, str]:
    """``--store``, else ``CALLSTATE_STORE``, else serve's default (where serve writes).

    Answers the store and where it was named, for the error that names it.
    """
    from callstate.stores._open import DEFAULT_STORE  # noqa: PLC0415 (stores are optional here)

    if flag:
        return flag, "--store"
    env = os.environ.get("CALLSTATE_STORE")
    if env:
        return env, "CALLSTATE_STORE"
    return DEFAULT_STORE, "the default store (no --store, no CALLSTATE_STORE)"


def _calls(args: argparse.Namespace) -> int:
    target, source = _calls_store(args.store)
    store = _open_store(target, existing=True, source=source)
    try:
        decider = Decider(dialect=Dialect(args.dialect))
        if args.call_sid:
            stored = store.load(args.call_sid)
            if not stored:
                print(f"callstate: no call {args.call_sid!r} in the store", file=sys.stderr)
                return 1
            state = decider.fold([item.event for item in stored], args.call_sid)
            json.dump({"call_sid": args.call_sid, **state_json(state)}, sys.stdout, indent=2)
        else:
            statuses = [CallStatus(s) for s in args.status or ()] or list(CallStatus)
            sids = store.calls_with_status(*statuses)
            rows = [
                {
                    "call_sid": sid,
                    "status": decider.fold(
                        [item.event for item in store.load(sid)], sid
                    ).status.value,
                }
                for sid in sids
            ]
            json.dump({"total": len(rows), "calls": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    except StoreError as exc:
        raise _UsageError(f"--store: {exc}") from None
    finally:
        store.close()
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
            return _diagram(args.format, args.output, args.summary)
        if args.command == "serve":
            return _serve(args)
        if args.command == "reconcile":
            return _reconcile(args)
        if args.command == "prune":
            return _prune(args)
        if args.command == "export":
            return _export(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "calls":
            return _calls(args)
        now = None if args.now is None else _iso(args.now, "--now")
        decider = Decider(dialect=Dialect(args.dialect))
        stream = _open(args.file)
        store = None if args.store is None else _open_store(args.store)
        try:
            sink = None if store is None else _store_sink(store, decider)
            report = replay(
                stream, decider, now, sink=sink, progress=_Progress(stream, _size(args.file))
            )
        except (OSError, UnicodeDecodeError) as exc:
            raise _UsageError(f"cannot read {args.file}: {exc}") from None
        finally:
            if stream is not sys.stdin:
                stream.close()
            if store is not None:
                store.close()
    except _UsageError as exc:
        print(f"callstate: {exc}", file=sys.stderr)
        return 2
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
