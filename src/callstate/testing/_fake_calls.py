"""The fake provider's calls: each call's lifecycle, played on a schedule, and its callbacks.

``Switchboard`` keeps the calls, plays each one's planned steps (with a
dispatcher thread, or step by step when ``pace`` is None) and sends the
status callbacks they cause. What a call will do is planned up front in
``_fake_plan``; how the API answers about it is ``_fake_api``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Final, Protocol, TypeVar, cast
from urllib.parse import urlencode, urlsplit, urlunsplit

import attrs

from callstate import _redact as redact
from callstate.providers._speak import ProviderEvent, Speaker
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
from callstate.web._signature import twilio_signature

__all__ = ["FINAL", "FakeCall", "SentCallback", "Settings", "Switchboard", "check_outcome", "now"]

FINAL: Final = frozenset(OUTCOMES)
_ALL_EVENTS: Final = ("initiated", "ringing", "answered", "completed")
_Answer = TypeVar("_Answer")
#: method, URL, parameters, and the provider's own callbacks for them (None: the parameters' form).
_Send = tuple[str, str, tuple[tuple[str, str], ...], "tuple[tuple[str, bytes], ...] | None"]


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
        return self.status in FINAL


def now() -> datetime:
    return datetime.now(UTC)


def check_outcome(outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")


class Settings(Protocol):
    """What the switchboard reads of its provider's settings, each time it uses one."""

    account_sid: str
    token: str
    outcome: str | None
    pace: float | None
    vocabulary: Vocabulary
    chaos: Chaos
    quirks: bool
    #: The provider whose callbacks to send (its ``speak``); None: the Twilio family's form.
    speak: Speaker | None


class Switchboard:
    """The provider's calls, their lifecycles played on a schedule, and the callbacks sent.

    ``lock`` guards ``calls`` (re-entrant: the API holds it around a check
    and what it then does to a call).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._rng = random.Random(settings.chaos.seed)
        self.lock = threading.RLock()
        self._wake = threading.Condition(self.lock)
        self.calls: dict[str, FakeCall] = {}
        self._outcomes: deque[Outcome] = deque()
        self._sent: list[SentCallback] = []
        self._queue: list[tuple[float, int, str, int, str, tuple[object, ...]]] = []
        self._order = itertools.count()
        self._busy = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(
            target=self._dispatch, name="fake-api-callbacks", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    # What tests control and read.

    def queue_outcomes(self, *outcomes: Outcome) -> None:
        for outcome in outcomes:
            check_outcome(outcome)
        with self.lock:
            self._outcomes.extend(outcomes)

    def call(self, call_sid: str) -> FakeCall:
        with self.lock:
            return attrs.evolve(self.calls[call_sid])

    def copies(self) -> list[FakeCall]:
        with self.lock:
            return [attrs.evolve(call) for call in self.calls.values()]

    def true_outcome(self, call_sid: str) -> str:
        with self.lock:
            return self.calls[call_sid].outcome

    def sent(self) -> list[SentCallback]:
        with self.lock:
            return list(self._sent)

    def advance(self, call_sid: str) -> str:
        with self._wake:
            call = self.calls[call_sid]
            if call.steps:
                self._apply(call, now(), *call.steps.pop(0))
                self._wake.notify_all()
            return call.status

    def finish(self, call_sid: str) -> str:
        with self.lock:
            while not self.calls[call_sid].is_final:
                self.advance(call_sid)
            return self.calls[call_sid].status

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(left)
        return True

    # The lifecycle.

    def place(
        self, form: list[tuple[str, str]], answer: Callable[[FakeCall], _Answer]
    ) -> tuple[FakeCall, _Answer]:
        """A new call from a create request's ``form``; ``answer`` of it as placed."""
        settings = self._settings
        fields = dict(form)
        events: list[str] = []
        for name, value in form:
            if name == "StatusCallbackEvent":
                events.extend(e.strip() for e in value.split(",") if e.strip())
        with self._wake:
            rng = self._rng
            outcome = self._outcomes.popleft() if self._outcomes else settings.outcome
            if outcome is None:
                outcome = rng.choice(OUTCOMES)
            # With ApplicationSid, Twilio takes the application's URLs and status
            # callback, ignoring the request's: the fake has no applications, so
            # such a call sends no status callbacks.
            application = fields.get("ApplicationSid")
            call = FakeCall(
                sid=f"CA{rng.getrandbits(128):032x}",
                account_sid=settings.account_sid,
                to=fields["To"],
                from_=fields["From"],
                url=fields.get("Url"),
                twiml=None if "Url" in fields else fields.get("Twiml"),
                application_sid=application,
                method=fields.get("Method", "POST"),
                status_callback=None if application else fields.get("StatusCallback"),
                status_callback_method=fields.get("StatusCallbackMethod", "POST").upper(),
                events=tuple(events) or _ALL_EVENTS,
                vocabulary=settings.vocabulary,
                outcome=outcome,
                created_at=now(),
                duration=rng.randint(1, 90) if outcome == "completed" else 0,
            )
            call.steps = [(step, plan_delays(rng, settings.chaos)) for step in steps_for(outcome)]
            call.plan = tuple(call.steps)
            call.early = rng.random() < settings.chaos.early
            if fields.get("DetectVoicemail", "").lower() == "yes":
                call.voicemail = rng.choice(("voicemail", "person_found"))
            self.calls[call.sid] = call
            placed = answer(call)
            if not call.early and settings.pace is not None:
                for n in range(len(call.steps)):
                    self._push(time.monotonic() + settings.pace * (n + 1), call, "step", ())
                self._wake.notify_all()
            return call, placed

    def play_early(self, call: FakeCall) -> None:
        """Play the whole call and send its callbacks, before the create answer goes out."""
        sends: list[tuple[float, int, tuple[object, ...]]] = []
        with self.lock:
            while call.steps:
                status, delays = call.steps.pop(0)
                for delay, params in self._step(call, now(), status, delays):
                    sends.append((delay, next(self._order), params))
        for _, _, args in sorted(sends, key=lambda item: (item[0], item[1])):
            self._deliver(call.sid, *cast(_Send, args))

    def end_now(self, call: FakeCall, status: str) -> None:
        """Cancel or hang up: drop the remaining steps, reach ``status`` now."""
        with self._wake:
            call.generation += 1
            call.steps = []
            self._apply(call, now(), status, plan_delays(self._rng, self._settings.chaos))
            self._wake.notify_all()

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
        if status in FINAL:
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
            duration=call.duration if status in FINAL else None,
            vocabulary=call.vocabulary,
            quirky=self._settings.quirks,
            voicemail=call.voicemail,
        )
        speech = None
        speak = self._settings.speak
        if speak is not None:
            happened = ProviderEvent(
                call_sid=call.sid,
                status=status,
                at=at,
                position=call.sequence,
                duration=call.duration if status in FINAL else None,
                account_sid=call.account_sid,
                to=call.to,
                from_=call.from_,
            )
            speech = tuple(speak(happened))
        call.sequence += 1
        method, url = call.status_callback_method, call.status_callback
        return [(d, (method, url, params, speech)) for d in delays]

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
                found = self.calls.get(sid)
                if kind == "step":
                    if found is not None and generation == found.generation and found.steps:
                        call = found
                        self._apply(call, now(), *call.steps.pop(0))
                    self._wake.notify_all()
                    continue
                self._busy += 1
            try:
                self._deliver(sid, *cast(_Send, args))
            finally:
                with self._wake:
                    self._busy -= 1
                    self._wake.notify_all()

    def _deliver(
        self,
        sid: str,
        method: str,
        url: str,
        params: tuple[tuple[str, str], ...],
        speech: tuple[tuple[str, bytes], ...] | None = None,
    ) -> None:
        if speech is not None:
            # The provider's own callbacks (POSTed, unsigned), one request each.
            for media, said in speech:
                self._send(sid, "POST", url, params, {"Content-Type": media}, said)
            return
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
        if self._settings.chaos.sign:
            headers["X-Twilio-Signature"] = twilio_signature(self._settings.token, url, signed)
        self._send(sid, method, url, params, headers, body)

    def _send(
        self,
        sid: str,
        method: str,
        url: str,
        params: tuple[tuple[str, str], ...],
        headers: dict[str, str],
        body: bytes | None,
    ) -> None:
        headers.setdefault("User-Agent", "callstate-fake-provider")
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
        with self.lock:
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
