"""``httpx`` as a Calls API transport, sync and async (extra: ``callstate[httpx]``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from callstate._errors import ApiConnectionError, ApiTimeout
from callstate.client._http import Request, Response

__all__ = ["HttpxAsyncTransport", "HttpxTransport"]


@contextmanager
def _mapped_errors(url: str, timeout: float) -> Iterator[None]:
    """The one place httpx's errors become callstate's."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ApiTimeout(f"no answer from {url} within {timeout}s") from exc
    except httpx.TransportError as exc:
        raise ApiConnectionError(f"cannot reach {url}, or the connection broke: {exc!r}") from exc


def _answer(answer: httpx.Response, body: bytes) -> Response:
    return Response(status=answer.status_code, headers=tuple(answer.headers.items()), body=body)


class HttpxTransport:
    """Sends each request through an ``httpx.Client`` (yours, or one it owns)."""

    def __init__(self, *, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self.timeout = timeout
        self._owned = client is None
        self._timeout = httpx.Timeout(timeout)
        self._client = client or httpx.Client(timeout=self._timeout)

    def send(self, request: Request) -> Response:
        limit = request.max_response_bytes
        with (
            _mapped_errors(request.url, self.timeout),
            self._client.stream(
                request.method,
                request.url,
                headers=request.headers,
                content=request.body or None,
                timeout=self._timeout,
            ) as answer,
        ):
            body = bytearray()
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > limit:
                    break
            return _answer(answer, bytes(body))

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

    async def send(self, request: Request) -> Response:
        limit = request.max_response_bytes
        with _mapped_errors(request.url, self.timeout):
            async with self._client.stream(
                request.method,
                request.url,
                headers=request.headers,
                content=request.body or None,
                timeout=self._timeout,
            ) as answer:
                body = bytearray()
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        break
                return _answer(answer, bytes(body))

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()
