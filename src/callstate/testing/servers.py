"""Run an application on a real socket (127.0.0.1, an ephemeral port) for a test.

Each helper is a context manager yielding the base URL, ``http://127.0.0.1:PORT``,
and stops the server on exit. The server packages are imported only when used:
``serve_wsgi`` needs werkzeug, ``serve_asgi`` uvicorn, ``serve_aiohttp`` aiohttp.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from aiohttp import web

__all__ = ["serve_aiohttp", "serve_asgi", "serve_wsgi"]


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: no Nagle delay between a head and a body write.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextmanager
def serve_wsgi(app: WSGIApplication, *, threaded: bool = True) -> Iterator[str]:
    """A WSGI application under werkzeug's server (HTTP/1.1, keep-alive)."""
    from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: PLC0415 (optional)

    class Handler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return None

    server = make_server("127.0.0.1", 0, app, threaded=threaded, request_handler=Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """An ASGI application under uvicorn (h11, no websockets, no lifespan, no proxy headers)."""
    import uvicorn  # noqa: PLC0415 (optional)

    sock = _listening_socket()
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-Proto/-For
    # from loopback peers (the test's own client) before the app sees them.
    config = uvicorn.Config(
        app,
        http="h11",
        ws="none",
        lifespan="off",
        log_level="error",
        access_log=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.daemon = True
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            thread.join(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@contextmanager
def serve_aiohttp(app: web.Application) -> Iterator[str]:
    """An aiohttp.web application under aiohttp's own runner, on its own loop."""
    from aiohttp import web  # noqa: PLC0415 (optional)

    sock = _listening_socket()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)

    async def start() -> None:
        await runner.setup()
        await web.SockSite(runner, sock).start()

    thread = threading.Thread(target=loop.run_forever)
    thread.daemon = True
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(start(), loop).result()
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        sock.close()
