"""The laws of the core, stated as hypothesis properties.

Every law is checked over *any* deliveries of a call (any status, any
SequenceNumber, conflicts and gaps included) and over realistic lifecycles.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from callstate import (
    CallBook,
    CallState,
    CallStatus,
    Decider,
    Delivery,
    DeliveryAccepted,
    Dialect,
    RecordDelivery,
    StatusChange,
)
from callstate.testing import strategies as cst

SID = "CA" + "0" * 32
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

any_deliveries = st.lists(cst.deliveries(SID), min_size=1, max_size=8)


def replay(
    items: list[Delivery], dialect: Dialect = Dialect.AUTO
) -> tuple[CallState, list[StatusChange]]:
    decider = Decider(dialect=dialect)
    book = CallBook(decider)
    changes: list[StatusChange] = []
    for i, item in enumerate(items):
        made = book.record(item, T0 + timedelta(seconds=i))
        if made:
            changes.extend(made)
    if not items:
        return decider.initial_state(), changes
    return book.state(items[0].call_sid), changes


def comparable(state: CallState) -> tuple[object, ...]:
    """Everything but the receive times, which depend on arrival order."""
    return (
        state.status,
        state.answered,
        state.deliveries,
        state.duplicates,
        state.anomalies,
        tuple((e.status, e.at) for e in state.timeline),
        state.call_duration,
    )


@given(st.data(), any_deliveries, cst.dialects())
def test_state_converges_under_permutation_and_duplication(data, items, dialect):
    reference, _ = replay(items, dialect)
    chaos = data.draw(cst.chaotic(items))
    state, _ = replay(chaos, dialect)
    assert state.status == reference.status
    assert state.answered == reference.answered
    assert state.anomalies == reference.anomalies
    assert state.deliveries == reference.deliveries
    assert [(e.status, e.at) for e in state.timeline] == [
        (e.status, e.at) for e in reference.timeline
    ]
    assert state.duplicates == len(chaos) - state.deliveries


@given(st.data(), any_deliveries, cst.dialects())
def test_receive_time_is_when_the_first_copy_arrived(data, items, dialect):
    chaos = data.draw(cst.chaotic(items))
    state, _ = replay(chaos, dialect)
    for entry in state.timeline:
        assert entry.received_at is not None
        index = round((entry.received_at - T0).total_seconds())
        # The copy that arrived then is evidence of this status...
        assert 0 <= index < len(chaos)
        # ...and it was the first arrival of its content.
        first = next(
            i
            for i, d in enumerate(chaos)
            if d.content == chaos[index].content
            and d.sequence_number == chaos[index].sequence_number
        )
        assert first == index


@given(any_deliveries, cst.dialects())
def test_reported_changes_chain_and_never_go_down(items, dialect):
    state, changes = replay(items, dialect)
    current = CallStatus.QUEUED
    for change in changes:
        assert change.previous is current
        assert change.status.rank >= change.previous.rank
        assert change.status is not change.previous
        current = change.status
    assert current is state.status


@given(any_deliveries, cst.dialects())
def test_final_states_are_absorbing(items, dialect):
    book = CallBook(Decider(dialect=dialect))
    was_final = False
    for item in items:
        book.record(item)
        state = book.state(SID)
        if was_final:
            assert state.final
        was_final = state.final


@given(any_deliveries, cst.dialects())
def test_answered_flips_at_most_once_and_never_back(items, dialect):
    book = CallBook(Decider(dialect=dialect))
    flips = 0
    answered = False
    for item in items:
        book.record(item)
        now = book.state(SID).answered
        assert now or not answered
        flips += now and not answered
        answered = now
    assert flips == int(answered)


@given(st.data(), any_deliveries, cst.dialects())
def test_decider_replay_is_deterministic_and_matches_the_book(data, items, dialect):
    decider = Decider(dialect=dialect)
    state = decider.initial_state()
    log = []
    for item in items:
        events = decider.decide(RecordDelivery(delivery=item), state)
        for event in events:
            state = decider.evolve(state, event)
        log.extend(events)
    assert decider.fold(log) == state == decider.fold(list(log))
    book_state, _ = replay(items, dialect)
    assert comparable(book_state)[:5] == comparable(state)[:5]


@given(cst.deliveries(SID), cst.deliveries(SID), cst.dialects())
def test_evolve_commutes_over_deliveries(a, b, dialect):
    decider = Decider(dialect=dialect)
    start = decider.initial_state(SID)
    ea, eb = DeliveryAccepted(delivery=a), DeliveryAccepted(delivery=b)
    ab = decider.evolve(decider.evolve(start, ea), eb)
    ba = decider.evolve(decider.evolve(start, eb), ea)
    assert ab == ba


@given(cst.deliveries(SID), cst.dialects())
def test_evolve_is_idempotent_but_for_the_duplicate_count(a, dialect):
    decider = Decider(dialect=dialect)
    once = decider.evolve(decider.initial_state(SID), DeliveryAccepted(delivery=a))
    twice = decider.evolve(once, DeliveryAccepted(delivery=a))
    assert comparable(twice)[:3] == comparable(once)[:3]
    assert comparable(twice)[4:] == comparable(once)[4:]
    assert twice.duplicates == once.duplicates + 1


@given(any_deliveries, cst.dialects())
def test_never_invents_busy_or_no_answer(items, dialect):
    state, _ = replay(items, dialect)
    said = {item.call_status.value for item in items}
    if state.status in (CallStatus.BUSY, CallStatus.NO_ANSWER, CallStatus.FAILED):
        assert state.status.value in said
    if state.status is CallStatus.CANCELED:
        assert "canceled" in said


@given(any_deliveries)
def test_a_conflict_is_reported_never_overwritten(items):
    state, _ = replay(items)
    versions: dict[int, set[object]] = {}
    for item in items:
        versions.setdefault(item.sequence_number, set()).add(item.content)
    conflicted = {seq for seq, contents in versions.items() if len(contents) > 1}
    reported = {a.sequence_number for a in state.anomalies if a.kind == "conflicting_delivery"}
    assert reported == conflicted
    assert state.deliveries == sum(len(v) for v in versions.values())


@given(st.data(), cst.lifecycles(), st.booleans())
def test_realistic_lifecycles_converge_to_the_truth_or_to_unknown(data, life, drops):
    chaos = data.draw(cst.chaotic(life.deliveries, drops=drops))
    state, _ = replay(chaos, Dialect.AUTO)
    # What arrived at least once: with drops, some of the call's deliveries never do.
    arrived = list({d.key: d for d in chaos}.values())
    completed_seen = any(d.call_status.value == "completed" for d in arrived)
    finals = {d.call_status.value for d in arrived} & {
        "busy",
        "no-answer",
        "failed",
        "canceled",
    }
    if finals:
        assert state.status is life.outcome
    elif completed_seen:
        # Told "completed": the outcome is the truth when it is knowable,
        # and "ended" (unknown) when nothing said the call was answered.
        assert state.status in (life.outcome, CallStatus.ENDED)
        if life.outcome is not CallStatus.COMPLETED:
            assert state.status is CallStatus.ENDED
        assert state.needs_reconciliation == (state.status is CallStatus.ENDED)
    else:
        assert not state.final
    assert state.duplicates == len(chaos) - len(arrived)
    assert state.deliveries == len(arrived)


@given(st.data(), cst.lifecycles(dialect=Dialect.TWILIO), st.booleans())
def test_twilio_lifecycles_always_reach_the_truth_when_the_end_arrives(data, life, drops):
    chaos = data.draw(cst.chaotic(life.deliveries, drops=drops))
    state, changes = replay(chaos, Dialect.TWILIO)
    if any(d.sequence_number == life.deliveries[-1].sequence_number for d in chaos) and (
        life.deliveries[-1].call_status.value not in ("initiated", "ringing", "in-progress")
    ):
        assert state.status is life.outcome
        assert state.outcome_known
        answered_changes = [c for c in changes if c.status is CallStatus.IN_PROGRESS]
        assert len(answered_changes) == int(life.answered)
    else:
        # The end was lost (or the call never ended): nothing final is made up.
        assert not state.final
