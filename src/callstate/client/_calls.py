"""Running operations through a transport: the sync ``Calls`` and the async ``AsyncCalls``.

The one place that repeats a request, at most ``Retry.attempts`` times,
pausing with the injected ``sleep``: an operation marked repeatable (a GET)
after a transport error or a 5xx; any operation after a 429, pausing at
least what its ``Retry-After`` asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import TypeVar

from callstate._core._call import CallState
from callstate._core._state import CallStatus
from callstate._core._values import CallResource
from callstate._errors import ApiError, RateLimited
from callstate.client._answers import CallPage
from callstate.client._api import CallsApi, Operation
from callstate.client._http import AsyncTransport, Retry, Transport
from callstate.client._params import CallFilter, CallParams

__all__ = ["AsyncCalls", "Calls"]

T = TypeVar("T")
Known = CallState | CallStatus | None


def _pause(exc: ApiError, repeatable: bool, delays: Iterator[float], retry: Retry) -> float | None:
    """The pause before sending the operation again after ``exc``; None: raise it."""
    if isinstance(exc, RateLimited):
        delay = next(delays, None)
        asked = exc.retry_after
        if delay is None or asked is None:
            return delay
        return None if asked > retry.max_retry_after else max(delay, asked)
    return next(delays, None) if repeatable and exc.retryable else None


class Calls:
    """The Calls API over a sync transport (``UrllibTransport``, ``RequestsTransport``...)."""

    def __init__(
        self,
        api: CallsApi,
        transport: Transport,
        *,
        retry: Retry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.transport = transport
        self.retry = retry or Retry()
        self._sleep = sleep

    def run(self, operation: Operation[T]) -> T:
        """Send an operation and read its answer, repeating it only if it is safe to."""
        delays: Iterator[float] | None = None  # made on the first failure: most runs have none
        while True:
            try:
                return operation.read(self.transport.send(operation.request))
            except ApiError as exc:
                if delays is None:
                    delays = self.retry.delays()
                delay = _pause(exc, operation.repeatable, delays, self.retry)
                if delay is None:
                    raise
            self._sleep(delay)

    def create(self, params: CallParams) -> tuple[CallResource, ...]:
        """Place a call; sent once, never repeated. One resource per leg."""
        return self.run(self.api.create_call(params))

    def fetch(self, call_sid: str) -> CallResource:
        return self.run(self.api.fetch_call(call_sid))

    def list(
        self, where: CallFilter | None = None, *, page: int = 0, page_size: int | None = None
    ) -> CallPage:
        return self.run(self.api.list_calls(where, page=page, page_size=page_size))

    def iter_calls(
        self, where: CallFilter | None = None, *, page_size: int | None = None
    ) -> Iterator[CallResource]:
        """Every call matching ``where``, walking the pages in order."""
        operation: Operation[CallPage] | None = self.api.list_calls(where, page_size=page_size)
        while operation is not None:
            found = self.run(operation)
            yield from found.calls
            operation = self.api.next_page(found, where, page_size=page_size)

    def redirect(
        self,
        call_sid: str,
        url: str | None = None,
        *,
        twiml: str | None = None,
        method: str | None = None,
        known: Known = None,
    ) -> CallResource:
        return self.run(
            self.api.redirect_call(call_sid, url, twiml=twiml, method=method, known=known)
        )

    def cancel(self, call_sid: str, *, known: Known = None) -> CallResource:
        return self.run(self.api.cancel_call(call_sid, known=known))

    def hang_up(self, call_sid: str, *, known: Known = None) -> CallResource:
        return self.run(self.api.hang_up_call(call_sid, known=known))

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Calls:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncCalls:
    """The Calls API over an async transport (``HttpxAsyncTransport``, ``AiohttpTransport``)."""

    def __init__(
        self,
        api: CallsApi,
        transport: AsyncTransport,
        *,
        retry: Retry | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api = api
        self.transport = transport
        self.retry = retry or Retry()
        self._sleep = sleep

    async def run(self, operation: Operation[T]) -> T:
        """Send an operation and read its answer, repeating it only if it is safe to."""
        delays: Iterator[float] | None = None  # made on the first failure: most runs have none
        while True:
            try:
                return operation.read(await self.transport.send(operation.request))
            except ApiError as exc:
                if delays is None:
                    delays = self.retry.delays()
                delay = _pause(exc, operation.repeatable, delays, self.retry)
                if delay is None:
                    raise
            await self._sleep(delay)

    async def create(self, params: CallParams) -> tuple[CallResource, ...]:
        """Place a call; sent once, never repeated. One resource per leg."""
        return await self.run(self.api.create_call(params))

    async def fetch(self, call_sid: str) -> CallResource:
        return await self.run(self.api.fetch_call(call_sid))

    async def list(
        self, where: CallFilter | None = None, *, page: int = 0, page_size: int | None = None
    ) -> CallPage:
        return await self.run(self.api.list_calls(where, page=page, page_size=page_size))

    async def iter_calls(
        self, where: CallFilter | None = None, *, page_size: int | None = None
    ) -> AsyncIterator[CallResource]:
        """Every call matching ``where``, walking the pages in order."""
        operation: Operation[CallPage] | None = self.api.list_calls(where, page_size=page_size)
        while operation is not None:
            found = await self.run(operation)
            for call in found.calls:
                yield call
            operation = self.api.next_page(found, where, page_size=page_size)

    async def redirect(
        self,
        call_sid: str,
        url: str | None = None,
        *,
        twiml: str | None = None,
        method: str | None = None,
        known: Known = None,
    ) -> CallResource:
        return await self.run(
            self.api.redirect_call(call_sid, url, twiml=twiml, method=method, known=known)
        )

    async def cancel(self, call_sid: str, *, known: Known = None) -> CallResource:
        return await self.run(self.api.cancel_call(call_sid, known=known))

    async def hang_up(self, call_sid: str, *, known: Known = None) -> CallResource:
        return await self.run(self.api.hang_up_call(call_sid, known=known))

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncCalls:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
