"""Bounds on slow clients: the time to send a request's headers, and its body.

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) and
the connections open at once (``limit_concurrency``), but not a request that
arrives a byte at a time. ``deadline_protocol`` is uvicorn's h11 protocol
with two deadlines, kept in the protocol because no ASGI app exists before
the headers are in:

- **headers**: ``header_timeout`` seconds from the connection's opening, and
  again from each answer, to the end of the next request's headers. A
  connection that sent part of a request by then is answered 408 and
  closed; one that sent nothing is closed.
- **body**: ``body_timeout`` seconds from the end of the headers to the end
  of the body. Past it the client gets 408 (if nothing was answered yet)
  and the connection is closed; the app reading the body gets
  ``http.disconnect``, and the webhook route stores nothing from a body it
  could not read to its end.

One timer per connection, moved only when it would fire too late: a
request whose body came with its headers costs no timer of its own (a timer
per request cost ``callstate serve`` about 4% more instructions per webhook).
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["deadline_protocol"]

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


class _Deadlines(H11Protocol):
    """uvicorn's h11 protocol, with deadlines for each request's headers and body."""

    header_timeout: float = 10.0
    body_timeout: float = 10.0

    _timer: asyncio.TimerHandle | None = None
    _state: object = None  # the client's h11 state when last seen
    _since: float = 0.0  # when the client entered it (loop time)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._seen()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        self._seen()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._seen()

    def _limit(self, state: object) -> float | None:
        """How long the client may stay in ``state``; None: it is not the one awaited."""
        if state is h11.IDLE:
            return self.header_timeout
        if state is h11.SEND_BODY:
            return self.body_timeout
        return None

    def _seen(self) -> None:
        """Note the client's state; when it changed, make sure the timer fires in time."""
        state = self.conn.their_state
        if state is self._state:
            return
        self._state = state
        self._since = self.loop.time()
        limit = self._limit(state)
        if limit is None:
            return
        due = self._since + limit
        timer = self._timer
        if timer is None or timer.when() > due:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(due, self._check)

    def _check(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        self._seen()  # a change not seen yet sets its own timer
        state = self._state
        limit = self._limit(state)
        if limit is None or self._timer is not None:
            return
        due = self._since + limit
        if self.loop.time() < due:
            self._timer = self.loop.call_at(due, self._check)
            return
        if state is h11.IDLE:
            if self.conn.trailing_data[0]:  # part of a request came: say why it ends
                LOGGER.warning("slow request headers: answered 408 and closed")
                reason = f"headers: did not arrive within {self.header_timeout:g}s"
                self.transport.write(_answer_408(reason))
        elif self.cycle is None or not self.cycle.response_started:
            # The app waits for the rest of the body; closing hands it http.disconnect.
            LOGGER.warning("slow request body: answered 408 and closed")
            self.transport.write(_answer_408(f"body: did not arrive within {self.body_timeout:g}s"))
        self.transport.close()


def deadline_protocol(header_timeout: float, body_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol class, closing connections that send a request too slowly."""
    return type(
        "DeadlineProtocol",
        (_Deadlines,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )
