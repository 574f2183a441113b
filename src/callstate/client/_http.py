"""Plain request and response values, and the one-method transports that carry them.

The client builds ``Request`` values and reads ``Response`` values; a
transport (one small class per HTTP library) turns one into the other over a
socket. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

import attrs

from callstate import _redact as redact
from callstate._core._make import maker, slot_setters, staging_class

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


class _HeadersLater:
    """What ``Response`` keeps beside its fields: where its headers come from, if made later."""

    __slots__ = ("_headers_from",)


@attrs.frozen(kw_only=True)
class Response(_HeadersLater):
    """One HTTP answer, as plain values: the status, the headers, the body read.

    A bundled transport may leave the headers in its library's form until
    ``headers`` is first read (the client reads them only to report a bad
    answer): read, they are the same tuple of pairs, in the same order.
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        return _header(self.headers, name)

    if not TYPE_CHECKING:  # to a type checker, Response has only its own attributes

        def __getattr__(self, name: str) -> object:
            # Python asks here only for what is not set: ``headers`` of an answer
            # made by ``response_later``, until they are first read.
            if name != "headers":
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            headers = tuple(self._headers_from())
            _set_headers(self, headers)
            return headers


(_set_headers,) = slot_setters(Response, "headers")
_staging_response: Final[Any] = staging_class(Response)
if _staging_response is None:  # pragma: no cover - CPython lets it be made
    raise TypeError("Response cannot be made through a staging class")
_new: Final = object.__new__


def new_response(status: int, headers: tuple[tuple[str, str], ...], body: bytes) -> Response:
    """``Response(status=status, headers=headers, body=body)``, positional and quicker."""
    made = _new(_staging_response)
    made.status = status
    made.headers = headers
    made.body = body
    made.__class__ = Response
    return cast(Response, made)


def response_later(
    status: int, headers_from: Callable[[], Iterable[tuple[str, str]]], body: bytes
) -> Response:
    """A ``Response`` whose headers are ``tuple(headers_from())``, made when first read.

    ``headers_from`` must give the same pairs whenever it is called: the
    library's own parsed headers, which outlive the connection.
    """
    made = _new(_staging_response)
    made.status = status
    made._headers_from = headers_from
    made.body = body
    made.__class__ = Response
    return cast(Response, made)


#: ``Request(method, url, headers, body, max_response_bytes)``, all positional
#: (``maker``): the client builds one per exchange.
new_request: Final = maker(Request)


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
