"""Every derived field of a call against a reference written from the rules alone.

The reference below reads the evidence of one call (its distinct deliveries and
its Call resources) the way docs/concepts.md and DOMAIN.md state the rules, with
plain loops and none of the core's tables, bit sets or fast paths. The
properties fold the same evidence, shuffled and repeated, through a
``CallBook`` and through the ``Decider`` and compare every public field:
status, answered, counts, CallDuration, timeline, anomalies, and the times
derived from them (``ring_time`` and ``talk_time`` are worked out here from
the raw timestamps, not from the timeline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate import (
    Anomaly,
    CallbackStatus,
    CallBook,
    CallResource,
    CallState,
    CallStatus,
    Decider,
    Delivery,
    Dialect,
    Reconcile,
    RecordDelivery,
    ResourceObserved,
    TimelineEntry,
)
from callstate.testing import strategies as cst

SID = "CA" + "1" * 32
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

LIVE = {
    CallbackStatus.QUEUED: CallStatus.QUEUED,
    CallbackStatus.INITIATED: CallStatus.INITIATED,
    CallbackStatus.RINGING: CallStatus.RINGING,
    CallbackStatus.IN_PROGRESS: CallStatus.IN_PROGRESS,
    CallbackStatus.ANSWERED: CallStatus.IN_PROGRESS,
}
KNOWN_ENDS = {
    CallbackStatus.BUSY: CallStatus.BUSY,
    CallbackStatus.FAILED: CallStatus.FAILED,
    CallbackStatus.NO_ANSWER: CallStatus.NO_ANSWER,
    CallbackStatus.CANCELED: CallStatus.CANCELED,
}
ORDER = list(CallStatus)  # the order statuses are listed in, and ties are broken by
FINAL = {s for s in CallStatus if ORDER.index(s) >= ORDER.index(CallStatus.ENDED)}
#: Stands for a ``completed`` whose meaning waits on what else is known.
UNREAD = "completed, unread"


@dataclass
class Evidence:
    """One piece of evidence: what it says, when it happened and when we heard."""

    says: CallStatus | str
    at: datetime | None
    received: datetime | None


@dataclass
class Reference:
    status: CallStatus
    answered: bool
    deliveries: int
    duplicates: int
    call_duration: int | None
    timeline: tuple[TimelineEntry, ...]
    anomalies: tuple[Anomaly, ...]
    ring_time: timedelta | None
    talk_time: timedelta | None
    evidence: list[Evidence] = field(default_factory=list)


def earliest(values: list[datetime | None]) -> datetime | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


def reference(
    deliveries: list[tuple[Delivery, datetime]],
    resources: list[tuple[CallResource, datetime]],
    dialect: Dialect,
) -> Reference:
    """The call as the rules describe it, from its evidence in any order."""
    # Two copies of one event share SequenceNumber and content; the first to
    # arrive is the one heard (received times only grow in these tests).
    distinct: dict[tuple[object, ...], tuple[Delivery, datetime]] = {}
    for item, received in deliveries:
        key = (item.sequence_number, item.call_status, item.timestamp, item.call_duration)
        if key not in distinct or received < distinct[key][1]:
            distinct[key] = (item, received)
    evidence: list[Evidence] = []
    claims: list[tuple[int, CallStatus | str]] = []  # (SequenceNumber, end claimed)
    durations: list[int] = []
    answered = False
    reached: set[CallStatus] = set()
    for item, received in distinct.values():
        said = item.call_status
        if said in LIVE:
            says: CallStatus | str = LIVE[said]
            reached.add(LIVE[said])
            answered |= said in (CallbackStatus.IN_PROGRESS, CallbackStatus.ANSWERED)
        else:
            if item.call_duration is not None:
                durations.append(item.call_duration)
            if said in KNOWN_ENDS:
                says = KNOWN_ENDS[said]
            # A "completed" is an answered call's end where the dialect says so
            # (Twilio always; auto when a positive CallDuration came with it).
            elif dialect is Dialect.TWILIO or (dialect is Dialect.AUTO and item.call_duration):
                says = CallStatus.COMPLETED
                answered = True
            else:
                says = UNREAD
            claims.append((item.sequence_number, says))
        evidence.append(Evidence(says, item.timestamp, received))
    told: list[
        tuple[float, int, CallStatus]
    ] = []  # the resource's finals: (updated, order, status)
    for resource, observed in resources:
        if resource.status in FINAL:
            updated = resource.date_updated
            told.append(
                (
                    -float("inf") if updated is None else updated.timestamp(),
                    ORDER.index(resource.status),
                    resource.status,
                )
            )
            answered |= resource.status is CallStatus.COMPLETED
            evidence.append(Evidence(resource.status, resource.end_time, observed))
            if resource.duration is not None:
                durations.append(resource.duration)
        else:
            reached.add(resource.status)
            answered |= resource.status is CallStatus.IN_PROGRESS

    # A bare "completed" is "completed" once the call is known to have been
    # answered, else "ended" (over, outcome unknown).
    def read(says: CallStatus | str) -> CallStatus:
        if says == UNREAD:
            return CallStatus.COMPLETED if answered else CallStatus.ENDED
        assert isinstance(says, CallStatus)
        return says

    known_claims = [(seq, read(says)) for seq, says in claims if read(says) is not CallStatus.ENDED]
    if told:
        status = max(told)[2]  # the latest-updated resource wins
    elif known_claims:
        # The highest SequenceNumber wins; at one number, the status listed last.
        status = max(known_claims, key=lambda c: (c[0], ORDER.index(c[1])))[1]
    elif claims:
        status = CallStatus.ENDED
    else:
        live = [s for s in reached if s is not CallStatus.QUEUED]
        status = max(live, key=ORDER.index) if live else CallStatus.QUEUED

    timeline = []
    for shown in ORDER:
        if shown in FINAL and shown is not status:
            continue  # only the final status reached has an entry
        mine = [e for e in evidence if (read(e.says) if e.says == UNREAD else e.says) is shown]
        if not mine:
            continue
        at, received = earliest([e.at for e in mine]), earliest([e.received for e in mine])
        if at is None and received is None:
            continue
        timeline.append(TimelineEntry(status=shown, at=at, received_at=received))

    anomalies = []
    contents: dict[int, set[object]] = {}
    for item, _ in distinct.values():
        contents.setdefault(item.sequence_number, set()).add(
            (item.call_status, item.timestamp, item.call_duration)
        )
    anomalies += [
        Anomaly(kind="conflicting_delivery", sequence_number=seq)
        for seq in sorted(seq for seq, found in contents.items() if len(found) > 1)
    ]
    claimed = sorted({s for _, s in known_claims}, key=ORDER.index)
    if len(claimed) > 1:
        chosen = max(known_claims, key=lambda c: (c[0], ORDER.index(c[1])))[1]
        anomalies.append(Anomaly(kind="conflicting_final", statuses=tuple(claimed), chosen=chosen))
    if told:
        disagreeing = sorted({s for _, _, s in told} | set(claimed), key=ORDER.index)
        if len(disagreeing) > 1:
            anomalies.append(
                Anomaly(kind="reconciliation_conflict", statuses=tuple(disagreeing), chosen=status)
            )

    def first(*said: CallbackStatus) -> datetime | None:
        return earliest(
            [item.timestamp for item, _ in distinct.values() if item.call_status in said]
        )

    def ended_at() -> datetime | None:
        return earliest(
            [e.at for e in evidence if e.says != UNREAD and e.says is status]
            + [e.at for e in evidence if e.says == UNREAD and read(e.says) is status]
        )

    rang = first(CallbackStatus.RINGING)
    picked_up = first(CallbackStatus.IN_PROGRESS, CallbackStatus.ANSWERED)
    # Ring time: from the first ring to the answer, or to the end of a call
    # never answered; talk time: CallDuration, or from the answer to the end.
    ring_end = picked_up if answered else (ended_at() if status in FINAL else None)
    ring_time = None if rang is None or ring_end is None else ring_end - rang
    duration = max(durations) if durations else None
    if not answered:
        talk_time = None
    elif duration is not None:
        talk_time = timedelta(seconds=duration)
    else:
        end = ended_at() if status in FINAL else None
        talk_time = None if picked_up is None or end is None else end - picked_up
    return Reference(
        status=status,
        answered=answered,
        deliveries=len(distinct),
        duplicates=len(deliveries) - len(distinct),
        call_duration=duration,
        timeline=tuple(timeline),
        anomalies=tuple(anomalies),
        ring_time=ring_time,
        talk_time=talk_time,
    )


def assert_matches(state: CallState, expected: Reference) -> None:
    assert state.call_sid == SID
    assert state.status is expected.status
    assert state.answered is expected.answered
    assert state.deliveries == expected.deliveries
    assert state.duplicates == expected.duplicates
    assert state.call_duration == expected.call_duration
    assert state.timeline == expected.timeline
    assert state.anomalies == expected.anomalies
    assert state.ring_time == expected.ring_time
    assert state.talk_time == expected.talk_time
    assert state.final is (expected.status in FINAL)
    assert state.outcome_known is (expected.status in FINAL - {CallStatus.ENDED})
    for status in CallStatus:
        found = [e for e in expected.timeline if e.status is status]
        assert state.entry(status) == (found[0] if found else None)


# Deliveries of one call: every status, small SequenceNumbers (so they repeat
# and conflict) and some past 31, where the core keeps claims differently.
deliveries = cst.deliveries(SID) | cst.deliveries(SID, max_sequence=40)
resources = cst.call_resources(SID)
evidence = st.lists(
    st.tuples(st.just("delivery"), deliveries) | st.tuples(st.just("resource"), resources),
    min_size=1,
    max_size=9,
)


def as_arrivals(
    items: list[tuple[str, object]],
) -> tuple[
    list[tuple[str, object, datetime]],
    list[tuple[Delivery, datetime]],
    list[tuple[CallResource, datetime]],
]:
    arrivals = [(kind, value, T0 + timedelta(seconds=i)) for i, (kind, value) in enumerate(items)]
    ds = [(v, at) for kind, v, at in arrivals if kind == "delivery"]
    rs = [(v, at) for kind, v, at in arrivals if kind == "resource"]
    return arrivals, ds, rs


@given(st.data(), evidence, cst.dialects())
def test_a_book_derives_what_the_rules_say(data, items, dialect):
    # Copies arrive after the first of their kind: the model keeps the first.
    items = items + data.draw(st.lists(st.sampled_from(items), max_size=3))
    arrivals, ds, rs = as_arrivals(items)
    book = CallBook(Decider(dialect=dialect))
    for kind, value, at in arrivals:
        if kind == "delivery":
            book.record(value, at)
        else:
            book.handle(Reconcile(resource=value, observed_at=at))
    assert_matches(book.state(SID), reference(ds, rs, dialect))


@given(evidence, cst.dialects())
def test_a_decider_fold_derives_what_the_rules_say(items, dialect):
    arrivals, ds, rs = as_arrivals(items)
    decider = Decider(dialect=dialect)
    state = decider.initial_state(SID)
    log = []
    for kind, value, at in arrivals:
        if kind == "delivery":
            command: object = RecordDelivery(delivery=value, received_at=at)
        else:
            command = Reconcile(resource=value, observed_at=at)
        for event in decider.decide(command, state):
            state = decider.evolve(state, event)
            log.append(event)
    expected = reference(ds, rs, dialect)
    assert_matches(state, expected)
    assert_matches(decider.fold(log), expected)
    advanced, _ = decider.advance(decider.initial_state(), log)
    assert_matches(advanced, expected)


@pytest.mark.parametrize("sequence_number", [0, 30, 31, 32, 33, 2**31 - 1])
@pytest.mark.parametrize("said", [s for s in CallbackStatus if s not in LIVE])
@pytest.mark.parametrize("dialect", list(Dialect))
def test_the_first_end_of_a_call_at_any_sequence_number(sequence_number, said, dialect):
    """A final word on a live call, at SequenceNumbers around the core's small-number table."""
    ringing = Delivery(call_sid=SID, sequence_number=1, call_status="ringing", timestamp=T0)
    end = Delivery(
        call_sid=SID,
        sequence_number=sequence_number,
        call_status=said,
        timestamp=T0 + timedelta(seconds=20),
        call_duration=15,
    )
    book = CallBook(Decider(dialect=dialect))
    book.record(ringing, T0)
    book.record(end, T0 + timedelta(seconds=21))
    expected = reference([(ringing, T0), (end, T0 + timedelta(seconds=21))], [], dialect)
    assert_matches(book.state(SID), expected)
    # And the same end arriving first, before anything else.
    alone = CallBook(Decider(dialect=dialect))
    alone.record(end, T0)
    assert_matches(alone.state(SID), reference([(end, T0)], [], dialect))


def resource_events(resource: CallResource, at: datetime) -> list[ResourceObserved]:
    return [ResourceObserved(resource=resource, observed_at=at)]


def test_a_reconciled_completed_call_was_answered_and_its_end_time_is_on_the_timeline():
    end = T0 + timedelta(minutes=3)
    resource = CallResource(
        sid=SID, status="completed", end_time=end, date_updated=end, duration=170
    )
    state = Decider().fold(resource_events(resource, T0 + timedelta(minutes=5)), SID)
    assert state.status is CallStatus.COMPLETED
    assert state.answered
    assert state.call_duration == 170
    assert state.talk_time == timedelta(seconds=170)
    assert state.timeline == (
        TimelineEntry(status=CallStatus.COMPLETED, at=end, received_at=T0 + timedelta(minutes=5)),
    )


def test_a_bare_completed_has_an_ended_entry():
    completed = Delivery(call_sid=SID, sequence_number=3, call_status="completed", timestamp=T0)
    book = CallBook(Decider(dialect=Dialect.RESTCOMM))
    book.record(completed, T0 + timedelta(seconds=1))
    state = book.state(SID)
    assert state.status is CallStatus.ENDED
    assert state.timeline == (
        TimelineEntry(status=CallStatus.ENDED, at=T0, received_at=T0 + timedelta(seconds=1)),
    )


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed", "canceled"])
def test_ring_time_of_an_unanswered_call_runs_to_its_end(outcome):
    book = CallBook()
    book.record(Delivery(call_sid=SID, sequence_number=1, call_status="ringing", timestamp=T0))
    assert book.state(SID).ring_time is None  # rung, not over: no ring time yet
    book.record(
        Delivery(
            call_sid=SID,
            sequence_number=2,
            call_status=outcome,
            timestamp=T0 + timedelta(seconds=25),
        )
    )
    state = book.state(SID)
    assert state.ring_time == timedelta(seconds=25)
    assert state.talk_time is None


def test_talk_time_without_call_duration_runs_from_answer_to_end():
    book = CallBook(Decider(dialect=Dialect.TWILIO))
    book.record(Delivery(call_sid=SID, sequence_number=0, call_status="ringing", timestamp=T0))
    answer = T0 + timedelta(seconds=7)
    book.record(
        Delivery(call_sid=SID, sequence_number=1, call_status="in-progress", timestamp=answer)
    )
    assert book.state(SID).talk_time is None  # answered, not over
    assert book.state(SID).ring_time == timedelta(seconds=7)
    book.record(
        Delivery(
            call_sid=SID,
            sequence_number=2,
            call_status="completed",
            timestamp=answer + timedelta(seconds=90),
        )
    )
    assert book.state(SID).talk_time == timedelta(seconds=90)
