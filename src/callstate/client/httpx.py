"""``httpx`` as a Calls API transport, sync and async (extra: ``callstate[httpx]``)."""

from __future__ import annotations

from typing import Any, NoReturn

import httpx

from callstate._errors import ApiConnectionError, ApiTimeout
from callstate.client._http import Request, Response

__all__ = ["HttpxAsyncTransport", "HttpxTransport"]


def _raise_mapped(exc: httpx.TransportError, url: str, timeout: float) -> NoReturn:
    """The one place httpx's errors become callstate's."""
    if isinstance(exc, httpx.TimeoutException):
        raise ApiTimeout(f"no answer from {url} within {timeout}s") from exc
    raise ApiConnectionError(f"cannot reach {url}, or the connection broke: {exc!r}") from exc


def _answer(answer: httpx.Response, body: bytes) -> Response:
    return Response(status=answer.status_code, headers=tuple(answer.headers.items()), body=body)


class _Builder:
    """Builds the httpx request for a ``Request``: the one place both transports do.

    The headers are made ``httpx.Headers`` once for a run of equal headers:
    every GET of a ``CallsApi`` sends the same ones, which httpx would check
    and encode per request (given ``httpx.Headers``, it copies them).
    """

    __slots__ = ("_of", "_value")

    def __init__(self) -> None:
        self._of: tuple[tuple[str, str], ...] = ()
        self._value = httpx.Headers()

    def build(
        self, client: httpx.Client | httpx.AsyncClient, request: Request, timeout: Any
    ) -> httpx.Request:
        """The httpx request for ``request`` (``timeout``: the client's own, or ours)."""
        headers = request.headers
        if headers is not self._of and headers != self._of:
            self._value = httpx.Headers(headers)
            self._of = headers
        return client.build_request(
            request.method,
            request.url,
            headers=self._value,
            content=request.body or None,
            timeout=timeout,
        )


class HttpxTransport:
    """Sends each request through an ``httpx.Client`` (yours, or one it owns)."""

    def __init__(self, *, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self.timeout = timeout
        self._owned = client is None
        self._timeout = httpx.Timeout(timeout)
        self._client = client or httpx.Client(timeout=self._timeout)
        # An owned client already has our timeout: no new Timeout per request.
        self._per_request = httpx.USE_CLIENT_DEFAULT if self._owned else self._timeout
        self._build = _Builder()

    def send(self, request: Request) -> Response:
        limit = request.max_response_bytes
        client = self._client
        try:
            # What ``client.stream`` does, without its context manager.
            outgoing = self._build.build(client, request, self._per_request)
            answer = client.send(outgoing, stream=True)
            try:
                body = bytearray()
                for chunk in answer.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        break
                return _answer(answer, bytes(body))
            finally:
                answer.close()
        except httpx.TransportError as exc:  # timeouts included
            _raise_mapped(exc, request.url, self.timeout)

    def close(self) -> None:
        if self._owned:
            self._client.close()


class HttpxAsyncTransport:
    """Sends each request through an ``httpx.AsyncClient`` (yours, or one it owns)."""

    def __init__(self, *, timeout: float = 10.0, client: httpx.AsyncClient | None = None) -> None:
        self.timeout = timeout
        self._owned = client is None
        self._timeout = httpx.Timeout(timeout)
        self._client = client or httpx.AsyncClient(timeout=self._timeout)
        self._per_request = httpx.USE_CLIENT_DEFAULT if self._owned else self._timeout
        self._build = _Builder()

    async def send(self, request: Request) -> Response:
        limit = request.max_response_bytes
        client = self._client
        try:
            outgoing = self._build.build(client, request, self._per_request)
            answer = await client.send(outgoing, stream=True)
            try:
                body = bytearray()
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        break
                return _answer(answer, bytes(body))
            finally:
                await answer.aclose()
        except httpx.TransportError as exc:  # timeouts included
            _raise_mapped(exc, request.url, self.timeout)

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()
