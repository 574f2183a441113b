"""Webhooks per second through callstate, beside the same framework's bare 204 endpoint.

For each adapter, one server process (on 127.0.0.1) serves three routes of
the same application: ``/hook`` (callstate: Twilio signature check, parse,
store in the in-memory store, answer), ``/bare`` (the framework's own
endpoint that answers 204 and does nothing) and ``/naive``: what a team would
write by hand for the same job, a stdlib-only baseline (``parse_qsl``, an
HMAC-SHA1 Twilio signature check, the latest status per CallSid in a dict;
no validation, no event log). A client process drives them in turns with
signed status callbacks over keep-alive connections, so drift hits all
alike. Every callback sent to callstate or the baseline is a new one (four
per call, made before the round's clock starts; a round that runs out of
them stops the benchmark); the bare endpoint is sent the same bytes.

    python benchmarks/webhooks.py [--json] [--seconds 2.0] [--adapters flask,asgi]
                                  [--verifier twilio|basic] [--sink memory|book]

The target (issue 18) is ``callstate_to_naive_ratio >= 0.9`` on every adapter,
with the in-memory store: the median over rounds of callstate's rate over the
naive baseline's in the same round. By default callstate appends every event
to a ``MemoryStore`` through a ``Runner``. ``--sink book`` has it keep call
states in a ``CallBook`` instead (no event log). ``--verifier basic`` has it
check Basic-auth credentials (as Restcomm-family providers send them) instead
of a Twilio signature; the naive baseline checks the signature either way.

Beside the rates, ``callstate_cpu_us``, ``bare_cpu_us`` and ``naive_cpu_us``:
the server's CPU time per request in the same rounds (Linux), which holds
whichever side, server or client, is the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import itertools
import json
import multiprocessing
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

from _rounds import ratio
from callstate import CallBook, Sink
from callstate.stores import MemoryStore, Runner
from callstate.web import (
    AsyncWebhookHandler,
    BasicAuth,
    TwilioSignature,
    Verifier,
    WebhookHandler,
)
from callstate.web._signature import twilio_signature

TOKEN = "bench-token"
ADAPTERS = ("wsgi", "flask", "django", "asgi", "starlette", "aiohttp")
STATUSES = ("initiated", "ringing", "in-progress", "completed")


_KEY = TOKEN.encode()
_latest: dict[str, tuple[str, int]] = {}


def _naive(url: str, body: bytes, signature: str) -> int:
    """The naive baseline's work: the status to answer a form-encoded callback with."""
    try:
        params = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return 400
    data = url + "".join(name + value for name, value in sorted(params))
    expected = base64.b64encode(hmac.digest(_KEY, data.encode(), "sha1")).decode()
    if not hmac.compare_digest(expected, signature):
        return 403
    fields = dict(params)
    try:
        _latest[fields["CallSid"]] = (fields["CallStatus"], int(fields["SequenceNumber"]))
    except (KeyError, ValueError):
        return 400
    return 204


#: How callstate checks and keeps each callback: set in the server process
#: (``--verifier``, ``--sink``).
_verifier: list[Verifier] = [TwilioSignature(secrets=[TOKEN])]
_sink: list[Callable[[], Sink]] = [lambda: Runner(MemoryStore())]
SINKS: dict[str, Callable[[], Sink]] = {
    "book": CallBook,
    "memory": lambda: Runner(MemoryStore()),
}
VERIFIERS: dict[str, Callable[[], Verifier]] = {
    "twilio": lambda: TwilioSignature(secrets=[TOKEN]),
    "basic": lambda: BasicAuth(credentials={USER: TOKEN}),
}
USER = "bench"


def _sync() -> WebhookHandler:
    return WebhookHandler(_sink[0](), verifier=_verifier[0])


def _async() -> AsyncWebhookHandler:
    return AsyncWebhookHandler(_sink[0](), verifier=_verifier[0])


_STATUS_LINES = {204: "204 No Content", 400: "400 Bad Request", 403: "403 Forbidden"}


def _wsgi() -> tuple[str, Any]:
    from callstate.web.wsgi import webhook_app

    hook = webhook_app(_sync())

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ["PATH_INFO"] == "/bare":
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("204 No Content", [])
            return [b""]
        if environ["PATH_INFO"] == "/naive":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            url = f"http://{environ['HTTP_HOST']}/naive"
            status = _naive(url, body, environ.get("HTTP_X_TWILIO_SIGNATURE", ""))
            start_response(
                _STATUS_LINES[status], [] if status == 204 else [("Content-Length", "0")]
            )
            return [b""]
        return hook(environ, start_response)

    return "wsgi", app


def _flask() -> tuple[str, Any]:
    import flask

    from callstate.web.flask import register

    app = flask.Flask("bench")
    register(app, "/hook", _sync())

    @app.post("/bare")
    def bare() -> tuple[str, int]:
        flask.request.get_data()
        return "", 204

    @app.post("/naive")
    def naive() -> tuple[str, int]:
        request = flask.request
        signature = request.headers.get("X-Twilio-Signature", "")
        return "", _naive(request.url, request.get_data(), signature)

    return "wsgi", app


def _django() -> tuple[str, Any]:
    import types

    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpRequest, HttpResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    from callstate.web.django import webhook_view

    @csrf_exempt
    def bare(request: HttpRequest) -> HttpResponse:
        request.body  # noqa: B018 - read it, as a real endpoint would
        return HttpResponse(status=204)

    @csrf_exempt
    def naive(request: HttpRequest) -> HttpResponse:
        signature = request.headers.get("X-Twilio-Signature", "")
        return HttpResponse(status=_naive(request.build_absolute_uri(), request.body, signature))

    urls = types.ModuleType("bench_urls")
    urls.urlpatterns = [
        path("hook", webhook_view(_sync())),
        path("bare", bare),
        path("naive", naive),
    ]  # type: ignore[attr-defined]
    sys.modules["bench_urls"] = urls
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF="bench_urls",
        MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
        USE_TZ=True,
    )
    django.setup()
    return "wsgi", WSGIHandler()


def _asgi() -> tuple[str, Any]:
    from callstate.web.asgi import webhook_app

    hook = webhook_app(_async())

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/bare":
            while (await receive()).get("more_body"):
                pass
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["type"] == "http" and scope["path"] == "/naive":
            body, more = b"", True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            headers = dict(scope["headers"])
            url = f"http://{headers[b'host'].decode()}/naive"
            status = _naive(url, body, headers.get(b"x-twilio-signature", b"").decode())
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await hook(scope, receive, send)

    return "asgi", app


def _starlette() -> tuple[str, Any]:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from callstate.web.starlette import webhook_route

    async def bare(request: Request) -> Response:
        await request.body()
        return Response(status_code=204)

    async def naive(request: Request) -> Response:
        signature = request.headers.get("X-Twilio-Signature", "")
        return Response(status_code=_naive(str(request.url), await request.body(), signature))

    app = Starlette(
        routes=[
            webhook_route("/hook", _async()),
            Route("/bare", bare, methods=["POST"]),
            Route("/naive", naive, methods=["POST"]),
        ]
    )
    return "asgi", app


def _aiohttp() -> tuple[str, Any]:
    from aiohttp import web

    from callstate.web.aiohttp import add_webhook

    async def bare(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    async def naive(request: web.Request) -> web.Response:
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        signature = request.headers.get("X-Twilio-Signature", "")
        return web.Response(status=_naive(url, await request.read(), signature))

    app = web.Application()
    add_webhook(app, "/hook", _async())
    app.router.add_post("/bare", bare)
    app.router.add_post("/naive", naive)
    return "aiohttp", app


SERVERS = {
    "wsgi": _wsgi,
    "flask": _flask,
    "django": _django,
    "asgi": _asgi,
    "starlette": _starlette,
    "aiohttp": _aiohttp,
}


def _serve(name: str, ports: Any, verifier: str, sink: str) -> None:
    """In the server process: run ``name``'s app until terminated (SIGTERM)."""
    _verifier[0] = VERIFIERS[verifier]()
    _sink[0] = SINKS[sink]
    kind, app = SERVERS[name]()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: no Nagle delay between a head and a body write.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    ports.put(f"http://127.0.0.1:{sock.getsockname()[1]}")
    if kind == "wsgi":
        from gunicorn.app.base import BaseApplication

        class Gunicorn(BaseApplication):  # type: ignore[misc]
            def load_config(self) -> None:
                for key, value in {
                    "bind": [f"fd://{sock.fileno()}"],
                    "workers": 1,
                    "worker_class": "gthread",
                    "threads": 4,
                    "keepalive": 30,
                    "loglevel": "error",
                }.items():
                    self.cfg.set(key, value)

            def load(self) -> Any:
                return app

        Gunicorn().run()
    elif kind == "asgi":
        import uvicorn

        config = uvicorn.Config(app, http="h11", ws="none", lifespan="off", log_level="error")
        uvicorn.Server(config).run(sockets=[sock])
    else:
        from aiohttp import web

        web.run_app(app, sock=sock, access_log=None, print=None)


def _requests(
    base: str, path: str, first: int, count: int, verifier: str = "twilio"
) -> Iterator[bytes]:
    """``count`` signed status callbacks, four per call, calls numbered from ``first // 4``.

    Each carries its ``X-Twilio-Signature`` (the naive baseline checks it),
    and with the ``basic`` verifier the credentials as well.
    """
    host = base.removeprefix("http://")
    credentials = ""
    if verifier == "basic":
        token = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
        credentials = f"Authorization: Basic {token}\r\n"
    url = f"{base}{path}"
    for i in range(first, first + count):
        params = [
            ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
            ("CallSid", f"CA{i // 4:08d}"),
            ("CallStatus", STATUSES[i % 4]),
            ("SequenceNumber", str(i % 4)),
            ("Timestamp", "Tue, 24 Nov 2026 10:15:32 +0000"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("CallbackSource", "call-progress-events"),
        ]
        body = urlencode(params).encode()
        signature = twilio_signature(TOKEN, url, params)
        yield (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n{credentials}"
            f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body


class RanOut(Exception):
    """A round's requests ran out before its time did: its rate would be wrong."""


async def _drive(
    base: str, requests: Sequence[bytes], seconds: float, connections: int, *, cycle: bool = False
) -> tuple[int, float]:
    """Requests answered in ``seconds``, and the seconds taken.

    Each request of ``requests`` is sent once, unless ``cycle`` (for the bare
    endpoint, which does not look at what it is sent); running out of them
    before the time is up raises ``RanOut``.
    """
    host, port = base.removeprefix("http://").split(":")
    cursor = itertools.cycle(range(len(requests))) if cycle else iter(range(len(requests)))
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                index = next(cursor, None)
                if index is None:
                    raise RanOut(f"{len(requests)} requests ran out before {seconds} s")
                writer.write(requests[index])
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                if status not in (200, 204):
                    raise RuntimeError(f"unexpected answer {head!r}")
                length, close = 0, False
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                    elif line.lower() == b"connection: close":
                        close = True
                    elif line.lower().startswith(b"transfer-encoding:"):
                        raise RuntimeError("a chunked answer: give it a Content-Length")
                if length:
                    await reader.readexactly(length)
                done += 1
                if close:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return done, time.perf_counter() - started


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of process ``pid`` and its descendants; None without /proc."""
    stats: dict[int, tuple[int, float]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                fields = file.read().rpartition(")")[2].split()
        except OSError:
            continue
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    if pid not in stats:
        return None
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        total += stats[current][1]
        pending.extend(child for child, (parent, _) in stats.items() if parent == current)
    return total


def measure(
    name: str,
    seconds: float,
    rounds: int,
    connections: int,
    verifier: str = "twilio",
    sink: str = "memory",
) -> dict[str, float | list[float]]:
    """Webhooks/s through callstate, the bare endpoint and the naive baseline, in turns.

    Each rate is the kind's median round; ``callstate_ratio`` and
    ``naive_ratio`` are medians of the per-round ratios to the bare endpoint,
    ``callstate_to_naive_ratio`` of callstate's to the naive baseline's, each
    with its ``_ratio_spread`` (min, max).

    Beside each rate, the server's CPU time per request (user + system, its
    processes together; Linux): unlike a rate, it does not depend on whether
    the server or this client is the bottleneck, nor much on other load.
    """
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    server = context.Process(target=_serve, args=(name, ports, verifier, sink))
    server.start()
    try:
        base = ports.get(timeout=60)
        pid = server.pid
        assert pid is not None
        # The bare endpoint is sent the same bytes over and over; callstate is
        # sent new callbacks only (repeats would take its cheaper duplicate path),
        # enough for a round at the best rate seen so far, twice over.
        bare = list(_requests(base, "/bare", 0, 1_000, verifier))
        naive = list(_requests(base, "/naive", 0, 15_000, verifier))
        hook = list(_requests(base, "/hook", 15_000, 15_000, verifier))
        # Each warmed up alike (and the best rate seen, to size the rounds).
        asyncio.run(_drive(base, bare, 0.3, connections, cycle=True))
        best = 0.0
        for requests in (naive, hook):
            done, took = asyncio.run(_drive(base, requests, 0.3, connections))
            best = max(best, done / took)
        offset = 30_000
        kinds = ("bare", "naive", "callstate")
        figures: dict[str, list[float]] = {
            f"{kind}_{unit}": [] for unit in ("rps", "cpu_us") for kind in kinds
        }
        for round_ in range(rounds):
            # Each kind takes each place in the order in turn: what a round's
            # position costs or gives (a server warming, a cache) goes to all.
            for kind in kinds[round_ % 3 :] + kinds[: round_ % 3]:
                if kind == "bare":
                    requests = bare
                else:
                    count = int(2 * best * seconds) + 1_000
                    path = "/hook" if kind == "callstate" else "/naive"
                    requests = list(_requests(base, path, offset, count, verifier))
                    offset += count
                cpu_before = _cpu_seconds(pid)
                done, took = asyncio.run(
                    _drive(base, requests, seconds, connections, cycle=kind == "bare")
                )
                cpu_after = _cpu_seconds(pid)
                best = max(best, done / took)
                figures[f"{kind}_rps"].append(done / took)
                # /proc counts CPU time in clock ticks (10 ms): a round the server
                # spent less than a tick on has no figure, rather than a false 0.
                spent = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
                if spent and done:
                    figures[f"{kind}_cpu_us"].append(spent / done * 1e6)
    finally:
        server.terminate()
        server.join(15)
        if server.is_alive():
            server.kill()
            server.join()
    out: dict[str, float | list[float]] = {
        key: round(statistics.median(values), 1) for key, values in figures.items() if values
    }
    rps = {kind: figures[f"{kind}_rps"] for kind in kinds}
    out.update(ratio("callstate", rps["callstate"], rps["bare"]))
    out.update(ratio("naive", rps["naive"], rps["bare"]))
    out.update(ratio("callstate_to_naive", rps["callstate"], rps["naive"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one round")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of bare, naive, callstate (in turn first)"
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--adapters", default=",".join(ADAPTERS))
    parser.add_argument(
        "--verifier",
        choices=sorted(VERIFIERS),
        default="twilio",
        help="callstate's check: an X-Twilio-Signature (HMAC-SHA1), or Basic-auth credentials",
    )
    parser.add_argument(
        "--sink",
        choices=sorted(SINKS),
        default="memory",
        help="where callstate keeps what it accepts: a MemoryStore (through a Runner), or a "
        "CallBook",
    )
    args = parser.parse_args()
    results = {}
    for name in args.adapters.split(","):
        results[name] = measure(
            name, args.seconds, args.rounds, args.connections, args.verifier, args.sink
        )
        if not args.json:
            figures = results[name]
            print(
                f"{name:10} ratio {figures['callstate_ratio']} {figures['callstate_ratio_spread']}"
                f" (naive {figures['naive_ratio']}; callstate to naive"
                f" {figures['callstate_to_naive_ratio']}) {figures}",
                flush=True,
            )
    if args.json:
        print(json.dumps({"adapters": results}, indent=2))


if __name__ == "__main__":
    main()
