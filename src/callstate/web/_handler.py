"""The webhook handler: a request's parts in, an HTTP answer out; no I/O of its own.

read (limits) -> verify -> parse (the provider's dialect) -> ``RecordDelivery``
-> ``sink.handle`` -> answer -> hooks. The answers are few and fixed:

=====================================  ======================================
accepted, or a duplicate               204, ``Callstate-Result: accepted`` /
                                       ``duplicate`` (no body)
no status event (``NotAStatusEvent``)  204, ``Callstate-Result: ignored``
                                       (nothing stored, no hooks run)
unusable input                         400 ``<field>: <reason>``
missing or unreadable credentials      401 with ``WWW-Authenticate``
failed signature or credentials        403 ``<field>: <reason>``
method other than GET or POST          405 with ``Allow``
the sink cannot store it now           503 (the provider retries)
the store did not answer in time       503 ``the store did not answer in time``
=====================================  ======================================

A sink or verifier that fails in any other way (a bug) is logged and answered
503 as well: nothing is stored, so a retry is the way not to lose the event.
Hooks run only after the sink returned; their failures never change the
answer.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Awaitable, Iterable, Mapping
from datetime import datetime
from typing import Final, Union, cast

from callstate._core._decider import CallBook, Outcome
from callstate._core._parse import DEFAULT_LIMITS, Limits
from callstate._core._sink import AsyncSink, Sink
from callstate._core._values import RecordDelivery, check_instant
from callstate._errors import (
    CredentialsRequired,
    InvalidInput,
    InvalidValue,
    NotAStatusEvent,
    StoreError,
    StoreTimeout,
    UsageError,
    VerificationFailed,
)
from callstate.web._dialect import TWILIO, CallbackReader
from callstate.web._hooks import LOGGER, Hooks
from callstate.web._request import (
    NormalizedHeaders,
    WebhookRequest,
    WebhookResponse,
    normalize_headers,
    params_of,
)
from callstate.web._url import PublicUrl, TrustedProxy, check_host
from callstate.web._verify import Verifier, check_of

__all__ = [
    "BODY_CUT_SHORT",
    "BODY_UNREADABLE",
    "LENGTH_REQUIRED",
    "RESULT_HEADER",
    "AsyncSink",
    "AsyncWebhookHandler",
    "Sink",
    "WebhookHandler",
]


#: The header that tells an accepted delivery from a duplicate (the answer has no body:
#: servers such as uvicorn and gunicorn write a body apart from the head, a second send).
RESULT_HEADER: Final = "Callstate-Result"
ACCEPTED: Final = WebhookResponse.no_content((RESULT_HEADER, "accepted"))
DUPLICATE: Final = WebhookResponse.no_content((RESULT_HEADER, "duplicate"))
#: A provider's callback that is no status event (``NotAStatusEvent``): nothing stored.
IGNORED: Final = WebhookResponse.no_content((RESULT_HEADER, "ignored"))
UNAVAILABLE: Final = WebhookResponse.text(503, "the store is unavailable; retry later")
TIMED_OUT: Final = WebhookResponse.text(503, "the store did not answer in time; retry later")
#: For an adapter whose server cannot deliver a body sent without a length.
LENGTH_REQUIRED: Final = WebhookResponse.text(411, "Content-Length: is required")
#: A body that ended before its Content-Length: the connection broke. What came
#: may parse, but it is not what was sent; nothing is stored.
BODY_CUT_SHORT: Final = WebhookResponse.text(400, "body: ended before its Content-Length")
#: A body the server could not read whole (its client went away, or its chunks
#: are malformed): what came is not what was sent; nothing is stored.
BODY_UNREADABLE: Final = WebhookResponse.text(400, "body: could not be read to its end")
NOT_ALLOWED: Final = WebhookResponse.text(
    405, "method: must be GET or POST", ("Allow", "GET, POST")
)
_NO_PROXY: Final = TrustedProxy(trust=())


# Errors to answers, in one place: the core's errors name the field and the
# reason, never an HTTP status; the web layer says what each is answered with.
#: The status a refused webhook is answered with, by the error's type (most specific first).
_REFUSALS: Final = ((CredentialsRequired, 401), (VerificationFailed, 403), (InvalidInput, 400))


def refusal_status(exc: InvalidInput) -> int:
    """The HTTP status a webhook refused with ``exc`` is answered with."""
    for kind, status in _REFUSALS:
        if isinstance(exc, kind):
            return status
    return 400  # pragma: no cover - every InvalidInput is one of _REFUSALS' kinds


def _refusal(exc: InvalidInput) -> WebhookResponse:
    """The answer to a webhook its input refused: the status of its kind, with its reason."""
    text = str(exc).replace("\r", " ").replace("\n", " ")
    status = refusal_status(exc)
    if LOGGER.isEnabledFor(logging.DEBUG):
        # Only at debug level: a refusal is the sender's fault, answered with its reason.
        LOGGER.debug("webhook refused", extra={"status": status, "reason": text})
    if isinstance(exc, CredentialsRequired):
        return WebhookResponse.text(status, text, ("WWW-Authenticate", exc.challenge))
    return WebhookResponse.text(status, text)


def _sink_failed(exc: Exception) -> WebhookResponse:
    """The answer when the sink did not store the delivery: 503, so the provider retries.

    Call it in the ``except`` block (an unexpected error is logged with its traceback).
    """
    if isinstance(exc, StoreError):
        # The answer's reason is fixed; the store's own (a path, a server's message) is logged.
        LOGGER.warning("the store failed; answered 503", extra={"error": str(exc)})
        return TIMED_OUT if isinstance(exc, StoreTimeout) else UNAVAILABLE
    LOGGER.exception("the sink failed unexpectedly; answered 503")
    return UNAVAILABLE


def _answer(outcome: Outcome) -> WebhookResponse:
    """The answer to a stored delivery: accepted, or a duplicate."""
    return DUPLICATE if outcome.duplicate else ACCEPTED


class _Base:
    __slots__ = (
        "_check",
        "_dialect",
        "_parse",
        "_public",
        "_serial",
        "_verifier",
        "hooks",
        "limits",
        "proxy",
        "sink",
    )

    sink: Union[AsyncSink, Sink]
    _serial: threading.Lock | None

    def __init__(
        self,
        *,
        verifier: Verifier,
        limits: Limits = DEFAULT_LIMITS,
        proxy: TrustedProxy | None = None,
        hooks: Hooks | None = None,
        public_url: str | None = None,
        dialect: CallbackReader = TWILIO,
    ) -> None:
        if public_url is not None and proxy is not None and proxy.trust:
            raise UsageError(
                "give public_url or a TrustedProxy, not both: with the public URL known, "
                "no forwarded header is needed to rebuild it"
            )
        self._public = None if public_url is None else PublicUrl(public_url)
        self._verifier = verifier
        # A verifier that reads only the parts is handed them: no WebhookRequest to build.
        self._check = check_of(verifier)
        self.limits = limits
        self.proxy = _NO_PROXY if proxy is None else proxy
        self.hooks = Hooks() if hooks is None else hooks
        self._dialect = dialect
        self._parse = dialect.parse

    @property
    def dialect(self) -> CallbackReader:
        """The provider's dialect the callbacks are read with (read-only: its ``parse`` is
        bound once; make another handler to read another provider's)."""
        return self._dialect

    def prepare(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
        received_at: datetime,
        peer: str | None = None,
    ) -> RecordDelivery | WebhookResponse:
        """The command to hand the sink, or the answer if there is none.

        ``peer`` is the address the request came from (the adapter's client
        address): a ``TrustedProxy`` with ``proxies`` reads forwarded headers
        only from those.
        """
        if method not in ("POST", "GET"):
            method = method.upper()
            if method not in ("POST", "GET"):
                return NOT_ALLOWED
        # The one check of the adapter's clock (the command is made unchecked below):
        # an unusable time is no fault of the provider's, so not a 4xx.
        try:
            check_instant("received_at", received_at)
        except InvalidValue:
            LOGGER.exception("the clock gave an unusable received_at; answered 503")
            return UNAVAILABLE
        try:
            fields = headers if type(headers) is NormalizedHeaders else normalize_headers(headers)
            # The adapter's URL is built from Host: one that is no host moves the path.
            # (An empty one is allowed, RFC 9112 3.2: adapters use the server's name.)
            host = fields.get("host")
            if host:
                check_host(host, "Host")
            if self._public is not None:
                url = self._public.url_for(url)
            elif self.proxy.trust:
                url = self.proxy.public_url(url, fields, peer)
            params, form, by_name = params_of(method, url, fields, body, self.limits)
            check = self._check
            if check is not None:
                check(method, url, fields, body, params, form, by_name)
            else:
                self._verifier.verify(
                    WebhookRequest(
                        method=method,
                        url=url,
                        headers=fields,
                        body=body,
                        params=params,
                        form=form,
                        received_at=received_at,
                    )
                )
            delivery = self._parse(method, url, fields, body, params, form, by_name, self.limits)
        except InvalidInput as exc:
            return _refusal(exc)
        except NotAStatusEvent as exc:
            if LOGGER.isEnabledFor(logging.DEBUG):
                LOGGER.debug("webhook ignored", extra={"reason": str(exc)[:200]})
            return IGNORED
        except Exception:
            LOGGER.exception("reading or verifying a webhook failed unexpectedly; answered 503")
            return UNAVAILABLE
        return RecordDelivery._make(delivery, received_at)

    def _store(self, command: RecordDelivery) -> Outcome | Awaitable[Outcome] | WebhookResponse:
        """The sink's outcome (awaitable from an async sink), or the answer if it failed.

        The one call of the sink: a ``CallBook`` (not thread-safe) is given
        one command at a time by a ``WebhookHandler``.
        """
        serial = self._serial
        try:
            if serial is None:
                return self.sink.handle(command)
            with serial:
                return self.sink.handle(command)
        except Exception as exc:
            return _sink_failed(exc)


class WebhookHandler(_Base):
    """Turns one webhook into a stored delivery and an HTTP answer, for a sync ``sink``.

    ``verifier`` is required (``Unverified()`` says you mean it); ``limits``
    bound the input; ``public_url`` is the callback URL as configured at the
    provider (or just its origin, ``https://calls.example.com``), the URL
    signatures are checked against whatever the request's ``Host`` says;
    ``proxy`` (instead) names the forwarded headers to trust for rebuilding
    it; ``hooks`` run after the sink stored the delivery; ``dialect`` reads
    the provider's callbacks (default: the Twilio/Restcomm family's; see
    ``callstate.providers``). A ``Host`` that is no host
    (``other-app.example/tenant7``) is a 400.

    Threaded servers call one handler from several threads. A ``CallBook``
    sink is not thread-safe, so the handler gives it one command at a time;
    other sinks (``Runner`` over a store) are called concurrently.

    The adapters call ``respond``; a subclass that answers differently
    overrides it (``handler(...)`` calls it too).
    """

    __slots__ = ()

    sink: Sink

    def __init__(
        self,
        sink: Sink,
        *,
        verifier: Verifier,
        limits: Limits = DEFAULT_LIMITS,
        proxy: TrustedProxy | None = None,
        hooks: Hooks | None = None,
        public_url: str | None = None,
        dialect: CallbackReader = TWILIO,
    ) -> None:
        super().__init__(
            verifier=verifier,
            limits=limits,
            proxy=proxy,
            hooks=hooks,
            public_url=public_url,
            dialect=dialect,
        )
        self.sink = sink
        self._serial = threading.Lock() if isinstance(sink, CallBook) else None

    def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
        received_at: datetime,
        peer: str | None = None,
    ) -> WebhookResponse:
        """Handle one webhook: ``url`` in full (query string included), ``body`` raw.

        ``peer``: the address the request came from (see ``prepare``). The
        same as ``respond``.
        """
        return self.respond(method, url, headers, body, received_at, peer)

    def respond(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
        received_at: datetime,
        peer: str | None = None,
    ) -> WebhookResponse:
        """The answer to one webhook (what the adapters call): prepare, store, hooks, answer."""
        command = self.prepare(method, url, headers, body, received_at, peer)
        if isinstance(command, WebhookResponse):
            return command
        outcome = self._store(command)
        if isinstance(outcome, WebhookResponse):
            return outcome
        outcome = cast(Outcome, outcome)  # a sync sink's
        if self.hooks:
            try:
                self.hooks.run(outcome)
            except Exception:  # pragma: no cover - run() reports each hook itself
                LOGGER.exception("running hooks failed (the event is stored)")
        return _answer(outcome)


class AsyncWebhookHandler(_Base):
    """The async twin of ``WebhookHandler``: awaits the sink (and async hooks).

    ``sink`` may be an ``AsyncSink`` or a plain ``Sink`` (``CallBook``,
    whose ``handle`` never blocks).

    The adapters call ``respond`` (awaiting its answer only when it is
    awaitable); a subclass that answers differently overrides it, plain or
    ``async``.
    """

    __slots__ = ()

    def __init__(
        self,
        sink: Union[AsyncSink, Sink],
        *,
        verifier: Verifier,
        limits: Limits = DEFAULT_LIMITS,
        proxy: TrustedProxy | None = None,
        hooks: Hooks | None = None,
        public_url: str | None = None,
        dialect: CallbackReader = TWILIO,
    ) -> None:
        super().__init__(
            verifier=verifier,
            limits=limits,
            proxy=proxy,
            hooks=hooks,
            public_url=public_url,
            dialect=dialect,
        )
        self.sink = sink
        self._serial = None

    async def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
        received_at: datetime,
        peer: str | None = None,
    ) -> WebhookResponse:
        """Handle one webhook: ``url`` in full (query string included), ``body`` raw.

        ``peer``: the address the request came from (see ``prepare``). The
        answer of ``respond``, awaited.
        """
        answer = self.respond(method, url, headers, body, received_at, peer)
        return answer if isinstance(answer, WebhookResponse) else await answer

    def respond(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
        received_at: datetime,
        peer: str | None = None,
    ) -> WebhookResponse | Awaitable[WebhookResponse]:
        """The answer to one webhook (what the adapters call); awaitable only when it must be.

        It is awaitable only when the sink's outcome or a hook is: a
        ``CallBook`` sink with no hooks answers at once, and an adapter
        awaits nothing (no coroutine to make and run per webhook).
        """
        command = self.prepare(method, url, headers, body, received_at, peer)
        if isinstance(command, WebhookResponse):
            return command
        result = self._store(command)
        # A CallBook's outcome is no awaitable: no need to ask.
        if type(result) is not Outcome:
            if isinstance(result, WebhookResponse):
                return result
            if inspect.isawaitable(result):
                return self._stored(result)
        return self._after(result) if self.hooks else _answer(result)

    async def _stored(self, result: Awaitable[Outcome]) -> WebhookResponse:
        """The answer once an async sink stored the delivery (then the hooks)."""
        try:
            outcome = await result
        except Exception as exc:
            return _sink_failed(exc)
        return await self._after(outcome) if self.hooks else _answer(outcome)

    async def _after(self, outcome: Outcome) -> WebhookResponse:
        """Run the hooks due (their failures are logged, never answered), then answer."""
        try:
            await self.hooks.run_async(outcome)
        except Exception:  # pragma: no cover - run_async() reports each hook itself
            LOGGER.exception("running hooks failed (the event is stored)")
        return _answer(outcome)
