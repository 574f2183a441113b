"""The fake Calls API provider: a real HTTP server on 127.0.0.1, in a thread.

It keeps its calls, plays each call's lifecycle (with a dispatcher thread,
or step by step when ``pace`` is None), sends status callbacks with seeded
chaos, and can be told to answer the next requests badly (``Fault``).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Final, Literal, cast
from urllib.parse import urlencode, urlsplit, urlunsplit

import attrs

from callstate import _redact as redact
from callstate._signature import twilio_signature
from callstate.client._profile import Profile
from callstate.testing._fake_http import Fault, Handler, Problem
from callstate.testing._fake_plan import (
    EVENT_OF,
    OUTCOMES,
    Chaos,
    Outcome,
    Vocabulary,
    callback_params,
    plan_delays,
    steps_for,
)

__all__ = ["FakeCall", "FakeProvider", "Fault", "Fetch", "SentCallback"]

ErrorStyle = Literal["text", "message", "twilio", "xml", "html"]
Flavour = Literal["api19", "restcomm", "twilio"]
_PATH: Final = re.compile(
    r"^(?P<base>.*)/Accounts/(?P<account>[^/]+)/Calls(?:/(?P<sid>[^/]+?))?(?:\.json)?$"
)
_TWILIO_VERSION: Final = "2010-04-01"
_RESTCOMM_VERSION: Final = "2012-04-24"
#: Both Twilio and Restcomm: ``Status=canceled`` ends a call queued or ringing
#: (Restcomm also one waiting for answer, its ``initiated``) and does nothing to
#: a call in progress; ``Status=completed`` ends a live call in any state.
_LIVE_CANCELABLE: Final = frozenset({"queued", "initiated", "ringing"})
_FINAL: Final = frozenset(OUTCOMES)
_ALL_EVENTS: Final = ("initiated", "ringing", "answered", "completed")
# Twilio's error codes (twilio.com/docs/errors/NNNNN) for what the fake refuses.
_TW_NOT_FOUND: Final = 20404
_TW_AUTH: Final = 20003
_TW_METHOD: Final = 20004
_TW_NO_TO: Final = 21201
_TW_NO_FROM: Final = 21213
_TW_BAD_URL: Final = 21205
_TW_CALLS: Final = 21200  # "a problem with a request to the Calls resource"
_TW_CALL_STATE: Final = 21220  # "a realtime operation on a Call that was not in-progress"


@attrs.frozen(kw_only=True)
class SentCallback:
    """One status-callback request the provider made, and how it went."""

    call_sid: str
    method: str
    url: str = attrs.field(repr=redact.urls)
    params: tuple[tuple[str, str], ...] = attrs.field(repr=redact.urls)
    headers: tuple[tuple[str, str], ...] = attrs.field(repr=redact.headers)
    answer: int | None
    error: str | None = None


@attrs.define(kw_only=True)
class FakeCall:
    """A call the provider keeps. ``outcome`` is its true final status; read-only for tests."""

    sid: str
    account_sid: str
    to: str
    from_: str
    url: str | None = attrs.field(repr=redact.urls)
    method: str
    status_callback: str | None = attrs.field(repr=redact.urls)
    status_callback_method: str
    events: tuple[str, ...]
    vocabulary: Vocabulary
    outcome: str
    created_at: datetime
    duration: int
    status: str = "queued"
    start_time: datetime | None = None
    end_time: datetime | None = None
    answered_at: datetime | None = None
    steps: list[tuple[str, tuple[float, ...]]] = attrs.field(factory=list)
    sequence: int = 0
    generation: int = 0
    early: bool = False
    voicemail: str | None = None
    redirects: list[tuple[str, str]] = attrs.field(factory=list, repr=redact.urls)
    twiml: str | None = attrs.field(default=None, repr=redact.urls)
    application_sid: str | None = None
    #: Each ``Twiml`` an update gave the call, in order (``redirects`` has the URLs).
    twiml_updates: list[str] = attrs.field(factory=list, repr=redact.urls)
    #: The lifecycle as planned under the seed: each step, and the extra delay of each
    #: copy of its callback (none: dropped). ``steps`` is what is left of it to play.
    plan: tuple[tuple[str, tuple[float, ...]], ...] = ()

    @property
    def is_final(self) -> bool:
        return self.status in _FINAL


@attrs.frozen(kw_only=True)
class Fetch:
    """One GET of one call the provider answered: which, and when (``time.monotonic``).

    ``started`` is when the request was read, ``ended`` when its answer was
    written (or the connection dropped): two fetches of one call overlap if
    one started before the other ended.
    """

    call_sid: str
    started: float
    ended: float


def _now() -> datetime:
    return datetime.now(UTC)


class FakeProvider:
    """A fake Calls API on 127.0.0.1 (an ephemeral port), started as a context manager.

    ``outcome`` fixes every call's outcome (None: drawn under ``chaos.seed``;
    ``queue_outcomes`` sets the next ones). ``pace`` is the seconds between
    lifecycle steps; None leaves each call queued until ``advance``.
    ``vocabulary`` is how callbacks spell ``CallStatus``; ``error_style`` the
    shape of error bodies (None: each API's own, Twilio's JSON with its error
    codes under ``/2010-04-01``, ``{"message"}`` elsewhere); ``quirks``
    writes statuses as ``NO_ANSWER``, absent values as ``"null"`` and zone
    names in timestamps.

    Each API answers as its provider documents: under ``/2010-04-01`` as
    Twilio (RFC 2822 times, ``api_version`` 2010-04-01, ``Twiml`` and
    ``ApplicationSid``, DELETE of a past call, 400 with code 21220 for a call
    that is over), under ``/restcomm/2012-04-24`` and ``/call/2012-04-24`` as
    Restcomm (ISO 8601 start and end times, ``Url`` required, no DELETE,
    410 for a call that is over).
    ``fetch_latency`` is the seconds every GET waits before it is answered;
    ``fetches()`` lists the GETs of single calls with their times.
    """

    def __init__(
        self,
        *,
        account_sid: str = "AC" + "0" * 32,
        token: str = "fake-token",
        outcome: str | None = None,
        pace: float | None = 0.01,
        vocabulary: Vocabulary = "twilio",
        chaos: Chaos | None = None,
        error_style: ErrorStyle | None = None,
        quirks: bool = False,
        fetch_latency: float = 0.0,
    ) -> None:
        if outcome is not None:
            _check_outcome(outcome)
        self.account_sid = account_sid
        self.token = token
        self.outcome = outcome
        self.pace = pace
        self.vocabulary: Vocabulary = vocabulary
        self.chaos = chaos or Chaos()
        self.error_style: ErrorStyle | None = error_style
        self.quirks = quirks
        self.fetch_latency = fetch_latency
        self._fetches: list[Fetch] = []
        self._rng = random.Random(self.chaos.seed)
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._calls: dict[str, FakeCall] = {}
        self._faults: deque[Fault] = deque()
        self._outcomes: deque[Outcome] = deque()
        self._sent: list[SentCallback] = []
        self._queue: list[tuple[float, int, str, int, str, tuple[object, ...]]] = []
        self._order = itertools.count()
        self._busy = 0
        self._stopping = False
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self.requests_seen = 0

    # Running.

    def start(self) -> FakeProvider:
        handler = type("BoundHandler", (Handler,), {"provider": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._serve, name="fake-api", daemon=True),
            threading.Thread(target=self._dispatch, name="fake-api-callbacks", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def _serve(self) -> None:
        if self._server is not None:
            self._server.serve_forever(poll_interval=0.02)

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:{port}``."""
        if self._server is None:
            raise RuntimeError("the fake provider is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def profile(self, name: Literal["api19", "restcomm", "twilio"] = "api19") -> Profile:
        """A client ``Profile`` of that provider, pointed at this server."""
        if name == "restcomm":
            return Profile.restcomm(self.url)
        if name == "twilio":
            return Profile.twilio(f"{self.url}/2010-04-01")
        return Profile.api19(f"{self.url}/call/2012-04-24")

    # What tests control and read.

    def inject(self, *faults: Fault) -> None:
        """Answer the next API requests with these faults, one each, in order."""
        with self._lock:
            self._faults.extend(faults)

    def queue_outcomes(self, *outcomes: Outcome) -> None:
        """The outcomes of the next calls placed, in order."""
        for outcome in outcomes:
            _check_outcome(outcome)
        with self._lock:
            self._outcomes.extend(outcomes)

    def call(self, call_sid: str) -> FakeCall:
        with self._lock:
            return attrs.evolve(self._calls[call_sid])

    def calls(self) -> list[FakeCall]:
        with self._lock:
            return [attrs.evolve(call) for call in self._calls.values()]

    def true_outcome(self, call_sid: str) -> str:
        """The final status the call really reached (or will reach, as planned)."""
        with self._lock:
            return self._calls[call_sid].outcome

    def sent(self) -> list[SentCallback]:
        """Every status-callback request made so far, in the order made."""
        with self._lock:
            return list(self._sent)

    def fetches(self) -> list[Fetch]:
        """Every GET of one call answered so far (faults included), in the order they ended."""
        with self._lock:
            return list(self._fetches)

    def _fetched(self, path: str, started: float, ended: float) -> None:
        found = _PATH.match(path)
        if found is not None and found["sid"] is not None:
            with self._lock:
                self._fetches.append(Fetch(call_sid=found["sid"], started=started, ended=ended))

    def advance(self, call_sid: str) -> str:
        """Play the call's next lifecycle step now; answers its new true status."""
        with self._wake:
            call = self._calls[call_sid]
            if call.steps:
                self._apply(call, _now(), *call.steps.pop(0))
                self._wake.notify_all()
            return call.status

    def finish(self, call_sid: str) -> str:
        """Play every remaining step of the call now."""
        with self._lock:
            while not self._calls[call_sid].is_final:
                self.advance(call_sid)
            return self._calls[call_sid].status

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no lifecycle step or callback is pending; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(left)
        return True

    # The lifecycle.

    def _place(
        self, form: list[tuple[str, str]], flavour: Flavour
    ) -> tuple[FakeCall, dict[str, object]]:
        fields = dict(form)
        events: list[str] = []
        for name, value in form:
            if name == "StatusCallbackEvent":
                events.extend(e.strip() for e in value.split(",") if e.strip())
        with self._wake:
            rng = self._rng
            outcome = self._outcomes.popleft() if self._outcomes else self.outcome
            if outcome is None:
                outcome = rng.choice(OUTCOMES)
            now = _now()
            # With ApplicationSid, Twilio takes the application's URLs and status
            # callback, ignoring the request's: the fake has no applications, so
            # such a call sends no status callbacks.
            application = fields.get("ApplicationSid")
            call = FakeCall(
                sid=f"CA{rng.getrandbits(128):032x}",
                account_sid=self.account_sid,
                to=fields["To"],
                from_=fields["From"],
                url=fields.get("Url"),
                twiml=None if "Url" in fields else fields.get("Twiml"),
                application_sid=application,
                method=fields.get("Method", "POST"),
                status_callback=None if application else fields.get("StatusCallback"),
                status_callback_method=fields.get("StatusCallbackMethod", "POST").upper(),
                events=tuple(events) or _ALL_EVENTS,
                vocabulary=self.vocabulary,
                outcome=outcome,
                created_at=now,
                duration=rng.randint(1, 90) if outcome == "completed" else 0,
            )
            call.steps = [(step, plan_delays(rng, self.chaos)) for step in steps_for(outcome)]
            call.plan = tuple(call.steps)
            call.early = rng.random() < self.chaos.early
            if fields.get("DetectVoicemail", "").lower() == "yes":
                call.voicemail = rng.choice(("voicemail", "person_found"))
            self._calls[call.sid] = call
            answer = self._resource(call, flavour)
            if not call.early and self.pace is not None:
                for n in range(len(call.steps)):
                    self._push(time.monotonic() + self.pace * (n + 1), call, "step", ())
                self._wake.notify_all()
            return call, answer

    def _play_early(self, call: FakeCall) -> None:
        """Play the whole call and send its callbacks, before the create answer goes out."""
        sends: list[tuple[float, int, tuple[object, ...]]] = []
        with self._lock:
            while call.steps:
                status, delays = call.steps.pop(0)
                for delay, params in self._step(call, _now(), status, delays):
                    sends.append((delay, next(self._order), params))
        for _, _, args in sorted(sends, key=lambda item: (item[0], item[1])):
            self._deliver(call.sid, *cast(tuple[str, str, tuple[tuple[str, str], ...]], args))

    def _push(self, due: float, call: FakeCall, kind: str, args: tuple[object, ...]) -> None:
        heapq.heappush(self._queue, (due, next(self._order), call.sid, call.generation, kind, args))

    def _apply(self, call: FakeCall, at: datetime, status: str, delays: tuple[float, ...]) -> None:
        base = time.monotonic()
        for delay, args in self._step(call, at, status, delays):
            self._push(base + delay, call, "send", args)

    def _step(
        self, call: FakeCall, at: datetime, status: str, delays: tuple[float, ...]
    ) -> list[tuple[float, tuple[object, ...]]]:
        """Reach ``status`` at ``at``; the callbacks it causes (delay, send args)."""
        if call.is_final:
            return []
        call.status = status
        if status == "initiated":
            call.start_time = at
        if status == "in-progress":
            call.answered_at = at
        if status in _FINAL:
            call.outcome = status
            call.end_time = at
            if status == "completed" and call.answered_at is not None and call.duration == 0:
                call.duration = max(1, math.ceil((at - call.answered_at).total_seconds()))
        event = EVENT_OF.get(status, ("completed", 3))[0]
        if call.status_callback is None or event not in call.events:
            return []
        params = callback_params(
            call_sid=call.sid,
            account_sid=call.account_sid,
            to=call.to,
            from_=call.from_,
            status=status,
            sequence_number=call.sequence,
            at=at,
            duration=call.duration if status in _FINAL else None,
            vocabulary=call.vocabulary,
            quirky=self.quirks,
            voicemail=call.voicemail,
        )
        call.sequence += 1
        return [(d, (call.status_callback_method, call.status_callback, params)) for d in delays]

    def _end_now(self, call: FakeCall, status: str) -> None:
        """Cancel or hang up: drop the remaining steps, reach ``status`` now."""
        call.generation += 1
        call.steps = []
        self._apply(call, _now(), status, plan_delays(self._rng, self.chaos))
        self._wake.notify_all()

    def _dispatch(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (
                    not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._wake.wait(wait)
                if self._stopping:
                    return
                _, _, sid, generation, kind, args = heapq.heappop(self._queue)
                found = self._calls.get(sid)
                if kind == "step":
                    if found is not None and generation == found.generation and found.steps:
                        call = found
                        self._apply(call, _now(), *call.steps.pop(0))
                    self._wake.notify_all()
                    continue
                self._busy += 1
            try:
                self._deliver(sid, *cast(tuple[str, str, tuple[tuple[str, str], ...]], args))
            finally:
                with self._wake:
                    self._busy -= 1
                    self._wake.notify_all()

    def _deliver(
        self, sid: str, method: str, url: str, params: tuple[tuple[str, str], ...]
    ) -> None:
        headers = {"User-Agent": "callstate-fake-provider"}
        body: bytes | None = None
        if method == "GET":
            parts = urlsplit(url)
            url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), ""))
            signed: Iterable[tuple[str, str]] = ()
        else:
            body = urlencode(params).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            signed = params
        if self.chaos.sign:
            headers["X-Twilio-Signature"] = twilio_signature(self.token, url, signed)
        answer: int | None = None
        error: str | None = None
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, data=body, headers=headers, method=method), timeout=5
            ) as response:
                response.read()
                answer = response.status
        except urllib.error.HTTPError as exc:
            answer = exc.code
            exc.close()
        except Exception as exc:  # a test server reports every failure, never dies of one
            error = repr(exc)
        with self._lock:
            self._sent.append(
                SentCallback(
                    call_sid=sid,
                    method=method,
                    url=url,
                    params=params,
                    headers=tuple(headers.items()),
                    answer=answer,
                    error=error,
                )
            )

    # The Call resource and the API's answers.

    def _time(self, value: datetime | None, *, rfc2822: bool) -> object:
        if value is None:
            return "null" if self.quirks else None
        return format_datetime(value) if rfc2822 else value.isoformat()

    def _resource(self, call: FakeCall, flavour: Flavour) -> dict[str, object]:
        """The Call resource as ``flavour``'s API writes it.

        Twilio writes every time in RFC 2822 and leaves ``duration`` empty for
        a call that was not answered; Restcomm writes ``date_*`` in RFC 2822
        and ``start_time``/``end_time`` in ISO 8601 (its ``DateTime.toString``).
        """
        twilio = flavour == "twilio"
        status = call.status.upper().replace("-", "_") if self.quirks else call.status
        null: object = "null" if self.quirks else None
        version = _TWILIO_VERSION if twilio else _RESTCOMM_VERSION
        uri = f"/{version}/Accounts/{call.account_sid}/Calls/{call.sid}"
        duration: object = str(call.duration) if call.is_final else null
        if twilio and call.is_final and call.answered_at is None:
            duration = null
        return {
            "sid": call.sid,
            "date_created": self._time(call.created_at, rfc2822=True),
            "date_updated": self._time(_now(), rfc2822=True),
            "parent_call_sid": null,
            "account_sid": call.account_sid,
            "to": call.to,
            "from": call.from_,
            "phone_number_sid": null,
            "status": status,
            "start_time": self._time(call.start_time, rfc2822=twilio),
            "end_time": self._time(call.end_time, rfc2822=twilio),
            "duration": duration,
            "price": null,
            "price_unit": "USD",
            "direction": "outbound-api",
            "answered_by": null,
            "api_version": version,
            "forwarded_from": null,
            "caller_name": null,
            "uri": f"{uri}.json",
            "subresource_uris": {
                "notifications": f"{uri}/Notifications.json",
                "recordings": f"{uri}/Recordings.json",
            },
        }

    def _list(self, query: dict[str, str], path: str, flavour: Flavour) -> tuple[int, object]:
        try:
            page = int(query.get("Page", "0"))
            size = int(query.get("PageSize", "50"))
        except ValueError:
            return 400, Problem("Page and PageSize must be whole numbers", _TW_CALLS)
        if page < 0 or not 1 <= size <= 1000:
            return 400, Problem("Page must be at least 0 and PageSize from 1 to 1000", _TW_CALLS)
        with self._lock:
            found = [c for c in self._calls.values() if _matches(c, query)]
            total = len(found)
            num_pages = max(1, math.ceil(total / size))
            if page >= num_pages and page > 0:
                return 400, Problem(
                    f"Page {page} is past the last page ({num_pages - 1})", _TW_CALLS
                )
            chunk = found[page * size : (page + 1) * size]
            calls = [self._resource(c, flavour) for c in chunk]

        def link(n: int) -> str:
            return f"{path}?{urlencode({**query, 'Page': n, 'PageSize': size})}"

        answer: dict[str, object] = {
            "page": page,
            "num_pages": num_pages,
            "page_size": size,
            "total": total,
            "start": page * size,
            "end": page * size + max(0, len(chunk) - 1),
            "uri": link(page),
            "first_page_uri": link(0),
            "previous_page_uri": link(page - 1) if page > 0 else None,
            "next_page_uri": link(page + 1) if page + 1 < num_pages else None,
            "last_page_uri": link(num_pages - 1),
            "calls": calls,
        }
        if flavour == "twilio":  # Twilio's pages no longer count: no total, no last page
            for name in ("num_pages", "total", "last_page_uri"):
                del answer[name]
        return 200, answer

    def _modify(self, sid: str, form: dict[str, str], flavour: Flavour) -> tuple[int, object]:
        twilio = flavour == "twilio"
        with self._wake:
            call = self._calls.get(sid)
            if call is None:
                if flavour == "restcomm":  # CallsEndpoint.modifyCall: no record, 406
                    return 406, Problem(f"No call {sid}", None)
                return 404, Problem(f"The requested resource {sid} was not found", _TW_NOT_FOUND)
            if call.is_final:
                if twilio:
                    return 400, Problem(
                        f"Call {sid} is not in-progress ({call.status}): it cannot be modified",
                        _TW_CALL_STATE,
                    )
                return 410, Problem("Call is already completed.", None)
            status = form.get("Status")
            if status is not None and status.lower() not in ("canceled", "completed"):
                message = f"Status must be canceled or completed, not {status!r}"
                return 400, Problem(message, _TW_CALLS)
            if not twiml_allowed(flavour):
                form.pop("Twiml", None)  # not a parameter there: ignored, as any unknown one
            elif "Twiml" in form and "Url" in form:
                return 400, Problem("Twiml and Url are mutually exclusive", _TW_CALLS)
            if status is None and "Url" not in form and "Twiml" not in form:
                return 409, Problem("Nothing to modify: give Url, Twiml or Status", None)
            if status is not None and status.lower() == "canceled":
                if call.status in _LIVE_CANCELABLE:
                    self._end_now(call, "canceled")
                # else: documented to do nothing to a call in progress
            elif status is not None:
                # ``completed`` ends a live call in any state; one never answered
                # ends as ``canceled`` ("canceled via the REST API while queued or
                # ringing"): the fake never invents an answer.
                self._end_now(call, "completed" if call.status == "in-progress" else "canceled")
            elif "Url" in form:
                call.redirects.append((form["Url"], form.get("Method", "POST")))
            else:
                call.twiml_updates.append(form["Twiml"])
            return 200, self._resource(call, flavour)

    def _delete(self, sid: str, flavour: Flavour) -> tuple[int, object]:
        if flavour != "twilio":  # Restcomm's CallsEndpoint has no DELETE
            return 405, Problem("DELETE is not allowed here", None)
        with self._wake:
            call = self._calls.get(sid)
            if call is None:
                return 404, Problem(f"The requested resource {sid} was not found", _TW_NOT_FOUND)
            if not call.is_final:  # Twilio deletes "records of past calls"
                return 400, Problem(
                    f"Call {sid} is {call.status}: only the record of a past call is deleted",
                    _TW_CALL_STATE,
                )
            del self._calls[sid]
            return 204, None

    def flavour(self, path: str) -> Flavour:
        """Whose API a request path is under: Twilio's, Restcomm's, or api19's."""
        base = path.split("/Accounts/", 1)[0]
        if base.endswith(f"/{_TWILIO_VERSION}"):
            return "twilio"
        if base.endswith(f"/restcomm/{_RESTCOMM_VERSION}"):
            return "restcomm"
        return "api19"

    def answer(
        self, method: str, path: str, query: dict[str, str], form: list[tuple[str, str]]
    ) -> tuple[int, object, FakeCall | None]:
        """Route one authenticated API request: (status, JSON or ``Problem``, early call)."""
        flavour = self.flavour(path)
        found = _PATH.match(path)
        if found is None or found["account"] != self.account_sid:
            message = f"The requested resource {path} was not found"
            return 404, Problem(message, _TW_NOT_FOUND), None
        sid = found["sid"]
        if method == "GET" and sid is None:
            return (*self._list(query, path, flavour), None)
        if method == "GET":
            with self._lock:
                call = self._calls.get(sid)
                if call is None:
                    message = f"The requested resource {sid} was not found"
                    return 404, Problem(message, _TW_NOT_FOUND), None
                return 200, self._resource(call, flavour), None
        if method == "DELETE" and sid is not None:
            return (*self._delete(sid, flavour), None)
        if method != "POST":
            return 405, Problem(f"{method} is not allowed here", _TW_METHOD), None
        if sid is not None:
            return (*self._modify(sid, dict(form), flavour), None)
        problem = _check_create(dict(form), flavour)
        if problem is not None:
            return 400, problem, None
        call, resource = self._place(form, flavour)
        return 201, resource, call if call.early else None

    def next_fault(self) -> Fault | None:
        with self._lock:
            self.requests_seen += 1
            return self._faults.popleft() if self._faults else None


def twiml_allowed(flavour: Flavour) -> bool:
    """Only Twilio's API takes ``Twiml`` and ``ApplicationSid``; Restcomm's requires ``Url``."""
    return flavour == "twilio"


def _check_outcome(outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")


def _check_create(form: dict[str, str], flavour: Flavour) -> Problem | None:
    if not form.get("To"):
        return Problem("To is required", _TW_NO_TO)
    if not form.get("From"):
        return Problem("From is required", _TW_NO_FROM)
    if twiml_allowed(flavour):
        if not any(form.get(name) for name in ("Url", "Twiml", "ApplicationSid")):
            return Problem("Url, Twiml or ApplicationSid is required", _TW_CALLS)
    elif not form.get("Url"):
        return Problem("Url is required", None)
    if "Url" in form and not form["Url"].lower().startswith(("http://", "https://")):
        return Problem(f"Url is not a valid URL: {form['Url'][:80]!r}", _TW_BAD_URL)
    for name in ("Method", "FallbackMethod", "StatusCallbackMethod"):
        if name in form and form[name].upper() not in ("GET", "POST"):
            return Problem(f"{name} must be GET or POST", _TW_CALLS)
    if "Timeout" in form and not (form["Timeout"].isdigit() and int(form["Timeout"]) > 0):
        return Problem("Timeout must be a positive whole number", _TW_CALLS)
    return None


def _matches(call: FakeCall, query: dict[str, str]) -> bool:
    status = query.get("Status", "").lower().replace("_", "-")
    day = call.created_at.date().isoformat()
    return (
        query.get("To", call.to) == call.to
        and query.get("From", call.from_) == call.from_
        and (not status or status == call.status)
        and query.get("StartTime", day) <= day
        and query.get("EndTime", day) >= day
        and "ParentCallSid" not in query
    )
