"""Hooks fire once per change, whatever the order and duplication of the deliveries.

The changes themselves may differ with the order: a Restcomm ``completed``
heard before ``answered`` first ends the call as ``ended`` (the outcome not
yet known), then ``answered`` refines it to ``completed``; heard after, the
call goes through ``in-progress`` instead. ``answered`` and ``final`` still
fire once each, and the last status reported is the call's.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from callstate import Anomaly, CallBook, CallState, CallStatus, StatusChange
from callstate.testing.web_contract import SwitchableSink, callback
from callstate.web import Hooks, Unverified, WebhookHandler

AT = datetime(2026, 11, 24, 10, 15, 33, tzinfo=UTC)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
URL = "https://calls.example.com/status"
FINALS = ("busy", "no-answer", "failed", "canceled")


@st.composite
def call_deliveries(draw: st.DrawFn) -> tuple[list[bytes], bool]:
    """One call's deliveries, some missing, some repeated, in any order; and if they conflict."""
    restcomm = draw(st.booleans())
    answered = draw(st.booleans())
    if restcomm:
        events = [("initiated", 0), ("ringing", 1)]
        events += [("answered", 2)] if answered else []
        events += [("completed", 3)]
    else:
        events = [("initiated", 0), ("ringing", 1)]
        events += (
            [("in-progress", 2), ("completed", 3)]
            if answered
            else [(draw(st.sampled_from(FINALS)), 3)]
        )
    kept = draw(st.lists(st.sampled_from(events), min_size=1, unique=True))
    conflicting = draw(st.booleans())
    # A Restcomm "completed" need not say the call was answered: without a
    # CallDuration above 0 it ends the call as "ended" until "answered" comes.
    duration = draw(st.sampled_from([None, "0", "7"])) if restcomm else "7"

    def params(status: str, seq: int) -> list[tuple[str, str]]:
        found = callback(call_sid="CAprop", status=status, seq=seq)
        if status != "completed":
            return found
        found = [(name, value) for name, value in found if name != "CallDuration"]
        return found + ([("CallDuration", duration)] if duration is not None else [])

    bodies = [urlencode(params(s, q)).encode() for s, q in kept]
    if conflicting:
        other = draw(st.sampled_from(FINALS))
        bodies.append(urlencode(callback(call_sid="CAprop", status=other, seq=3)).encode())
    copies = draw(st.lists(st.sampled_from(bodies), max_size=6))
    return draw(st.permutations(bodies + copies)), conflicting


def run(bodies: list[bytes]) -> tuple[list[tuple[str, object]], CallState]:
    hooks = Hooks()
    fired: list[tuple[str, object]] = []

    @hooks.on_answered
    def answered(state: CallState) -> None:
        fired.append(("answered", None))

    @hooks.on_final
    def final(state: CallState) -> None:
        fired.append(("final", None))

    @hooks.on_anomaly
    def anomaly(state: CallState, found: Anomaly) -> None:
        fired.append(("anomaly", found))

    for status in CallStatus:

        @hooks.on_status(status)
        def changed(state: CallState, change: StatusChange) -> None:
            fired.append(("status", change.status))

    book = CallBook()
    handler = WebhookHandler(book, verifier=Unverified(), hooks=hooks)
    for i, body in enumerate(bodies):
        answer = handler("POST", URL, FORM, body, AT + timedelta(seconds=i))
        assert answer.status == 204
    assert hooks.failures == 0
    return fired, book.state("CAprop")


@settings(max_examples=100, deadline=None)
@given(call_deliveries())
def test_answered_final_and_anomaly_hooks_fire_exactly_once(
    case: tuple[list[bytes], bool],
) -> None:
    bodies, conflicting = case
    fired, state = run(bodies)
    counts = Counter(kind for kind, _ in fired)
    assert counts["answered"] == (1 if state.answered else 0)
    assert counts["final"] == (1 if state.final else 0)
    anomalies = [found for kind, found in fired if kind == "anomaly"]
    assert sorted(map(repr, anomalies)) == sorted(map(repr, state.anomalies))
    statuses = [status for kind, status in fired if kind == "status"]
    if statuses:
        assert statuses[-1] is state.status
    if not conflicting:
        assert len(statuses) == len(set(statuses))


@settings(max_examples=75, deadline=None)
@given(call_deliveries(), st.data())
def test_duplicates_fire_nothing(case: tuple[list[bytes], bool], data: st.DataObject) -> None:
    bodies, _ = case
    distinct = list(dict.fromkeys(bodies))
    fired, _ = run(distinct)
    # Any copy of something already delivered, anywhere after it, changes nothing.
    with_copies = list(distinct)
    for _ in range(data.draw(st.integers(0, 5))):
        i = data.draw(st.integers(0, len(with_copies) - 1))
        j = data.draw(st.integers(i + 1, len(with_copies)))
        with_copies.insert(j, with_copies[i])
    assert run(with_copies)[0] == fired


@settings(max_examples=50, deadline=None)
@given(call_deliveries())
def test_hooks_wait_for_the_store(case: tuple[list[bytes], bool]) -> None:
    bodies, _ = case
    expected, _ = run(list(bodies))
    hooks = Hooks()
    fired: list[str] = []
    hooks.on_final(lambda state: fired.append("final"))
    hooks.on_answered(lambda state: fired.append("answered"))
    sink = SwitchableSink()
    handler = WebhookHandler(sink, verifier=Unverified(), hooks=hooks)
    for body in bodies:
        sink.down = True
        assert handler("POST", URL, FORM, body, AT).status == 503
        sink.down = False
        assert handler("POST", URL, FORM, body, AT).status == 204
    assert Counter(fired) == Counter(kind for kind, _ in expected if kind in ("final", "answered"))
