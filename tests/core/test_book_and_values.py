"""CallBook's whole surface, the Decider's defaults and overdue rule, and state values.

States and outcomes are values: equal exactly when every public field is,
with equal hashes, whatever path made them.
"""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate import (
    CallBook,
    CallRegistered,
    CallResource,
    CallState,
    CallStatus,
    Decider,
    Delivery,
    DeliveryAccepted,
    Dialect,
    DuplicateIgnored,
    InvalidValue,
    Outcome,
    Reconcile,
    ReconciliationRequested,
    RecordDelivery,
    RegisterCall,
    ResourceObserved,
    StatusChange,
    Tick,
    UnknownCall,
    UsageError,
    parse_form,
)
from callstate._core._call import Record, _changes, _dt, earliest, fold_resource, longest
from callstate._core._state import STATUSES
from callstate._core._time import EARLIEST, LATEST
from callstate.testing import strategies as cst

SID = "CA" + "4" * 32
OTHER = "CA" + "5" * 32
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def d(
    status: str, seq: int, at: int | None = 0, duration: int | None = None, sid: str = SID
) -> Delivery:
    return Delivery(
        call_sid=sid,
        sequence_number=seq,
        call_status=status,
        timestamp=None if at is None else T0 + timedelta(seconds=at),
        call_duration=duration,
    )


def fields(state: CallState) -> tuple[object, ...]:
    return (
        state.call_sid,
        state.status,
        state.answered,
        state.deliveries,
        state.duplicates,
        state.anomalies,
        state.timeline,
        state.call_duration,
        state.overdue_since,
    )


some_deliveries = st.lists(cst.deliveries(SID, max_sequence=3), max_size=4)


def folded(items: list[Delivery], flagged: bool = False) -> CallState:
    decider = Decider()
    events: list[object] = [
        DeliveryAccepted(delivery=item, received_at=T0 + timedelta(seconds=i))
        for i, item in enumerate(items)
    ]
    if flagged:
        events.append(ReconciliationRequested(call_sid=SID, at=T0 + timedelta(hours=9)))
    return decider.fold(events, SID)  # type: ignore[arg-type]


@given(some_deliveries, some_deliveries, st.booleans(), st.booleans())
def test_states_are_equal_exactly_when_every_field_is(a, b, flag_a, flag_b):
    one, two = folded(a, flag_a), folded(b, flag_b)
    assert (one == two) is (fields(one) == fields(two))
    assert (one != two) is (fields(one) != fields(two))
    if one == two:
        assert hash(one) == hash(two)
    # The same evidence again: an equal value, however it was made.
    again = folded(list(a), flag_a)
    assert again == one
    assert hash(again) == hash(one)
    assert {one, again} == {one}


def test_states_differing_in_one_field_are_unequal():
    base = folded([d("ringing", 1)])
    others = [
        folded([d("ringing", 1, at=1)]),  # timeline
        folded([d("in-progress", 1)]),  # status, answered
        folded([d("ringing", 1), d("ringing", 1)]),  # duplicates
        folded([d("ringing", 1), d("initiated", 0)]),  # deliveries, timeline
        folded([d("ringing", 1)], flagged=True),  # overdue_since
        Decider().fold([DeliveryAccepted(delivery=d("ringing", 1, sid=OTHER))]),  # call_sid
    ]
    for other in others:
        assert base != other
        assert not base == other  # noqa: SIM201
    with_duration = folded([d("busy", 3, duration=1)])
    assert with_duration != folded([d("busy", 3, duration=2)])
    assert base != "ringing"
    assert base.__eq__(object()) is NotImplemented
    assert len({*others, base}) == len(others) + 1
    # The hash reads the state: six different states do not all share one.
    assert len({hash(state) for state in (*others, base)}) > 1


def test_outcomes_are_values():
    book = CallBook()
    first = book.handle(RecordDelivery(delivery=d("ringing", 1), received_at=T0))
    again = CallBook().handle(RecordDelivery(delivery=d("ringing", 1), received_at=T0))
    assert first == again
    assert hash(first) == hash(again)
    assert first != book.handle(RecordDelivery(delivery=d("ringing", 1), received_at=T0))
    assert first.__eq__(first.after) is NotImplemented
    made = Outcome(
        events=first.events, changes=first.changes, before=first.before, after=first.after
    )
    assert made == first
    assert not made.duplicate


def test_defaults_of_a_decider():
    decider = Decider()
    assert decider.dialect is Dialect.AUTO
    assert decider.ring_timeout == timedelta(seconds=60)
    assert decider.max_call_length == timedelta(hours=4)
    assert Decider(dialect="twilio").dialect is Dialect.TWILIO
    with pytest.raises(InvalidValue, match="dialect"):
        Decider(dialect="nope")
    assert CallBook().decider == decider
    chosen = Decider(dialect=Dialect.RESTCOMM)
    assert CallBook(chosen).decider is chosen


def test_the_default_overdue_limit_is_ring_timeout_and_max_call_length():
    book = CallBook()
    book.record(d("ringing", 1, at=0))
    limit = T0 + timedelta(seconds=60) + timedelta(hours=4)
    assert book.tick(limit) == ()
    assert book.tick(limit + timedelta(seconds=1)) == (
        ReconciliationRequested(call_sid=SID, at=limit + timedelta(seconds=1)),
    )


times = st.integers(0, 10_000)


@given(
    placed=st.none() | times,
    timestamps=st.lists(st.none() | times, max_size=3),
    received=st.lists(st.none() | times, max_size=3),
    ring=st.none() | st.integers(0, 300),
    length=st.integers(0, 3_000),
    after=st.integers(-3, 3),
    final=st.booleans(),
)
def test_a_call_is_overdue_exactly_after_ring_timeout_and_max_call_length(
    placed, timestamps, received, ring, length, after, final
):
    decider = Decider(ring_timeout=timedelta(seconds=45), max_call_length=timedelta(seconds=length))
    book = CallBook(decider)
    known = []
    if placed is not None:
        ring_timeout = None if ring is None else timedelta(seconds=ring)
        book.handle(
            RegisterCall(
                call_sid=SID, placed_at=T0 + timedelta(seconds=placed), ring_timeout=ring_timeout
            )
        )
        known.append(placed)
    statuses = ["initiated", "ringing", "in-progress"]
    for i, (at, got) in enumerate(zip(timestamps, received + [None] * 3, strict=False)):
        book.record(d(statuses[i], i, at), None if got is None else T0 + timedelta(seconds=got))
        known += [t for t in (at, got) if t is not None]
    if final:
        book.record(d("busy", 9, None))
    if SID not in book:
        assert book.tick(T0 + timedelta(days=1)) == ()
        return
    waited = (45 if ring is None or placed is None else ring) + length
    now = T0 + timedelta(seconds=(min(known) if known else 0) + waited + after)
    due = bool(known) and not final and after > 0
    requests = book.tick(now)
    assert requests == ((ReconciliationRequested(call_sid=SID, at=now),) if due else ())
    assert book.state(SID).overdue_since == (now if due else None)
    # Through the decider, the same answer, and nothing changed.
    state = book.state(SID)
    assert decider.decide(Tick(now=now + timedelta(days=1)), state) == (
        ()
        if due or not known or final
        else (ReconciliationRequested(call_sid=SID, at=now + timedelta(days=1)),)
    )


def test_a_call_with_no_known_time_is_never_overdue():
    book = CallBook()
    book.record(d("ringing", 1, at=None))  # no Timestamp, no receive time
    assert book.tick(T0 + timedelta(days=365)) == ()
    assert Decider().decide(Tick(now=T0), Decider().initial_state()) == ()  # no call at all


def test_flagging_keeps_the_earliest_flag():
    decider = Decider()
    state = decider.fold([DeliveryAccepted(delivery=d("ringing", 1))], SID)
    later = decider.evolve(state, ReconciliationRequested(call_sid=SID, at=T0 + timedelta(hours=6)))
    earlier = decider.evolve(
        later, ReconciliationRequested(call_sid=SID, at=T0 + timedelta(hours=5))
    )
    again = decider.evolve(
        earlier, ReconciliationRequested(call_sid=SID, at=T0 + timedelta(hours=7))
    )
    assert later.overdue_since == T0 + timedelta(hours=6)
    assert earlier.overdue_since == again.overdue_since == T0 + timedelta(hours=5)


def test_registering_keeps_the_earliest_placing_and_the_last_ring_timeout():
    decider = Decider(max_call_length=timedelta(0))
    state = decider.initial_state(SID)
    for placed, ring in ((100, 30), (50, None), (200, 10)):
        state = decider.evolve(
            state,
            CallRegistered(
                call_sid=SID,
                placed_at=T0 + timedelta(seconds=placed),
                ring_timeout=None if ring is None else timedelta(seconds=ring),
            ),
        )
    assert decider.decide(Tick(now=T0 + timedelta(seconds=60)), state) == ()
    (request,) = decider.decide(Tick(now=T0 + timedelta(seconds=61)), state)
    assert request.at == T0 + timedelta(seconds=61)


def test_the_book_surface():
    book = CallBook()
    assert len(book) == 0
    assert list(book) == []
    assert SID not in book
    assert book.get(SID) is None
    with pytest.raises(UnknownCall):
        book.state(SID)
    assert book.record(d("ringing", 1), T0) == (
        StatusChange(previous=CallStatus.QUEUED, status=CallStatus.RINGING),
    )
    assert book.record(d("ringing", 1), T0) is None  # a duplicate
    assert book.record(d("initiated", 0)) == ()  # recorded, changes nothing
    book.handle(Reconcile(resource=CallResource(sid=OTHER, status="busy")))
    assert len(book) == 2
    assert list(book) == [SID, OTHER]
    assert SID in book and OTHER in book
    assert "CA" not in book and 7 not in book
    assert [s.call_sid for s in book.states()] == [SID, OTHER]
    assert book.get(SID) == book.state(SID)
    assert book.state(SID).duplicates == 1
    assert book.state(OTHER).status is CallStatus.BUSY


def test_apply_returns_the_changes_an_event_makes():
    book = CallBook()
    assert book.apply(DeliveryAccepted(delivery=d("ringing", 1), received_at=T0)) == (
        StatusChange(previous=CallStatus.QUEUED, status=CallStatus.RINGING),
    )
    assert book.apply(DeliveryAccepted(delivery=d("ringing", 1), received_at=T0)) == ()
    assert book.apply(DuplicateIgnored(call_sid=SID, sequence_number=1, received_at=T0)) == ()
    assert book.state(SID).duplicates == 2
    assert book.apply(ResourceObserved(resource=CallResource(sid=SID, status="completed"))) == (
        StatusChange(previous=CallStatus.RINGING, status=CallStatus.IN_PROGRESS),
        StatusChange(previous=CallStatus.IN_PROGRESS, status=CallStatus.COMPLETED),
    )


@pytest.mark.parametrize(
    "received_at",
    [datetime(2026, 11, 24, 12, 0), datetime(9999, 12, 31, tzinfo=UTC), "2026-11-24"],
)
def test_record_checks_the_receive_time(received_at):
    book = CallBook()
    with pytest.raises(InvalidValue, match="received_at"):
        book.record(d("ringing", 1), received_at)
    assert len(book) == 0 or book.state(SID).deliveries == 0
    assert book.get(SID) is None or book.get(SID).timeline == ()


def test_handle_and_the_decider_refuse_what_is_not_theirs():
    book = CallBook()
    with pytest.raises(UsageError, match="Tick"):
        book.handle(Tick(now=T0))  # type: ignore[arg-type]
    decider = Decider()
    with pytest.raises(UsageError, match="Tick"):
        decider.evolve(decider.initial_state(), Tick(now=T0))  # type: ignore[arg-type]
    state = decider.fold([DeliveryAccepted(delivery=d("ringing", 1))])
    with pytest.raises(UsageError, match=OTHER):
        decider.decide(RecordDelivery(delivery=d("ringing", 2, sid=OTHER)), state)
    with pytest.raises(UsageError, match=OTHER):
        decider.advance(state, [DeliveryAccepted(delivery=d("ringing", 2, sid=OTHER))])
    with pytest.raises(UsageError, match=OTHER):
        decider.fold([DeliveryAccepted(delivery=d("ringing", 2, sid=OTHER))], SID)


def test_handle_reports_before_after_events_and_changes():
    book = CallBook()
    outcome = book.handle(RecordDelivery(delivery=d("in-progress", 2), received_at=T0))
    assert outcome.before == Decider().initial_state(SID)
    assert outcome.after == book.state(SID)
    assert outcome.events == (DeliveryAccepted(delivery=d("in-progress", 2), received_at=T0),)
    assert outcome.changes == (
        StatusChange(previous=CallStatus.QUEUED, status=CallStatus.IN_PROGRESS),
    )
    assert not outcome.duplicate
    dup = book.handle(RecordDelivery(delivery=d("in-progress", 2), received_at=T0))
    assert dup.duplicate
    assert dup.events == (DuplicateIgnored(call_sid=SID, sequence_number=2, received_at=T0),)
    assert dup.changes == ()
    placed = book.handle(RegisterCall(call_sid=OTHER, placed_at=T0))
    assert placed.events == (CallRegistered(call_sid=OTHER, placed_at=T0),)
    assert not placed.duplicate
    assert placed.before == placed.after == Decider().initial_state(OTHER)
    seen = book.handle(
        Reconcile(resource=CallResource(sid=SID, status="no-answer"), observed_at=T0)
    )
    assert seen.events == (
        ResourceObserved(resource=CallResource(sid=SID, status="no-answer"), observed_at=T0),
    )
    assert seen.changes == (
        StatusChange(previous=CallStatus.IN_PROGRESS, status=CallStatus.NO_ANSWER),
    )
    assert [a.kind for a in seen.new_anomalies] == []
    # The outcome keeps its snapshots: later changes to the call do not reach them.
    book.record(d("busy", 5))
    assert outcome.after.status is CallStatus.IN_PROGRESS
    assert seen.after.status is CallStatus.NO_ANSWER


known_times = st.floats(min_value=0, max_value=4e9, allow_nan=False)
times_or_unknown = st.one_of(known_times, st.just(math.nan))
durations = st.one_of(st.none(), st.integers(min_value=0, max_value=10**6))


@given(times_or_unknown, times_or_unknown)
def test_earliest_is_the_smaller_known_time(a, b):
    got = earliest(a, b)
    known = [t for t in (a, b) if t == t]
    if known:
        assert got == min(known)
    else:
        assert got != got


@given(durations, durations)
def test_longest_is_the_larger_known_duration(a, b):
    known = [x for x in (a, b) if x is not None]
    assert longest(a, b) == (max(known) if known else None)


@pytest.mark.parametrize(
    ("placed", "created", "expected"),
    [(100.0, 50.0, 50.0), (100.0, 200.0, 100.0), (math.nan, 200.0, 200.0)],
)
def test_a_resource_moves_the_placing_time_only_earlier(placed, created, expected):
    record = Record(SID)
    record.placed_at = placed
    resource = CallResource(
        sid=SID, status="ringing", date_created=datetime.fromtimestamp(created, UTC)
    )
    fold_resource(record, resource, observed=300.0)
    assert record.placed_at == expected


def test_a_stored_time_past_either_end_reads_as_that_end():
    first, last = EARLIEST.timestamp(), LATEST.timestamp()
    assert _dt(first) == EARLIEST
    assert _dt(last) == LATEST
    assert _dt(first - 1) == EARLIEST
    assert _dt(last + 1) == LATEST
    assert _dt(first + 1) == datetime.fromtimestamp(first + 1, UTC)
    assert _dt(math.nan) is None


def test_a_move_the_table_does_not_have_is_a_bug_said_aloud():
    record = Record(SID)
    completed, ringing = STATUSES.index(CallStatus.COMPLETED), STATUSES.index(CallStatus.RINGING)
    with pytest.raises(AssertionError, match="illegal transition completed -> ringing"):
        _changes(record, completed, 0, ringing)


# CallBook's outcomes equal the decider's, and stay put (from test_web_fast_paths.py).


NOW = datetime(2026, 11, 24, 10, 15, 33, tzinfo=UTC)


@given(st.lists(cst.deliveries(), max_size=12))
def test_callbook_outcomes_are_the_deciders_and_stay_put(deliveries):
    book = CallBook()
    decider = Decider()
    states: dict[str, object] = {}
    outcomes = []
    for delivery in deliveries:
        command = RecordDelivery(delivery=delivery, received_at=NOW)
        outcome = book.handle(command)
        before = states.get(delivery.call_sid) or decider.initial_state(delivery.call_sid)
        events = decider.decide(command, before)  # type: ignore[arg-type]
        after, changes = decider.advance(before, events)  # type: ignore[arg-type]
        expected = Outcome(events=events, changes=changes, before=before, after=after)  # type: ignore[arg-type]
        states[delivery.call_sid] = after
        outcomes.append((outcome, expected))
    # Read only after every command: each outcome still shows its own moment.
    for outcome, expected in outcomes:
        assert outcome == expected
        assert outcome.before == expected.before and outcome.after == expected.after
        assert outcome.duplicate == expected.duplicate
        assert outcome.new_anomalies == expected.new_anomalies
        assert hash(outcome) == hash(expected)
        assert repr(outcome) == repr(expected)


_SIDS = st.sampled_from(["CA1", "CA2"])


_steps = st.lists(
    st.one_of(
        st.tuples(st.just("handle"), cst.deliveries(_SIDS)),
        st.tuples(st.just("record"), cst.deliveries(_SIDS)),
        st.tuples(st.just("apply"), cst.deliveries(_SIDS)),
        st.tuples(st.just("reconcile"), cst.call_resources("CA1") | cst.call_resources("CA2")),
        st.tuples(st.just("register"), _SIDS),
        st.tuples(st.just("tick"), st.integers(0, 30)),
    ),
    max_size=14,
)


@given(_steps)
def test_outcomes_stay_put_whatever_changes_the_book_next(steps):
    # CallBook hands an outcome the call's record itself as its "after" and
    # copies it before the next change, however the book is changed next.
    book, reference = CallBook(), CallBook()
    outcomes = []
    for how, value in steps:
        if how == "tick":
            now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC) + timedelta(hours=value)
            assert book.tick(now) == reference.tick(now)
            continue
        if how in ("record", "apply"):
            if how == "record":
                assert book.record(value, NOW) == reference.record(value, NOW)
            else:
                event = DeliveryAccepted(delivery=value, received_at=NOW)
                assert book.apply(event) == reference.apply(event)
            continue
        command: RecordDelivery | Reconcile | RegisterCall
        if how == "handle":
            command, sid = RecordDelivery(delivery=value, received_at=NOW), value.call_sid
        elif how == "reconcile":
            command, sid = Reconcile(resource=value, observed_at=NOW), value.sid
        else:
            command, sid = RegisterCall(call_sid=value, placed_at=NOW), value
        before = reference.get(sid) or reference.decider.initial_state(sid)
        expected = reference.handle(command)
        outcomes.append((book.handle(command), expected, before, reference.state(sid)))
    # Read only now: each outcome still shows its own moment.
    for outcome, expected, before, after in outcomes:
        assert outcome.before == before and outcome.after == after
        assert outcome.events == expected.events and outcome.changes == expected.changes
        assert outcome.duplicate == expected.duplicate
    assert list(book.states()) == list(reference.states())


def test_an_outcome_is_a_frozen_value():
    book = CallBook()
    delivery = parse_form(
        urlencode({"CallSid": "CA1", "CallStatus": "ringing", "SequenceNumber": "1"})
    )
    outcome = book.handle(RecordDelivery(delivery=delivery, received_at=NOW))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        outcome.events = ()  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del outcome.changes
    assert pickle.loads(pickle.dumps(outcome)) == outcome
    assert outcome.after.status.value == "ringing" and outcome.before.status.value == "queued"
    assert not outcome.duplicate
    again = book.handle(RecordDelivery(delivery=delivery, received_at=NOW))
    assert again.duplicate and again.changes == ()
    assert outcome.after.duplicates == 0 and again.after.duplicates == 1


# What the mutation run of _core/_decider.py showed unpinned.


@given(st.data(), st.lists(cst.deliveries(SID, max_sequence=1), min_size=1, max_size=3))
def test_a_repeat_of_any_content_seen_under_its_number_is_a_duplicate(data, pool):
    # A small pool, drawn from again and again: the same SequenceNumber comes
    # back with each of its contents, after a conflict too.
    decider, book = Decider(), CallBook()
    state = decider.initial_state(SID)
    seen: set[tuple[int, object]] = set()
    for delivery in data.draw(st.lists(st.sampled_from(pool), max_size=8)):
        command = RecordDelivery(delivery=delivery, received_at=data.draw(st.none() | st.just(NOW)))
        key = (delivery.sequence_number, delivery.content)
        (event,) = decider.decide(command, state)
        assert isinstance(event, DuplicateIgnored) is (key in seen)
        outcome = book.handle(command)
        assert outcome.duplicate is (key in seen)
        assert outcome.events == (event,)
        state = decider.evolve(state, event)
        assert outcome.after == state == book.state(SID)
        seen.add(key)


_events = st.one_of(
    st.builds(lambda d: DeliveryAccepted(delivery=d), cst.deliveries(SID)),
    st.builds(lambda seq: DuplicateIgnored(call_sid=SID, sequence_number=seq), st.integers(0, 9)),
    st.builds(lambda r: ResourceObserved(resource=r), cst.call_resources(SID)),
)


@given(st.lists(_events, max_size=4))
def test_an_outcome_is_a_duplicate_exactly_when_it_has_events_all_duplicates(events):
    state = Decider().initial_state(SID)
    outcome = Outcome(events=tuple(events), changes=(), before=state, after=state)
    assert outcome.duplicate is (
        len(events) > 0 and all(type(e) is DuplicateIgnored for e in events)
    )


@given(
    st.lists(cst.deliveries(st.sampled_from([SID, OTHER, "CA" + "6" * 32])), max_size=10),
    st.integers(0, 10),
)
def test_tick_flags_each_call_the_decider_finds_overdue_in_the_book_order(deliveries, hours):
    # However the overdue calls and the others are mixed, each call is asked.
    book, decider = CallBook(), Decider()
    for delivery in deliveries:
        book.record(delivery, NOW)
    now = NOW + timedelta(hours=hours)
    before = list(book.states())
    expected = tuple(e for s in before for e in decider.decide(Tick(now=now), s))
    assert book.tick(now) == expected
    assert list(book.states()) == [
        decider.advance(s, decider.decide(Tick(now=now), s))[0] for s in before
    ]


def test_a_tick_handed_to_the_book_says_where_it_goes():
    with pytest.raises(UsageError) as caught:
        CallBook().handle(Tick(now=T0))  # type: ignore[arg-type]
    assert str(caught.value) == "a Tick concerns every call: use CallBook.tick"


class _MyDelivery(RecordDelivery):
    """A command of the user's own, a RecordDelivery all the same."""


def test_a_subclass_of_a_command_is_handled_as_the_command():
    book, plain = CallBook(), CallBook()
    for delivery in (d("ringing", 1), d("ringing", 1), d("busy", 3, 9, 0)):
        mine = book.handle(_MyDelivery(delivery=delivery, received_at=T0))
        expected = plain.handle(RecordDelivery(delivery=delivery, received_at=T0))
        assert (mine.events, mine.changes, mine.duplicate) == (
            expected.events,
            expected.changes,
            expected.duplicate,
        )
        assert mine.before == expected.before and mine.after == expected.after
    assert book.state(SID) == plain.state(SID)


def test_what_the_decider_refuses_it_names():
    decider = Decider()
    state = decider.initial_state(SID)
    with pytest.raises(UsageError) as caught:
        decider.evolve(state, Tick(now=T0))  # type: ignore[arg-type]
    assert str(caught.value) == "a Tick concerns every call: use CallBook.tick or Decider.decide"
    placed = CallRegistered(call_sid=SID, placed_at=T0)
    with pytest.raises(UsageError) as caught:
        decider.decide(placed, state)  # type: ignore[arg-type]
    assert str(caught.value) == f"not a command: {placed!r}"
    register = RegisterCall(call_sid=SID, placed_at=T0)
    with pytest.raises(UsageError) as caught:
        decider.evolve(state, register)  # type: ignore[arg-type]
    assert str(caught.value) == f"not an event: {register!r}"
    with pytest.raises(UnknownCall) as unknown:
        CallBook().state(OTHER)
    assert unknown.value.call_sid == OTHER
    assert str(unknown.value) == f"no call {OTHER!r} is known here"
