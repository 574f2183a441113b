"""Plain request and response values, and the one-method transports that carry them.

The client builds ``Request`` values and reads ``Response`` values; a
transport (one small class per HTTP library) turns one into the other over a
socket. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import attrs

from callstate import _redact as redact

__all__ = ["AsyncTransport", "Request", "Response", "Retry", "Transport"]

#: Read at most this much of an answer; a longer one is a ``BadResponse``.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024


@attrs.frozen(kw_only=True)
class Request:
    """One HTTP request to the Calls API, as plain values.

    ``max_response_bytes`` tells the transport how much of the answer to read
    at most: it reads one byte more, so that the client can tell "too big".
    """

    method: str
    url: str = attrs.field(repr=redact.urls)
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=redact.headers)
    body: bytes = attrs.field(default=b"", repr=redact.urls)
    max_response_bytes: int = MAX_RESPONSE_BYTES

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        return _header(self.headers, name)


@attrs.frozen(kw_only=True)
class Response:
    """One HTTP answer, as plain values: the status, the headers, the body read."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        return _header(self.headers, name)


def _header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


class Transport(Protocol):
    """Sends a ``Request`` and returns the ``Response``, mapping its library's errors.

    Raise ``ApiTimeout`` when the answer does not come in time and
    ``ApiConnectionError`` when the connection fails or breaks; read at most
    ``request.max_response_bytes + 1`` bytes of the body. Decide nothing else.
    """

    def send(self, request: Request) -> Response: ...

    def close(self) -> None: ...


class AsyncTransport(Protocol):
    """The async twin of ``Transport``."""

    async def send(self, request: Request) -> Response: ...

    async def aclose(self) -> None: ...


@attrs.frozen(kw_only=True)
class Retry:
    """How often, and after what pauses, to send a request that is safe to repeat.

    After a transport error or a 5xx only requests that change nothing (GET)
    are repeated: placing or modifying a call is sent once, since a repeat
    could ring someone twice. After a 429 any request is repeated (the
    provider did nothing), pausing at least the answer's ``Retry-After``;
    one asking more than ``max_retry_after`` seconds is not waited for.
    ``attempts`` counts the first.
    """

    attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    backoff: float = attrs.field(default=0.1, validator=attrs.validators.ge(0))
    max_backoff: float = attrs.field(default=2.0, validator=attrs.validators.ge(0))
    max_retry_after: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))

    def delays(self) -> Iterator[float]:
        """The pause before each repeat: doubling from ``backoff``, capped."""
        for n in range(self.attempts - 1):
            yield min(self.max_backoff, self.backoff * 2**n)
