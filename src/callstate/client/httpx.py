"""``httpx`` as a Calls API transport, sync and async (extra: ``callstate[httpx]``)."""

from __future__ import annotations

from typing import Any, NoReturn

import httpx

from callstate._errors import ApiConnectionError, ApiTimeout
from callstate.client._http import Request, Response, new_response

__all__ = ["HttpxAsyncTransport", "HttpxTransport"]


def _raise_mapped(exc: httpx.TransportError, url: str, timeout: float) -> NoReturn:
    """The one place httpx's errors become callstate's."""
    if isinstance(exc, httpx.TimeoutException):
        raise ApiTimeout(f"no answer from {url} within {timeout}s") from exc
    raise ApiConnectionError(f"cannot reach {url}, or the connection broke: {exc!r}") from exc


def _answer(answer: httpx.Response, body: bytes) -> Response:
    return new_response(answer.status_code, tuple(answer.headers.items()), body)


def _outgoing(
    client: httpx.Client | httpx.AsyncClient, request: Request, timeout: Any
) -> httpx.Request:
    """The httpx request for ``request`` (``timeout``: the client's own, or ours)."""
    return client.build_request(
        request.method,
        request.url,
        headers=request.headers,
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

    def send(self, request: Request) -> Response:
        limit = request.max_response_bytes
        client = self._client
        try:
            # What ``client.stream`` does, without its context manager.
            answer = client.send(_outgoing(client, request, self._per_request), stream=True)
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

    async def send(self, request: Request) -> Response:
        limit = request.max_response_bytes
        client = self._client
        try:
            answer = await client.send(_outgoing(client, request, self._per_request), stream=True)
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
