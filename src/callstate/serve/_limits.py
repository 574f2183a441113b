"""Bounds on slow clients: the time to send a request's headers, and its body.

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) and
the connections open at once (``limit_concurrency``), but not a request that
arrives a byte at a time. Two deadlines here:

- **headers**, in the protocol (no ASGI app exists before the headers are
  in): ``header_deadline_protocol`` is uvicorn's h11 protocol with a timer
  from the connection's opening, and again from each answer, to the end of
  the next request's headers. When it fires, a connection that sent part of
  a request is answered 408 and closed; one that sent nothing is closed.
- **body**, in ASGI: ``BodyDeadline`` gives the app's reads of the body
  ``seconds`` from the moment the headers were in. Past it the client gets
  408 with ``Connection: close`` and the app gets ``http.disconnect`` (the
  webhook route stores nothing from a body it could not read to its end).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["BodyDeadline", "header_deadline_protocol"]

LOGGER = logging.getLogger("callstate.serve")


def _answer_408(reason: str) -> bytes:
    body = reason.encode("ascii")
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for each request's headers."""

    header_timeout: float = 10.0

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the headers are in (or it failed)
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Waiting for the next request's headers (none pipelined whole).
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:  # part of a request came: say why it ends
            reason = f"headers: did not arrive within {self.header_timeout:g}s"
            LOGGER.warning("slow request headers: answered 408 and closed")
            self.transport.write(_answer_408(reason))
        self.transport.close()


def header_deadline_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol class, closing connections that send headers too slowly."""
    return type("HeaderDeadlineProtocol", (_HeaderDeadline,), {"header_timeout": seconds})


class BodyDeadline:
    """ASGI middleware: an HTTP request's body must arrive within ``seconds`` of its headers."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        state: dict[str, Any] = {"body_done": False, "late": False, "started": False}

        async def bounded_receive() -> Message:
            if state["late"]:
                return {"type": "http.disconnect"}
            if state["body_done"]:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):  # a timer, no task per read
                    message = await receive()
            except TimeoutError:
                state["late"] = True
                if not state["started"]:
                    await _send_408(send, f"body: did not arrive within {self.seconds:g}s")
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["body_done"] = True
            return message

        async def guarded_send(message: Message) -> None:
            if state["late"]:
                return  # the client was answered 408
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        await self.app(scope, bounded_receive, guarded_send)


async def _send_408(send: Send, reason: str) -> None:
    LOGGER.warning("slow request body: answered 408 and closed")
    body = reason.encode("ascii")
    await send(
        {
            "type": "http.response.start",
            "status": 408,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
