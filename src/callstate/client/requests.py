"""``requests`` as a Calls API transport (extra: ``callstate[requests]``)."""

from __future__ import annotations

from typing import Final

import requests

from callstate._errors import ApiConnectionError, ApiTimeout
from callstate.client._http import Request, Response

__all__ = ["RequestsTransport"]

_CHUNK: Final = 65_536


class RequestsTransport:
    """Sends each request through a ``requests.Session`` (yours, or one it owns).

    ``timeout`` in seconds covers the connection and each read.
    """

    def __init__(self, *, timeout: float = 10.0, session: requests.Session | None = None) -> None:
        self.timeout = timeout
        self._owned = session is None
        self._session = session or requests.Session()

    def send(self, request: Request) -> Response:
        limit = request.max_response_bytes
        # The one place requests' errors become callstate's.
        try:
            with self._session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body or None,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            ) as answer:
                body = bytearray()
                for chunk in answer.iter_content(_CHUNK):
                    body += chunk
                    if len(body) > limit:
                        break
                return Response(
                    status=answer.status_code,
                    headers=tuple(answer.headers.items()),
                    body=bytes(body),
                )
        except requests.Timeout as exc:
            raise ApiTimeout(f"no answer from {request.url} within {self.timeout}s") from exc
        except requests.ConnectionError as exc:
            if "timed out" in str(exc).lower():
                raise ApiTimeout(f"no answer from {request.url} within {self.timeout}s") from exc
            raise ApiConnectionError(f"cannot reach {request.url}: {exc}") from exc
        except requests.RequestException as exc:
            raise ApiConnectionError(f"the exchange with {request.url} broke: {exc!r}") from exc

    def close(self) -> None:
        if self._owned:
            self._session.close()
