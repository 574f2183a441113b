"""``POST /calls``: place a call through the provider, record it, answer its state.

The body is JSON: ``to``, ``from`` and exactly one of ``url`` and ``twiml``,
then any of ``method``, ``fallback_url``, ``fallback_method``, ``timeout``,
``detect_voicemail`` and ``extra`` (an object of provider parameters
callstate does not know by name). The status callback is this receiver's
(``--public-url``), subscribed to every event; the create answer is
recorded with the callbacks that beat it (``record_placed_call``), and the
answer is the call's state, as ``GET /calls/{CallSid}`` gives it.

An ``Idempotency-Key`` header makes a retry place no second call. The key
is claimed in the store before anything is sent (one transaction: of two
requests with one key, one places the call), settled with the CallSid the
provider gave, and answered from then on with that call's state, after a
restart and from any receiver sharing the store. The same key with another
body is a 422. A key whose create had no certain answer (a timeout, a 5xx)
stays claimed without a call: its retries get 409, since placing again
could ring someone twice. A key whose create the provider certainly
refused (a 4xx, a 429) is released for a retry.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from callstate._core._report import state_json
from callstate._core._values import RegisterCall
from callstate._errors import (
    ApiError,
    ApiResponseError,
    ApiTimeout,
    ApiTransportError,
    BadResponse,
    InvalidParameter,
    RateLimited,
    RequestRejected,
    ServerError,
    StoreError,
    UnknownCall,
    UsageError,
)
from callstate.client import EVENTS, CallParams, Calls, record_placed_call_async
from callstate.stores import AsyncRunner
from callstate.stores._side import MAX_KEY, IdempotencyKeys, KeyClaim

__all__ = ["FIELDS", "Placer", "callback_url", "params_of"]

LOGGER = logging.getLogger("callstate.serve")
_MAX_BODY: Final = 64 * 1024
#: The JSON fields of ``POST /calls``, and the ``CallParams`` field each fills.
FIELDS: Final = {
    "to": "to",
    "from": "from_",
    "url": "url",
    "twiml": "twiml",
    "method": "method",
    "fallback_url": "fallback_url",
    "fallback_method": "fallback_method",
    "timeout": "timeout",
    "detect_voicemail": "detect_voicemail",
}
#: Fields the receiver sets itself, and why a caller may not.
_OURS: Final = {
    "status_callback": "is this receiver's own (--public-url)",
    "status_callback_method": "is this receiver's own (POST)",
    "status_callback_event": "is this receiver's own (every event)",
    "application_sid": "cannot be used: the application's own status callback would "
    "bypass this receiver",
}


class Refused(Exception):
    """A request answered with an error: status, message, headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.message}, status_code=self.status, headers=self.headers)


def callback_url(public_url: str, basic_auth: tuple[str, ...] = ()) -> str:
    """The ``StatusCallback`` of the calls this receiver places.

    ``public_url`` as configured (``--public-url``): a URL with a path is the
    callback URL itself; an origin gets ``/callbacks``. With Basic-auth
    credentials configured, the first is written into the URL, as the
    Restcomm family sends them.
    """
    scheme, _, rest = public_url.partition("://")
    authority, slash, path = rest.partition("/")
    path = slash + path if path else "/callbacks"
    if basic_auth:
        user, _, password = basic_auth[0].partition(":")
        authority = f"{quote(user, safe='')}:{quote(password, safe='')}@{authority}"
    return f"{scheme}://{authority}{path}"


def params_of(body: object, status_callback: str) -> CallParams:
    """The ``CallParams`` of a ``POST /calls`` body; ``Refused`` (422) naming the field."""
    if not isinstance(body, dict):
        raise Refused(400, "body: must be a JSON object")
    given: dict[str, Any] = {}
    for name, value in body.items():
        if name in _OURS:
            raise Refused(422, f"{name}: {_OURS[name]}")
        if name == "extra":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise Refused(422, "extra: must be an object of text values")
            given["extra"] = tuple(value.items())
        elif name in FIELDS:
            if value is not None:
                given[FIELDS[name]] = value
        else:
            raise Refused(422, f"{str(name)[:64]}: is not a field of POST /calls")
    if "to" not in given or "from_" not in given:
        missing = "to" if "to" not in given else "from"
        raise Refused(422, f"{missing}: is required")
    try:
        return CallParams(
            **given,
            status_callback=status_callback,
            status_callback_method="POST",
            status_callback_event=EVENTS,
        )
    except InvalidParameter as exc:
        raise Refused(422, str(exc)) from None
    except (TypeError, ValueError) as exc:  # a value of a type attrs cannot take
        raise Refused(422, f"body: {exc}") from None


def _key_of(request: Request) -> str | None:
    found = request.headers.getlist("idempotency-key")
    if not found:
        return None
    if len(found) > 1:
        raise Refused(400, "Idempotency-Key: give it once")
    key = found[0].strip()
    if not 1 <= len(key) <= MAX_KEY or not all(33 <= ord(c) <= 126 for c in key):
        raise Refused(
            400, f"Idempotency-Key: must be 1 to {MAX_KEY} visible ASCII characters, no spaces"
        )
    return key


def _fingerprint(body: object) -> str:
    """The request a key was first used with: its JSON, however it was spaced or ordered."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _provider_refusal(exc: ApiError) -> tuple[Refused, bool]:
    """The answer for a failed create, and whether the call was certainly not placed."""
    if isinstance(exc, RateLimited):
        headers = {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(0, math.ceil(exc.retry_after)))
        return Refused(429, f"the provider is rate limiting: {exc.message}", headers), True
    if isinstance(exc, ApiTimeout):
        return Refused(504, "the provider did not answer in time; the call may be placed"), False
    if isinstance(exc, (ApiTransportError, ServerError, BadResponse)):
        return Refused(502, f"the provider failed; the call may be placed: {exc}"), False
    if isinstance(exc, RequestRejected):
        return Refused(422, f"the provider refused the call: {exc.message}"), True
    if isinstance(exc, ApiResponseError):  # 401/403 and the like: this receiver's settings
        return Refused(502, f"the provider refused this receiver: {exc.message}"), True
    return Refused(502, f"the provider failed: {exc}"), False  # pragma: no cover


class Placer:
    """Places calls through ``calls`` and records them through ``sink``.

    ``keys`` is the store, when it keeps idempotency keys (every store
    callstate ships does); ``clock`` is injected for tests.
    """

    def __init__(
        self,
        calls: Calls,
        sink: AsyncRunner,
        *,
        status_callback: str,
        keys: IdempotencyKeys | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.calls = calls
        self.sink = sink
        self.status_callback = status_callback
        self.keys = keys
        self._clock = clock

    async def __call__(self, request: Request) -> Response:
        try:
            return await self._place(request)
        except Refused as refused:
            return refused.response()
        except StoreError as exc:
            LOGGER.warning("the store failed; answered 503", extra={"route": "POST /calls"})
            LOGGER.debug("store error: %s", exc)
            return JSONResponse({"error": "the store is unavailable"}, status_code=503)

    async def _place(self, request: Request) -> Response:
        key = _key_of(request)
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            raise Refused(413, f"body: is larger than {_MAX_BODY} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "body: is not JSON") from None
        params = params_of(body, self.status_callback)
        if key is not None:
            held = await self._claim(key, _fingerprint(body))
            if held is not None:
                return await self._replay(key, held, params)
        placed_at = self._clock()
        try:
            legs = await asyncio.to_thread(self.calls.create, params)
        except InvalidParameter as exc:  # refused before sending (Twiml on a profile without it)
            await self._release(key)
            raise Refused(422, str(exc)) from None
        except ApiError as exc:
            refused, not_placed = _provider_refusal(exc)
            if not_placed:
                await self._release(key)
            LOGGER.warning("placing a call failed: %s: %s", type(exc).__name__, exc)
            raise refused from None
        answered_at = self._clock()
        if not legs:  # pragma: no cover - read_resources refuses an empty answer
            raise Refused(502, "the provider placed no call")
        sid = legs[0].sid
        if key is not None and self.keys is not None:
            await asyncio.to_thread(self.keys.settle_key, key, sid)
        ring = None if params.timeout is None else timedelta(seconds=params.timeout)
        await record_placed_call_async(
            self.sink, legs, placed_at=placed_at, answered_at=answered_at, ring_timeout=ring
        )
        LOGGER.info("call placed", extra={"call_sid": sid, "idempotency_key": key is not None})
        return await self._answer(sid, replayed=False)

    async def _claim(self, key: str, fingerprint: str) -> KeyClaim | None:
        if self.keys is None:
            raise Refused(422, "Idempotency-Key: this receiver's store cannot keep keys")
        try:
            held = await asyncio.to_thread(self.keys.claim_key, key, fingerprint)
        except UsageError as exc:  # pragma: no cover - _key_of checked the key
            raise Refused(400, f"Idempotency-Key: {exc}") from None
        if held is not None and held.fingerprint != fingerprint:
            raise Refused(422, "Idempotency-Key: was used with another body; use a new key")
        return held

    async def _release(self, key: str | None) -> None:
        if key is not None and self.keys is not None:
            await asyncio.to_thread(self.keys.release_key, key)

    async def _replay(self, key: str, held: KeyClaim, params: CallParams) -> Response:
        sid = held.call_sid
        if sid is None:
            raise Refused(
                409,
                "Idempotency-Key: the request that used this key is placing its call, or "
                "the provider's answer to it was lost; retry, or check the provider before "
                "using a new key",
                {"Retry-After": "1"},
            )
        try:
            await self.sink.state(sid)
        except UnknownCall:
            # Placed, but its record was lost (the store failed after the key was
            # settled): register it, so callbacks and reconciliation find it.
            ring = None if params.timeout is None else timedelta(seconds=params.timeout)
            await self.sink.handle(
                RegisterCall(call_sid=sid, placed_at=self._clock(), ring_timeout=ring)
            )
        return await self._answer(sid, replayed=True)

    async def _answer(self, sid: str, *, replayed: bool) -> Response:
        state = await self.sink.state(sid)
        headers = {"Location": f"/calls/{quote(sid, safe='')}"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(
            {"call_sid": sid, **state_json(state)}, status_code=201, headers=headers
        )
