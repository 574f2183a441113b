"""The fake Calls API provider: a real HTTP server on 127.0.0.1, in a thread.

``FakeProvider`` puts three parts together: the calls and their lifecycles
(``_fake_calls.Switchboard``), the API's answers about them
(``_fake_api.Answers``) and the HTTP glue (``_fake_http.Handler``), and can
be told to answer the next requests badly (``Fault``).
"""

from __future__ import annotations

import threading
from collections import deque
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Literal

import attrs

from callstate import providers
from callstate.client._profile import Profile
from callstate.providers import Provider, Speaker
from callstate.testing._fake_api import Answers, Flavour, call_sid_of, flavour_of
from callstate.testing._fake_calls import FakeCall, SentCallback, Switchboard, check_outcome
from callstate.testing._fake_http import ErrorStyle, Fault, Handler
from callstate.testing._fake_plan import Chaos, Outcome, Vocabulary

__all__ = ["FakeCall", "FakeProvider", "Fault", "Fetch", "SentCallback"]


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
    ``provider`` (a name or a ``callstate.providers.Provider``) has the
    callbacks sent in its dialect (what its ``speak`` says, POSTed unsigned);
    the Calls API stays the Twilio family's. None (and ``twilio``): the
    family's own form callbacks.
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
        provider: str | Provider | None = None,
    ) -> None:
        if outcome is not None:
            check_outcome(outcome)
        self.account_sid = account_sid
        self.token = token
        self.outcome = outcome
        self.pace = pace
        self.vocabulary: Vocabulary = vocabulary
        self.chaos = chaos or Chaos()
        self.error_style: ErrorStyle | None = error_style
        self.quirks = quirks
        self.fetch_latency = fetch_latency
        if isinstance(provider, str):
            provider = providers.get(provider)
        self.speak: Speaker | None = None if provider is None else provider.speak
        self.requests_seen = 0
        # The parts read the settings above at each use: a test may change them.
        self._board = Switchboard(self)
        self._answers = Answers(self, self._board)
        self._lock = threading.Lock()  # the faults and fetches
        self._faults: deque[Fault] = deque()
        self._fetches: list[Fetch] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Running.

    def start(self) -> FakeProvider:
        handler = type("BoundHandler", (Handler,), {"provider": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._serve, name="fake-api", daemon=True)
        self._thread.start()
        self._board.start()
        return self

    def _serve(self) -> None:
        if self._server is not None:
            self._server.serve_forever(poll_interval=0.02)

    def stop(self) -> None:
        self._board.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._board.join(timeout=10)

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
        self._board.queue_outcomes(*outcomes)

    def call(self, call_sid: str) -> FakeCall:
        return self._board.call(call_sid)

    def calls(self) -> list[FakeCall]:
        return self._board.copies()

    def true_outcome(self, call_sid: str) -> str:
        """The final status the call really reached (or will reach, as planned)."""
        return self._board.true_outcome(call_sid)

    def sent(self) -> list[SentCallback]:
        """Every status-callback request made so far, in the order made."""
        return self._board.sent()

    def fetches(self) -> list[Fetch]:
        """Every GET of one call answered so far (faults included), in the order they ended."""
        with self._lock:
            return list(self._fetches)

    def advance(self, call_sid: str) -> str:
        """Play the call's next lifecycle step now; answers its new true status."""
        return self._board.advance(call_sid)

    def finish(self, call_sid: str) -> str:
        """Play every remaining step of the call now."""
        return self._board.finish(call_sid)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no lifecycle step or callback is pending; False on timeout."""
        return self._board.wait_idle(timeout)

    # The API, as the HTTP glue asks it (``_fake_http.Backend``).

    def flavour(self, path: str) -> Flavour:
        """Whose API a request path is under: Twilio's, Restcomm's, or api19's."""
        return flavour_of(path)

    def answer(
        self, method: str, path: str, query: dict[str, str], form: list[tuple[str, str]]
    ) -> tuple[int, object, FakeCall | None]:
        """Route one authenticated API request: (status, JSON or ``Problem``, early call)."""
        return self._answers.answer(method, path, query, form)

    def respond(
        self, method: str, path: str, query: dict[str, str], form: list[tuple[str, str]]
    ) -> tuple[int, object]:
        """``answer``, after playing an early call (its callbacks sent before the answer)."""
        status, data, early = self._answers.answer(method, path, query, form)
        if early is not None:
            self._board.play_early(early)
        return status, data

    def next_fault(self) -> Fault | None:
        with self._lock:
            self.requests_seen += 1
            return self._faults.popleft() if self._faults else None

    def record_fetch(self, path: str, started: float, ended: float) -> None:
        """Keep a GET of one call for ``fetches()``; a GET of a list is not kept."""
        sid = call_sid_of(path)
        if sid is not None:
            with self._lock:
                self._fetches.append(Fetch(call_sid=sid, started=started, ended=ended))
