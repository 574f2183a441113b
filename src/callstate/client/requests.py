"""``requests`` as a Calls API transport (extra: ``callstate[requests]``)."""

from __future__ import annotations

import requests
import urllib3

from callstate._errors import ApiConnectionError, ApiTimeout
from callstate.client._http import Request, Response

__all__ = ["RequestsTransport"]


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
                # One bounded read from the connection: as fast as ``.content``.
                body = answer.raw.read(limit + 1, decode_content=True)
                headers = tuple(answer.headers.items())
                return Response(status=answer.status_code, headers=headers, body=body)
        except (requests.Timeout, urllib3.exceptions.TimeoutError) as exc:
            raise ApiTimeout(f"no answer from {request.url} within {self.timeout}s") from exc
        except requests.ConnectionError as exc:
            if "timed out" in str(exc).lower():
                raise ApiTimeout(f"no answer from {request.url} within {self.timeout}s") from exc
            raise ApiConnectionError(f"cannot reach {request.url}: {exc}") from exc
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise ApiConnectionError(f"the exchange with {request.url} broke: {exc!r}") from exc

    def close(self) -> None:
        if self._owned:
            self._session.close()
