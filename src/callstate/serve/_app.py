"""The receiver as a Starlette application over a store-backed runner."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callstate._core._report import state_json
from callstate._core._state import CallStatus
from callstate._errors import StoreError, StoreTimeout, UnknownCall
from callstate.client import Calls
from callstate.providers import CallbackReader
from callstate.serve._auth import ApiKeyGuard, check_api_keys
from callstate.serve._health import Health
from callstate.serve._metrics import Metrics
from callstate.serve._place import Placer
from callstate.stores import AsyncRunner, Runner, SQLiteStore
from callstate.stores._codec import encode
from callstate.stores._side import IdempotencyKeys
from callstate.web import AsyncWebhookHandler, Hooks, TrustedProxy, Verifier
from callstate.web._dialect import TWILIO
from callstate.web.starlette import webhook_endpoint

__all__ = ["build_app", "state_json"]

LOGGER = logging.getLogger("callstate.serve")
_MAX_PAGE_SIZE = 1_000
_MAX_CURSOR = 256  # characters of ?after= (a CallSid has at most 128)
_NUMBERED_PAGES = (
    "page and page_size read every matching call to answer one page, and go away in a later"
    " release: ask for ?limit=N, then ?after=<next>&limit=N"
)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _store_down(route: str, exc: StoreError) -> JSONResponse:
    """A 503 with a fixed reason; the store's own error (a path, a server's text) is logged."""
    LOGGER.warning("the store failed; answered 503", extra={"route": route, "error": str(exc)})
    slow = isinstance(exc, StoreTimeout)
    return _error(503, "the store did not answer in time" if slow else "the store is unavailable")


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int | str:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        return f"{name}: must be a whole number from {low} to {high}"
    return int(raw)


def build_app(
    runner: Runner,
    *,
    verifier: Verifier,
    dialect: CallbackReader = TWILIO,
    proxy: TrustedProxy | None = None,
    hooks: Hooks | None = None,
    store_timeout: float | None = None,
    api_keys: Iterable[str] = (),
    public_url: str | None = None,
    calls: Calls | None = None,
    status_callback: str | None = None,
    metrics: Metrics | None = None,
) -> Starlette:
    """The receiver's ASGI app over ``runner``.

    ``store_timeout`` bounds each webhook's wait for its write and each
    health check's parts (None: as long as the store takes).

    ``/callbacks`` reads its callbacks in ``dialect`` (the provider's;
    default the Twilio family's). Every route but ``/callbacks`` (checked
    by ``verifier``) and ``/healthz`` needs ``Authorization: Bearer <key>``
    with one of ``api_keys`` (several while rotating); with none, those
    routes answer 403 to everyone.

    Webhooks are written in batches on the event loop when the store is
    SQLite (a few microseconds a statement: cheaper than a thread), in worker
    threads for any other store; reads always go to threads. Signatures are
    checked against ``public_url`` (the callback URL as configured at the
    provider, or its origin) or the URL ``proxy`` rebuilds; see ``WebhookHandler``.

    ``POST /calls`` places calls through ``calls`` with ``status_callback``
    as their status callback (see ``callstate.serve._place``); without
    both it answers 501.

    ``/metrics`` (open, like ``/healthz``) publishes ``metrics`` (by default a
    new ``Metrics`` of this app's own).
    """
    keys = check_api_keys(api_keys)
    sink = AsyncRunner(
        runner, write_in_loop=isinstance(runner.store, SQLiteStore), timeout=store_timeout
    )
    store = runner.store
    metrics = Metrics(store) if metrics is None else metrics
    handler = AsyncWebhookHandler(
        metrics.sink(sink),
        verifier=verifier,
        proxy=proxy,
        hooks=hooks,
        public_url=public_url,
        dialect=dialect,
    )
    health = Health(store, store_timeout)
    placer = None
    if calls is not None and status_callback is not None:
        claims = store if isinstance(store, IdempotencyKeys) else None
        placer = Placer(calls, sink, status_callback=status_callback, keys=claims)

    async def place_call(request: Request) -> Response:
        if placer is None:
            return _error(
                501,
                "placing calls is off: give provider credentials (CALLSTATE_ACCOUNT_SID, "
                "CALLSTATE_AUTH_TOKEN) and --public-url",
            )
        return await placer(request)

    async def list_calls(request: Request) -> Response:
        query = request.query_params
        wanted = query.getlist("status")
        try:
            statuses = [CallStatus(s) for s in wanted] or list(CallStatus)
        except ValueError:
            return _error(400, f"status: must be among {', '.join(s.value for s in CallStatus)}")
        if "page" in query or "page_size" in query:
            return await _numbered_page(request, statuses)
        limit = _int_param(request, "limit", 50, 1, _MAX_PAGE_SIZE)
        if isinstance(limit, str):
            return _error(400, limit)
        after = query.get("after", "")
        if len(after) > _MAX_CURSOR or "\x00" in after:
            return _error(400, f"after: must be a CallSid (at most {_MAX_CURSOR} characters)")
        try:
            # One more than asked: whether there is a next page.
            sids = await asyncio.to_thread(
                store.calls_page, *statuses, after=after, limit=limit + 1
            )
        except StoreError as exc:
            return _store_down("GET /calls", exc)
        calls = list(sids[:limit])
        following = calls[-1] if len(sids) > limit else None
        return JSONResponse({"calls": calls, "limit": limit, "next": following})

    async def _numbered_page(request: Request, statuses: list[CallStatus]) -> Response:
        """The deprecated ``page``/``page_size`` form: every matching CallSid read, then sliced."""
        if "after" in request.query_params or "limit" in request.query_params:
            return _error(400, "page: cannot be mixed with after/limit (use after and limit)")
        page = _int_param(request, "page", 0, 0, 10**9)
        size = _int_param(request, "page_size", 50, 1, _MAX_PAGE_SIZE)
        if isinstance(page, str) or isinstance(size, str):
            return _error(400, page if isinstance(page, str) else str(size))
        try:
            sids = await asyncio.to_thread(store.calls_with_status, *statuses)
        except StoreError as exc:
            return _store_down("GET /calls", exc)
        total = len(sids)
        chosen = sids[page * size : (page + 1) * size]
        return JSONResponse(
            {
                "page": page,
                "page_size": size,
                "total": total,
                "calls": list(chosen),
                "deprecated": _NUMBERED_PAGES,
            }
        )

    async def show_call(request: Request) -> Response:
        call_sid = request.path_params["call_sid"]
        try:
            state = await sink.state(call_sid)
        except UnknownCall:
            return _error(404, f"no call {call_sid!r}")
        except StoreError as exc:
            return _store_down("GET /calls/{CallSid}", exc)
        return JSONResponse({"call_sid": call_sid, **state_json(state)})

    async def call_events(request: Request) -> Response:
        call_sid = request.path_params["call_sid"]
        try:
            stored = await asyncio.to_thread(store.load, call_sid)
        except StoreError as exc:
            return _store_down("GET /calls/{CallSid}/events", exc)
        if not stored:
            return _error(404, f"no call {call_sid!r}")
        events = []
        for item in stored:
            kind, payload = encode(item.event)
            events.append(
                {
                    "position": item.position,
                    "version": item.version,
                    "type": kind,
                    "event": json.loads(payload),
                }
            )
        return JSONResponse({"call_sid": call_sid, "events": events})

    async def healthz(request: Request) -> Response:
        failed = await health.failure()
        if failed is None:
            return JSONResponse({"status": "ok"})
        part, reason = failed
        body = {"status": "unavailable", "failed": part, "error": reason}
        return JSONResponse(body, status_code=503)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        LOGGER.info("receiver started", extra={"store": repr(store)})
        yield
        # Uvicorn answers every request in flight before this: each answer
        # waited for its write, so nothing answered 2xx is still unwritten.
        LOGGER.info("receiver stopped")

    app = Starlette(
        routes=[
            Route(
                "/callbacks", metrics.counting(webhook_endpoint(handler)), methods=["GET", "POST"]
            ),
            Route("/calls", list_calls, methods=["GET"]),
            Route("/calls", place_call, methods=["POST"]),
            Route("/calls/{call_sid}", show_call, methods=["GET"]),
            Route("/calls/{call_sid}/events", call_events, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics.response, methods=["GET"]),
        ],
        lifespan=lifespan,
        middleware=[Middleware(ApiKeyGuard, keys=keys)],
    )
    app.state.handler = handler
    app.state.metrics = metrics
    return app
