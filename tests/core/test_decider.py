"""The decider on the cases DOMAIN.md describes, one example each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callstate import (
    CallBook,
    CallResource,
    CallStatus,
    Decider,
    Delivery,
    DeliveryAccepted,
    Dialect,
    DuplicateIgnored,
    Reconcile,
    ReconciliationRequested,
    RecordDelivery,
    RegisterCall,
    ResourceObserved,
    StatusChange,
    Tick,
    UnknownCall,
    UsageError,
)

SID = "CA" + "1" * 32
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def d(status: str, seq: int, at: int = 0, duration: int | None = None) -> Delivery:
    return Delivery(
        call_sid=SID,
        sequence_number=seq,
        call_status=status,  # type: ignore[arg-type]
        timestamp=T0 + timedelta(seconds=at),
        call_duration=duration,
    )


def run(*items: Delivery, dialect: Dialect = Dialect.AUTO) -> tuple[CallBook, list[StatusChange]]:
    book = CallBook(Decider(dialect=dialect))
    changes: list[StatusChange] = []
    for item in items:
        changes += book.record(item) or ()
    return book, changes


def test_restcomm_completed_without_answer_is_ended_until_reconciled():
    book, changes = run(d("ringing", 1, 1), d("completed", 3, 30, 0), dialect=Dialect.RESTCOMM)
    state = book.state(SID)
    assert state.status is CallStatus.ENDED
    assert state.final
    assert not state.outcome_known
    assert state.needs_reconciliation
    assert [c.status for c in changes] == [CallStatus.RINGING, CallStatus.ENDED]
    outcome = book.handle(
        Reconcile(resource=CallResource(sid=SID, status=CallStatus.NO_ANSWER), observed_at=T0)
    )
    assert outcome.after.status is CallStatus.NO_ANSWER
    assert outcome.changes == (
        StatusChange(previous=CallStatus.ENDED, status=CallStatus.NO_ANSWER),
    )
    assert outcome.changes[0].is_refinement
    assert not outcome.after.needs_reconciliation
    assert outcome.after.anomalies == ()


def test_a_late_answered_refines_ended_to_completed():
    book, changes = run(d("completed", 3, 90), d("answered", 2, 30), dialect=Dialect.RESTCOMM)
    assert book.state(SID).status is CallStatus.COMPLETED
    assert book.state(SID).answered
    assert [(c.previous, c.status) for c in changes] == [
        (CallStatus.QUEUED, CallStatus.ENDED),
        (CallStatus.ENDED, CallStatus.COMPLETED),
    ]


def test_auto_reads_completed_with_a_duration_as_answered():
    book, changes = run(d("completed", 3, 90, 60))
    assert book.state(SID).status is CallStatus.COMPLETED
    assert [c.status for c in changes] == [CallStatus.IN_PROGRESS, CallStatus.COMPLETED]


def test_twilio_completed_means_answered_then_ended():
    book, changes = run(d("completed", 3, 90, 0), dialect=Dialect.TWILIO)
    assert book.state(SID).status is CallStatus.COMPLETED
    assert [c.status for c in changes] == [CallStatus.IN_PROGRESS, CallStatus.COMPLETED]


def test_late_ringing_after_in_progress_is_kept_but_moves_nothing():
    book, changes = run(d("in-progress", 2, 20), d("ringing", 1, 5))
    state = book.state(SID)
    assert state.status is CallStatus.IN_PROGRESS
    assert [c.status for c in changes] == [CallStatus.IN_PROGRESS]
    ringing = state.entry(CallStatus.RINGING)
    assert ringing is not None
    assert ringing.at == T0 + timedelta(seconds=5)
    assert state.ring_time == timedelta(seconds=15)


def test_conflicting_finals_higher_sequence_number_wins_and_is_reported():
    for order in (
        (d("no-answer", 3, 30, 0), d("busy", 4, 31, 0)),
        (d("busy", 4, 31, 0), d("no-answer", 3, 30, 0)),
    ):
        book, _ = run(*order)
        state = book.state(SID)
        assert state.status is CallStatus.BUSY
        (anomaly,) = state.anomalies
        assert anomaly.kind == "conflicting_final"
        assert anomaly.statuses == (CallStatus.BUSY, CallStatus.NO_ANSWER)
        assert anomaly.chosen is CallStatus.BUSY


def test_same_key_different_content_is_a_conflict_not_an_overwrite():
    book, _ = run(d("ringing", 1, 5), d("in-progress", 1, 9))
    state = book.state(SID)
    assert state.deliveries == 2
    assert [a.as_dict() for a in state.anomalies] == [
        {"kind": "conflicting_delivery", "sequence_number": 1}
    ]
    assert state.status is CallStatus.IN_PROGRESS  # both versions count as evidence


def test_the_decider_emits_duplicates_as_their_own_event():
    decider = Decider()
    state = decider.initial_state()
    first = decider.decide(RecordDelivery(delivery=d("ringing", 1), received_at=T0), state)
    assert isinstance(first[0], DeliveryAccepted)
    state = decider.evolve(state, first[0])
    again = decider.decide(RecordDelivery(delivery=d("ringing", 1), received_at=T0), state)
    assert again == (DuplicateIgnored(call_sid=SID, sequence_number=1, received_at=T0),)
    assert decider.evolve(state, again[0]).duplicates == 1


def test_tick_flags_an_overdue_call_once_using_its_own_ring_timeout():
    decider = Decider(max_call_length=timedelta(minutes=10))
    book = CallBook(decider)
    book.handle(RegisterCall(call_sid=SID, placed_at=T0, ring_timeout=timedelta(seconds=30)))
    book.record(d("ringing", 1, 1))
    assert book.tick(T0 + timedelta(minutes=10)) == ()
    requests = book.tick(T0 + timedelta(minutes=10, seconds=31))
    assert requests == (
        ReconciliationRequested(call_sid=SID, at=T0 + timedelta(minutes=10, seconds=31)),
    )
    assert book.tick(T0 + timedelta(hours=1)) == ()  # flagged once
    state = book.state(SID)
    assert state.needs_reconciliation
    assert state.overdue_since == T0 + timedelta(minutes=10, seconds=31)
    book.record(d("busy", 3, 40, 0))
    assert not book.state(SID).needs_reconciliation


def test_tick_through_the_decider_is_pure():
    decider = Decider()
    state = decider.fold([DeliveryAccepted(delivery=d("ringing", 1, 0))])
    late = T0 + timedelta(hours=5)
    assert decider.decide(Tick(now=T0), state) == ()
    (event,) = decider.decide(Tick(now=late), state)
    assert event == ReconciliationRequested(call_sid=SID, at=late)
    assert decider.evolve(state, event).needs_reconciliation


def test_reconciliation_that_disagrees_with_a_known_final_is_an_anomaly():
    book, _ = run(d("busy", 3, 30, 0))
    outcome = book.handle(Reconcile(resource=CallResource(sid=SID, status=CallStatus.NO_ANSWER)))
    assert outcome.after.status is CallStatus.NO_ANSWER
    assert outcome.changes[0].is_correction
    assert [a.kind for a in outcome.new_anomalies] == ["reconciliation_conflict"]


def test_the_create_answer_and_early_callbacks_land_in_one_record():
    book = CallBook()
    book.record(d("ringing", 1, 2))  # arrives before the POST returned
    outcome = book.handle(
        Reconcile(resource=CallResource(sid=SID, status=CallStatus.QUEUED, date_created=T0))
    )
    assert outcome.changes == ()
    assert outcome.after.status is CallStatus.RINGING
    assert outcome.after.deliveries == 1


def test_events_of_another_call_are_refused():
    decider = Decider()
    state = decider.fold([DeliveryAccepted(delivery=d("ringing", 1))])
    other = Delivery(call_sid="CA" + "2" * 32, sequence_number=1, call_status="ringing")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="given to call"):
        decider.evolve(state, DeliveryAccepted(delivery=other))
    with pytest.raises(UsageError):
        decider.decide(RecordDelivery(delivery=other), state)


@pytest.mark.parametrize("thing", ["CA1", None, 42, d("ringing", 1)])
def test_what_is_no_command_or_event_is_a_usage_error_naming_its_type(thing):
    # Not an AttributeError from deep inside: the API's misuse, named.
    decider, book = Decider(), CallBook()
    state = decider.fold([DeliveryAccepted(delivery=d("ringing", 1))])
    for use in (
        lambda: book.handle(thing),
        lambda: book.apply(thing),
        lambda: decider.decide(thing, state),
        lambda: decider.evolve(state, thing),
    ):
        with pytest.raises(UsageError, match=f"not a command or an event.*{type(thing).__name__}"):
            use()


def test_every_command_and_event_names_its_call():
    # Each kind that names its call by call_sid is read by it (the others by
    # their delivery or resource): none is refused as no command (a kind left
    # out of the decider's list would raise UsageError here).
    decider, book = Decider(), CallBook()
    register = RegisterCall(call_sid=SID, placed_at=T0)
    requested = ReconciliationRequested(call_sid=SID, at=T0)
    ignored = DuplicateIgnored(call_sid=SID, sequence_number=1)
    book.handle(register)
    book.apply(requested)
    book.apply(ignored)
    state = book.state(SID)
    assert state.duplicates == 1
    (placed,) = decider.decide(register, decider.fold([]))
    assert decider.evolve(decider.fold([]), placed).call_sid == SID


def test_unknown_calls_raise_a_keyerror_of_ours():
    with pytest.raises(UnknownCall) as caught:
        CallBook().state("CAnope")
    assert isinstance(caught.value, KeyError)
    assert CallBook().get("CAnope") is None


def test_resource_events_fold_like_commands():
    decider = Decider()
    resource = CallResource(sid=SID, status=CallStatus.BUSY)
    state = decider.fold([ResourceObserved(resource=resource, observed_at=T0)])
    assert state.status is CallStatus.BUSY
    assert decider.is_terminal(state)


def test_delivery_checks_its_fields_when_built_by_hand():
    with pytest.raises(ValueError, match="sequence_number"):
        Delivery(call_sid=SID, sequence_number=-1, call_status="ringing")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timestamp"):
        Delivery(
            call_sid=SID, sequence_number=1, call_status="ringing", timestamp=datetime(2026, 1, 1)
        )  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ringing-ish"):
        Delivery(call_sid=SID, sequence_number=1, call_status="ringing-ish")  # type: ignore[arg-type]


def test_advance_reports_what_the_book_reports():
    decider = Decider(dialect=Dialect.RESTCOMM)
    events = [
        DeliveryAccepted(delivery=d("completed", 3, 90)),
        DeliveryAccepted(delivery=d("answered", 2, 30)),
    ]
    state, changes = decider.advance(decider.initial_state(), events)
    assert state == decider.fold(events)
    assert [(c.previous, c.status) for c in changes] == [
        (CallStatus.QUEUED, CallStatus.ENDED),
        (CallStatus.ENDED, CallStatus.COMPLETED),
    ]


def test_the_book_is_a_sink():
    from callstate import Sink

    assert isinstance(CallBook(), Sink)


def test_a_record_copy_has_every_field_and_shares_nothing_mutable():
    from callstate._core._call import Record

    book, _ = run(d("ringing", 1, 1), d("busy", 3, 9, 0), d("busy", 3, 9, 0))
    record = book._calls[SID]
    copy = record.copy()

    def same(a: object, b: object) -> bool:
        return repr(a) == repr(b)  # NaN-safe: nan != nan, but their reprs agree

    for name in Record.__slots__:
        assert same(getattr(copy, name), getattr(record, name)), name
    assert copy.seen is not record.seen
    assert copy.times is not record.times


@pytest.mark.parametrize("dialect", [Dialect.RESTCOMM, Dialect.AUTO])
@pytest.mark.parametrize("duration", [None, 0])
@pytest.mark.parametrize("answered_first", [False, True])
def test_a_completed_read_as_ended_lends_its_time_to_completed_once_answered(
    dialect, duration, answered_first
):
    # The "completed" callback said ended (no answer known); once "answered" arrives it
    # is the call's completed entry, at its own time, whatever the order of the two.
    ended, answered = d("completed", 3, 90, duration), d("answered", 2, 30)
    book, _ = run(*((answered, ended) if answered_first else (ended, answered)), dialect=dialect)
    state = book.state(SID)
    assert state.status is CallStatus.COMPLETED
    assert [(e.status, e.at) for e in state.timeline] == [
        (CallStatus.IN_PROGRESS, T0 + timedelta(seconds=30)),
        (CallStatus.COMPLETED, T0 + timedelta(seconds=90)),
    ]
    assert state.talk_time == (
        timedelta(seconds=60) if duration is None else timedelta(seconds=duration)
    )
