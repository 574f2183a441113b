"""The standard library's ``urllib.request`` as a Calls API transport (no extra needed)."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from typing import Final

from callstate._errors import ApiConnectionError, ApiTimeout
from callstate.client._http import Request, Response, _header

__all__ = ["UrllibTransport"]

_CHUNK: Final = 65_536


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer like any other: never re-send a POST elsewhere."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _answer(
    source: http.client.HTTPResponse | urllib.error.HTTPError, status: int, limit: int
) -> Response:
    # http.client decodes header lines as Latin-1, so no value carries the
    # surrogates ``items()`` would wrap: the pairs as parsed are what it returns.
    headers = tuple(source.headers.raw_items())
    return Response(status=status, headers=headers, body=_read(source, headers, limit))


def _read(
    source: http.client.HTTPResponse | urllib.error.HTTPError,
    headers: tuple[tuple[str, str], ...],
    limit: int,
) -> bytes:
    declared = _header(headers, "content-length") or ""
    if declared.isdigit() and int(declared) <= limit:
        # One read of a known length; http.client raises IncompleteRead if it is short.
        return source.read()
    body = bytearray()
    while len(body) <= limit:
        chunk = source.read(min(_CHUNK, limit + 1 - len(body)))
        if not chunk:
            break
        body += chunk
    return bytes(body)


class UrllibTransport:
    """Sends each request with ``urllib.request``; ``timeout`` in seconds covers
    the connection and each read. A new connection per request (urllib keeps none).
    """

    def __init__(
        self, *, timeout: float = 10.0, opener: urllib.request.OpenerDirector | None = None
    ) -> None:
        self.timeout = timeout
        self._opener = opener or urllib.request.build_opener(_NoRedirect)

    def send(self, request: Request) -> Response:
        outgoing = urllib.request.Request(
            request.url,
            data=request.body if request.method != "GET" else None,
            headers=dict(request.headers),
            method=request.method,
        )
        limit = request.max_response_bytes
        # The one place urllib's errors become callstate's.
        try:
            try:
                with self._opener.open(outgoing, timeout=self.timeout) as answer:
                    return _answer(answer, answer.status, limit)
            except urllib.error.HTTPError as answer:
                with answer:
                    return _answer(answer, answer.code, limit)
        except TimeoutError as exc:
            raise ApiTimeout(f"no answer from {request.url} within {self.timeout}s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ApiTimeout(f"no answer from {request.url} within {self.timeout}s") from exc
            raise ApiConnectionError(f"cannot reach {request.url}: {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise ApiConnectionError(f"the connection to {request.url} broke: {exc!r}") from exc

    def close(self) -> None:
        """Nothing to release: urllib keeps no connection open."""
