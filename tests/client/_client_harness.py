"""Shared pieces for the client tests: adapters by name, a sync face for the async ones,
and a real webhook server that feeds status callbacks into a CallBook."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from callstate import CallBook, Decider, RecordDelivery, parse_callback
from callstate.client import AsyncCalls, Calls, CallsApi, Profile, Retry

ADAPTERS = ("urllib", "requests", "httpx", "httpx-async", "aiohttp")


def make_transport(name: str, timeout: float) -> Any:
    if name == "urllib":
        from callstate.client.urllib import UrllibTransport

        return UrllibTransport(timeout=timeout)
    if name == "requests":
        from callstate.client.requests import RequestsTransport

        return RequestsTransport(timeout=timeout)
    if name == "httpx":
        from callstate.client.httpx import HttpxTransport

        return HttpxTransport(timeout=timeout)
    if name == "httpx-async":
        from callstate.client.httpx import HttpxAsyncTransport

        return HttpxAsyncTransport(timeout=timeout)
    if name == "aiohttp":
        from callstate.client.aiohttp import AiohttpTransport

        return AiohttpTransport(timeout=timeout)
    raise ValueError(name)


class SyncFace:
    """Runs an ``AsyncCalls`` on one event loop, with the sync ``Calls`` methods."""

    def __init__(self, calls: AsyncCalls) -> None:
        self.calls = calls
        self.api = calls.api
        self._runner = asyncio.Runner()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.calls, name)

        def run(*args: Any, **kwargs: Any) -> Any:
            return self._runner.run(method(*args, **kwargs))

        return run

    def iter_calls(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        async def collect() -> list[Any]:
            return [call async for call in self.calls.iter_calls(*args, **kwargs)]

        return iter(self._runner.run(collect()))

    def close(self) -> None:
        self._runner.run(self.calls.aclose())
        self._runner.close()


def make_calls(
    name: str,
    api: CallsApi,
    *,
    timeout: float = 5.0,
    retry: Retry | None = None,
    slept: list[float] | None = None,
) -> Any:
    """A ``Calls`` (sync adapters) or a ``SyncFace`` over ``AsyncCalls`` (async ones)."""
    pauses = [] if slept is None else slept
    transport = make_transport(name, timeout)
    if name in ("httpx-async", "aiohttp"):

        async def asleep(delay: float) -> None:
            pauses.append(delay)

        return SyncFace(AsyncCalls(api, transport, retry=retry, sleep=asleep))
    return Calls(api, transport, retry=retry, sleep=pauses.append)


def api_for(profile: Profile, account_sid: str, token: str, **kwargs: Any) -> CallsApi:
    return CallsApi(account_sid=account_sid, token=token, profile=profile, **kwargs)


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Webhook:
    """A real web server on 127.0.0.1 that records every status callback into a CallBook."""

    def __init__(self, decider: Decider | None = None) -> None:
        self.book = CallBook(decider or Decider())
        self.lock = threading.Lock()
        self.received: list[tuple[str, str, bytes, dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _take(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                raw = body if self.command == "POST" else urlsplit(self.path).query.encode()
                with owner.lock:
                    owner.received.append((self.command, self.path, raw, dict(self.headers)))
                    delivery = parse_callback(raw)
                    owner.book.handle(
                        RecordDelivery(delivery=delivery, received_at=datetime.now(UTC))
                    )
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                self._take()

            def do_POST(self) -> None:
                self._take()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/status?token=abc"

    def __enter__(self) -> Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
