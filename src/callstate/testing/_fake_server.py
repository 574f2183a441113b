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
from callstate.testing._fake_http import Fault, Handler
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

__all__ = ["FakeCall", "FakeProvider", "Fault", "SentCallback"]

ErrorStyle = Literal["text", "message", "twilio", "xml", "html"]
_PATH: Final = re.compile(r"^.*/Accounts/(?P<account>[^/]+)/Calls(?:/(?P<sid>[^/]+?))?(?:\.json)?$")
_LIVE_CANCELABLE: Final = frozenset({"queued", "initiated", "ringing"})
_FINAL: Final = frozenset(OUTCOMES)
_ALL_EVENTS: Final = ("initiated", "ringing", "answered", "completed")
_CODES: Final = {400: 21201, 401: 20003, 404: 20404, 409: 21220, 410: 21220, 500: 20500}


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
    url: str = attrs.field(repr=redact.urls)
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

    @property
    def is_final(self) -> bool:
        return self.status in _FINAL


def _now() -> datetime:
    return datetime.now(UTC)


class FakeProvider:
    """A fake Calls API on 127.0.0.1 (an ephemeral port), started as a context manager.

    ``outcome`` fixes every call's outcome (None: drawn under ``chaos.seed``;
    ``queue_outcomes`` sets the next ones). ``pace`` is the seconds between
    lifecycle steps; None leaves each call queued until ``advance``.
    ``vocabulary`` is how callbacks spell ``CallStatus``; ``error_style`` the
    shape of error bodies; ``quirks`` writes statuses as ``NO_ANSWER``,
    absent values as ``"null"`` and zone names in timestamps.
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
        error_style: ErrorStyle = "message",
        quirks: bool = False,
    ) -> None:
        if outcome is not None:
            _check_outcome(outcome)
        self.account_sid = account_sid
        self.token = token
        self.outcome = outcome
        self.pace = pace
        self.vocabulary: Vocabulary = vocabulary
        self.chaos = chaos or Chaos()
        self.error_style: ErrorStyle = error_style
        self.quirks = quirks
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

    def _place(self, form: list[tuple[str, str]]) -> tuple[FakeCall, dict[str, object]]:
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
            call = FakeCall(
                sid=f"CA{rng.getrandbits(128):032x}",
                account_sid=self.account_sid,
                to=fields["To"],
                from_=fields["From"],
                url=fields["Url"],
                method=fields.get("Method", "POST"),
                status_callback=fields.get("StatusCallback"),
                status_callback_method=fields.get("StatusCallbackMethod", "POST").upper(),
                events=tuple(events) or _ALL_EVENTS,
                vocabulary=self.vocabulary,
                outcome=outcome,
                created_at=now,
                duration=rng.randint(1, 90) if outcome == "completed" else 0,
            )
            call.steps = [(step, plan_delays(rng, self.chaos)) for step in steps_for(outcome)]
            call.early = rng.random() < self.chaos.early
            if fields.get("DetectVoicemail", "").lower() == "yes":
                call.voicemail = rng.choice(("voicemail", "person_found"))
            self._calls[call.sid] = call
            answer = self._resource(call)
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
                call = self._calls[sid]
                if kind == "step":
                    if generation == call.generation and call.steps:
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

    def _resource(self, call: FakeCall) -> dict[str, object]:
        status = call.status.upper().replace("-", "_") if self.quirks else call.status
        null: object = "null" if self.quirks else None
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
            "start_time": self._time(call.start_time, rfc2822=False),
            "end_time": self._time(call.end_time, rfc2822=False),
            "duration": str(call.duration) if call.is_final else null,
            "price": null,
            "price_unit": "USD",
            "direction": "outbound-api",
            "answered_by": null,
            "api_version": "2012-04-24",
            "forwarded_from": null,
            "caller_name": null,
            "uri": f"/2012-04-24/Accounts/{call.account_sid}/Calls/{call.sid}.json",
            "subresource_uris": {},
        }

    def _list(self, query: dict[str, str], path: str) -> tuple[int, object]:
        try:
            page = int(query.get("Page", "0"))
            size = int(query.get("PageSize", "50"))
        except ValueError:
            return 400, "Page and PageSize must be whole numbers"
        if page < 0 or not 1 <= size <= 1000:
            return 400, "Page must be at least 0 and PageSize from 1 to 1000"
        with self._lock:
            found = [c for c in self._calls.values() if _matches(c, query)]
            total = len(found)
            num_pages = max(1, math.ceil(total / size))
            if page >= num_pages and page > 0:
                return 400, f"Page {page} is past the last page ({num_pages - 1})"
            chunk = found[page * size : (page + 1) * size]
            calls = [self._resource(c) for c in chunk]

        def link(n: int) -> str:
            return f"{path}?{urlencode({**query, 'Page': n, 'PageSize': size})}"

        return 200, {
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

    def _modify(self, sid: str, form: dict[str, str]) -> tuple[int, object]:
        with self._wake:
            call = self._calls.get(sid)
            if call is None:
                return 404, f"The requested resource {sid} was not found"
            if call.is_final:
                return 410, f"Call {sid} is already {call.status}"
            status = form.get("Status")
            if status == "canceled":
                if call.status not in _LIVE_CANCELABLE:
                    return 409, f"Call {sid} is {call.status}: only queued or ringing cancels"
                self._end_now(call, "canceled")
            elif status == "completed":
                if call.status != "in-progress":
                    return 409, f"Call {sid} is {call.status}: only a call in progress hangs up"
                self._end_now(call, "completed")
            elif status is not None:
                return 400, f"Status must be canceled or completed, not {status!r}"
            elif "Url" in form:
                call.redirects.append((form["Url"], form.get("Method", "POST")))
            else:
                return 409, "Nothing to modify: give Url or Status"
            return 200, self._resource(call)

    def answer(
        self, method: str, path: str, query: dict[str, str], form: list[tuple[str, str]]
    ) -> tuple[int, object, FakeCall | None]:
        """Route one authenticated API request: (status, JSON or message, early call)."""
        found = _PATH.match(path)
        if found is None or found["account"] != self.account_sid:
            return 404, f"The requested resource {path} was not found", None
        sid = found["sid"]
        if method == "GET" and sid is None:
            return (*self._list(query, path), None)
        if method == "GET":
            with self._lock:
                call = self._calls.get(sid)
                if call is None:
                    return 404, f"The requested resource {sid} was not found", None
                return 200, self._resource(call), None
        if method != "POST":
            return 405, f"{method} is not allowed here", None
        if sid is not None:
            return (*self._modify(sid, dict(form)), None)
        problem = _check_create(dict(form))
        if problem is not None:
            return 400, problem, None
        call, resource = self._place(form)
        return 201, resource, call if call.early else None

    def next_fault(self) -> Fault | None:
        with self._lock:
            self.requests_seen += 1
            return self._faults.popleft() if self._faults else None


def _check_outcome(outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")


def _check_create(form: dict[str, str]) -> str | None:
    for name in ("From", "To", "Url"):
        if not form.get(name):
            return f"{name} is required"
    for name in ("Method", "FallbackMethod", "StatusCallbackMethod"):
        if name in form and form[name].upper() not in ("GET", "POST"):
            return f"{name} must be GET or POST"
    if "Timeout" in form and not (form["Timeout"].isdigit() and int(form["Timeout"]) > 0):
        return "Timeout must be a positive whole number"
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
