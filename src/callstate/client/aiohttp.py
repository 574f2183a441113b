"""``aiohttp`` as an async Calls API transport (extra: ``callstate[aiohttp]``)."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from callstate._errors import ApiConnectionError, ApiTimeout, InvalidParameter
from callstate.client._http import Request, Response

__all__ = ["AiohttpTransport"]

_CHUNK: Final = 65_536


async def _read_bounded(content: aiohttp.StreamReader, limit: int) -> bytes:
    body = bytearray()
    while len(body) <= limit:
        chunk = await content.read(min(_CHUNK, limit + 1 - len(body)))
        if not chunk:
            break
        body += chunk
    return bytes(body)


class AiohttpTransport:
    """Sends each request through an ``aiohttp.ClientSession`` (yours, or one it owns).

    An owned session is opened on first use, inside the running event loop.
    ``timeout`` in seconds bounds each whole exchange.
    """

    def __init__(
        self, *, timeout: float = 10.0, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.timeout = timeout
        self._owned = session is None
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers_of: tuple[tuple[str, str], ...] = ()
        self._headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())

    async def send(self, request: Request) -> Response:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        limit = request.max_response_bytes
        # Every GET of a CallsApi sends the same headers, which aiohttp would turn
        # into a multidict per request: made once for a run of equal headers (a
        # read-only view: aiohttp copies what it is given).
        headers = request.headers
        if headers is not self._headers_of and headers != self._headers_of:
            self._headers = CIMultiDictProxy(CIMultiDict(headers))
            self._headers_of = headers
        # An owned session has our timeout already; a GET has no body to send.
        # Redirects are never followed: the answer is the provider's own.
        data = request.body or None
        per_request = data is not None or not self._owned
        # The one place aiohttp's errors become callstate's.
        try:
            if per_request:
                sending = self._session.request(
                    request.method,
                    request.url,
                    headers=self._headers,
                    data=data,
                    allow_redirects=False,
                    timeout=self._timeout,
                )
            else:
                sending = self._session.request(
                    request.method, request.url, headers=self._headers, allow_redirects=False
                )
            async with sending as answer:
                length = answer.content_length
                if length is not None and length <= limit:
                    body = await answer.read()
                else:
                    body = await _read_bounded(answer.content, limit)
                headers = tuple(answer.headers.items())
                return Response(status=answer.status, headers=headers, body=body)
        except TimeoutError as exc:
            raise ApiTimeout(f"no answer from {request.url} within {self.timeout}s") from exc
        except aiohttp.ClientError as exc:
            raise ApiConnectionError(
                f"cannot reach {request.url}, or the connection broke: {exc!r}"
            ) from exc
        except ValueError as exc:
            # aiohttp sends nothing for a URL with user information beside an
            # Authorization header (the account's); it raised a bare ValueError.
            if urlsplit(request.url).password is None:
                raise
            raise InvalidParameter(
                "base_url",
                "must not carry a user or password: aiohttp will not send them"
                " beside the account's Authorization header",
            ) from exc

    async def aclose(self) -> None:
        if self._owned and self._session is not None:
            await self._session.close()
            self._session = None
