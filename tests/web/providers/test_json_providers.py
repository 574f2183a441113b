"""Telnyx Call Control, Vonage and Bandwidth: JSON events with no sequence number, ordered by
the status's rank (callstate.providers.ranked_sequence), each through the provider contract."""

from __future__ import annotations

import base64
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate import CallBook, CallStatus, Decider, Dialect, RecordDelivery
from callstate.providers import get, ranked_sequence
from callstate.testing.provider_contract import (
    ProviderContract,
    ProviderRequest,
    Story,
    delivery_of,
    prepared,
    replay,
)
from callstate.web import BasicAuth, WebhookResponse
from tests.web.providers._stories import (
    ED25519_PUBLIC,
    Event,
    expected,
    fixture,
    fixture_requests,
    iso,
    lifecycles,
    stories,
    telnyx_signed,
    vonage_signed,
)

# Telnyx Call Control.

TELNYX_CAUSE = {
    "completed": "normal_clearing",
    "busy": "user_busy",
    "no-answer": "timeout",
    "failed": "not_found",
    "canceled": "originator_cancel",
}
TELNYX_EVENT = {"initiated": "call.initiated", "in-progress": "call.answered"}


def _telnyx(sid: str, event: Event) -> ProviderRequest | None:
    status, t, _ = event
    payload: dict[str, object] = {"call_control_id": sid, "state": status}
    if status in TELNYX_CAUSE:
        kind = "call.hangup"
        payload["hangup_cause"] = TELNYX_CAUSE[status]
    else:
        kind = TELNYX_EVENT.get(status, "call.initiated")
    return ProviderRequest.json(
        {
            "data": {
                "record_type": "event",
                "event_type": kind,
                "id": str(uuid.UUID(int=hash((sid, status, t)) % 2**128)),
                "occurred_at": iso(t, micro=True),
                "payload": payload,
            }
        }
    )


class TestTelnyx(ProviderContract):
    provider = get("telnyx")

    def samples(self):
        return fixture_requests("telnyx_call_control")

    def refusals(self):
        hangup = fixture("telnyx_call_control")[2]["body"]
        return [
            (ProviderRequest.json({"meta": {}}), "data"),
            (ProviderRequest.json({"data": {"event_type": "call.hangup"}}), "data.payload"),
            (
                ProviderRequest.json({"data": {"event_type": "call.unheard_of", "payload": {}}}),
                "data.event_type",
            ),
            (
                ProviderRequest.json({"data": {**hangup["data"], "payload": {"state": "hangup"}}}),
                "data.payload.call_control_id",
            ),
            (
                ProviderRequest.json(
                    {"data": {**hangup["data"], "payload": {"call_control_id": "v3:a b"}}}
                ),
                "data.payload.call_control_id",
            ),
            (
                ProviderRequest.json({"data": {**hangup["data"], "occurred_at": "soon"}}),
                "data.occurred_at",
            ),
            (ProviderRequest.form("data=x"), "data"),
        ]

    def signed(self):
        return [ED25519_PUBLIC], telnyx_signed(fixture_requests("telnyx_call_control")[3])

    def stories(self):
        return stories(
            _telnyx,
            st.just("v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"),
            completed_alone="ended",  # call.hangup carries no duration: unanswered, it ended
        )


def test_telnyx_hangup_keeps_its_cause_and_reads_it():
    initiated, answered, hangup, signed = (
        delivery_of(get("telnyx"), r) for r in fixture_requests("telnyx_call_control")
    )
    assert hangup.call_status.value == "busy"  # call_rejected
    assert hangup.get("hangup_cause") == "call_rejected"
    assert hangup.get("sip_hangup_cause") == "603"
    assert hangup.get("id") == "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"
    assert hangup.get("event_type") == "call.hangup"
    # The example reuses call.initiated's event id: a different status, so another event.
    assert initiated.sequence_number != hangup.sequence_number
    # The same event, abridged and sent as exact bytes: the same key and content.
    assert (signed.key, signed.content) == (hangup.key, hangup.content)
    state = replay([hangup, answered, initiated, signed])
    assert state.status is CallStatus.BUSY
    assert state.duplicates == 1


@pytest.mark.parametrize(
    ("cause", "answered", "status"),
    [
        ("normal_clearing", True, "completed"),
        ("normal_clearing", False, "ended"),
        ("unspecified", False, "ended"),
        ("a_cause_nobody_listed", True, "completed"),
        ("user_busy", False, "busy"),
        ("timeout", False, "no-answer"),
        ("no_answer", False, "no-answer"),
        ("originator_cancel", False, "canceled"),
        ("not_found", False, "failed"),
    ],
)
def test_telnyx_hangup_causes(cause, answered, status):
    sid = "v3:abc"
    told = [_telnyx(sid, ("initiated", 0, 0))]
    if answered:
        told.append(_telnyx(sid, ("in-progress", 1, 1)))
    hangup = _telnyx(sid, ("completed", 5, 2))
    document = hangup.body.replace(b"normal_clearing", cause.encode())
    told.append(hangup.with_body(document))
    state = replay([delivery_of(get("telnyx"), r) for r in told])
    assert state.status.value == status


# Vonage.

VONAGE_SAID = {
    "initiated": "started",
    "ringing": "ringing",
    "in-progress": "answered",
    "completed": "completed",
    "canceled": "cancelled",
    "failed": "rejected",
}


def _vonage(sid: str, event: Event) -> ProviderRequest:
    status, t, _ = event
    said = VONAGE_SAID.get(status, status)
    if status == "no-answer":
        said = "unanswered" if t % 2 else "timeout"
    body: dict[str, object] = {
        "uuid": sid,
        "conversation_uuid": "CON-" + sid,
        "status": said,
        "direction": "outbound",
        "timestamp": iso(t),
    }
    if status == "completed":
        body["duration"] = str(30 + t)
    return ProviderRequest.json(body)


@st.composite
def vonage_stories(draw: st.DrawFn) -> Story:
    """Vonage's calls: a failed call sends its failure *and* completed (order: either).

    Its completed carries a duration, but Vonage pins RESTCOMM: with no answered
    before it, the call ended, the outcome unknown."""
    sid = draw(st.uuids()).hex
    events = draw(lifecycles())
    out = [_vonage(sid, event) for event in events]
    status, t, _ = events[-1]
    if status != "completed":
        out.append(
            ProviderRequest.json(
                {"uuid": sid, "status": "completed", "timestamp": iso(t + draw(st.integers(0, 2)))}
            )
        )
    end, answered = expected(events, completed_alone="ended")
    return Story(requests=out, status=end, answered=answered)


class TestVonage(ProviderContract):
    provider = get("vonage")

    def samples(self):
        return fixture_requests("vonage")

    def refusals(self):
        return [
            (ProviderRequest.json({"status": "ringing"}), "uuid"),
            (ProviderRequest.json({"status": "ringing", "uuid": "a/b"}), "uuid"),
            (ProviderRequest.json({"uuid": "u1"}), "status"),
            (ProviderRequest.json({"uuid": "u1", "status": "record"}), "status"),
            (
                ProviderRequest.json({"uuid": "u1", "status": "ringing", "timestamp": "now"}),
                "timestamp",
            ),
            (
                ProviderRequest.json({"uuid": "u1", "status": "completed", "duration": "2.5"}),
                "duration",
            ),
        ]

    def stories(self):
        return vonage_stories()

    def signed(self):
        secret = "qwertyuiopasdfghjklzxcvbnm123456"
        return [secret], vonage_signed(fixture_requests("vonage")[4], secret)


FAILURES = {
    "busy": CallStatus.BUSY,
    "cancelled": CallStatus.CANCELED,
    "unanswered": CallStatus.NO_ANSWER,
    "timeout": CallStatus.NO_ANSWER,
    "rejected": CallStatus.FAILED,
    "failed": CallStatus.FAILED,
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@given(data=st.data(), duration=st.sampled_from([None, "0", "7"]))
def test_vonage_failure_and_completed_in_either_order_converge_to_the_failure(
    failure, data, duration
):
    """Whatever the order, the copies and completed's duration, the call ends in the
    failure, not answered, and no change on the way passes through in-progress: decided,
    as serve decides it, in the vocabulary Vonage pins (RESTCOMM: under Twilio's, or AUTO
    with a duration, completed would mean answered)."""
    vocabulary = get("vonage").vocabulary
    assert vocabulary is Dialect.RESTCOMM
    sid = data.draw(st.uuids()).hex
    end = "2020-01-01T12:00:20.000Z"
    said = [
        {"uuid": sid, "status": "started", "timestamp": "2020-01-01T12:00:00.000Z"},
        {"uuid": sid, "status": "ringing", "timestamp": "2020-01-01T12:00:00.000Z"},
        {"uuid": sid, "status": failure, "timestamp": end},
        {"uuid": sid, "status": "completed", "timestamp": end, "duration": duration},
    ]
    told = [delivery_of(get("vonage"), ProviderRequest.json(d)) for d in said]
    copies = data.draw(st.lists(st.sampled_from(told), max_size=3))
    book = CallBook(Decider(dialect=vocabulary))
    passed = []
    for item in data.draw(st.permutations(told + copies)):
        passed += [change.status for change in book.handle(RecordDelivery(delivery=item)).changes]
    state = book.state(sid)
    assert state.status is FAILURES[failure]
    assert not state.answered
    assert CallStatus.IN_PROGRESS not in passed, passed
    assert state.anomalies == ()


@pytest.mark.parametrize("name", ["vonage", "telnyx", "bandwidth"])
@pytest.mark.parametrize("chosen", list(Dialect))
def test_a_pinned_vocabulary_wins_over_the_one_chosen(name, chosen):
    provider = get(name)
    assert provider.vocabulary is not None
    assert provider.vocabulary_or(chosen) is provider.vocabulary
    assert get("signalwire").vocabulary_or(chosen) is chosen


def test_two_events_of_one_status_at_two_times_are_two_events_not_a_conflict():
    sid = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
    told = [
        {"uuid": sid, "status": "ringing", "timestamp": "2020-01-01T12:00:00.000Z"},
        {"uuid": sid, "status": "ringing", "timestamp": "2020-01-01T12:00:03.000Z"},
    ]
    state = replay([delivery_of(get("vonage"), ProviderRequest.json(d)) for d in told])
    assert (state.deliveries, state.duplicates, state.anomalies) == (2, 0, ())


def test_vonage_ringing_before_started_with_one_timestamp():
    """Vonage's own log: ringing printed before started, the same timestamp."""
    ringing, started, *_ = (delivery_of(get("vonage"), r) for r in fixture_requests("vonage"))
    assert ringing.timestamp == started.timestamp
    state = replay([ringing, started])
    assert state.status is CallStatus.RINGING
    assert state.anomalies == ()


def test_vonage_completed_alone_keeps_its_duration_and_is_answered():
    completed = delivery_of(get("vonage"), fixture_requests("vonage")[3])
    assert completed.call_duration == 2
    assert replay([completed]).status is CallStatus.COMPLETED


# Bandwidth.

BANDWIDTH_CAUSE = {
    "busy": "busy",
    "no-answer": "timeout",
    "canceled": "cancel",
    "failed": "error",
    "completed": "hangup",
}


def _bandwidth(sid: str, event: Event) -> ProviderRequest:
    status, t, _ = event
    body: dict[str, object] = {"callId": sid, "accountId": "55555555", "eventTime": iso(t)}
    if status in BANDWIDTH_CAUSE:
        body["eventType"] = "disconnect"
        body["cause"] = BANDWIDTH_CAUSE[status]
        body["endTime"] = iso(t)
        if status == "completed":
            body["answerTime"] = iso(t - 30)  # answered 30 s before: a duration, so answered
    elif status == "in-progress":
        body["eventType"] = "answer"
        body["answerTime"] = iso(t)
    else:
        body["eventType"] = "initiate"
    return ProviderRequest.json(body)


AUTH = ("Authorization", "Basic " + base64.b64encode(b"bandwidth:s3cret").decode())


class TestBandwidth(ProviderContract):
    provider = get("bandwidth")

    def samples(self):
        return fixture_requests("bandwidth")

    def refusals(self):
        return [
            (ProviderRequest.json({"callId": "c-1"}), "eventType"),
            (ProviderRequest.json({"callId": "c-1", "eventType": "ringing"}), "eventType"),
            (ProviderRequest.json({"eventType": "answer"}), "callId"),
            (ProviderRequest.json({"eventType": "answer", "callId": "c 1"}), "callId"),
            (
                ProviderRequest.json({"eventType": "answer", "callId": "c-1", "accountId": 7}),
                "accountId",
            ),
            (
                ProviderRequest.json({"eventType": "answer", "callId": "c-1", "eventTime": "x"}),
                "eventTime",
            ),
        ]

    def stories(self):
        return stories(_bandwidth, st.just("c-95ac8d6e-1a31c52e-b38f-4198-93c1-51633ec68f8d"))


def test_bandwidth_is_checked_by_its_basic_auth_credentials():
    """Bandwidth signs nothing: it sends the credentials you configured (BasicAuth)."""
    assert get("bandwidth").verifier is None
    verifier = BasicAuth(credentials={"bandwidth": "s3cret"})
    good = ProviderRequest.json(fixture("bandwidth")[2]["body"], AUTH)
    command = prepared(get("bandwidth"), good, verifier)
    assert isinstance(command, RecordDelivery)
    wrong = ("Authorization", "Basic " + base64.b64encode(b"bandwidth:guess").decode())
    for bad in (good.without_header("Authorization"), ProviderRequest.json({}, wrong)):
        answer = prepared(get("bandwidth"), bad, verifier)
        assert isinstance(answer, WebhookResponse) and answer.status in (401, 403)


def test_bandwidth_disconnect_keeps_its_cause():
    disconnect = delivery_of(get("bandwidth"), fixture_requests("bandwidth")[2])
    assert disconnect.call_status.value == "busy"
    assert disconnect.get("cause") == "busy"
    assert disconnect.get("errorMessage") == "Callee is busy"
    assert disconnect.account_sid == "55555555"


@pytest.mark.parametrize(
    ("cause", "status"),
    [
        ("hangup", "completed"),
        ("rejected", "busy"),
        ("invalid-bxml", "failed"),
        ("new-one", "failed"),
    ],
)
def test_bandwidth_causes(cause, status):
    told = [
        _bandwidth("c-1", ("in-progress", 10, 0)),
        ProviderRequest.json(
            {
                "eventType": "disconnect",
                "callId": "c-1",
                "eventTime": iso(50),
                "cause": cause,
                "answerTime": iso(10),
                "endTime": iso(50),
            }
        ),
    ]
    deliveries = [delivery_of(get("bandwidth"), r) for r in told]
    assert deliveries[1].call_duration == 40
    assert replay(deliveries).status.value == status


def test_the_rank_orders_a_failure_above_completed_whatever_the_identity():
    for identity in ("", "a", "2020-01-01T12:00:00.000Z", "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"):
        completed = ranked_sequence(CallStatus.COMPLETED, identity)  # type: ignore[arg-type]
        for failure in ("busy", "failed", "no-answer", "canceled"):
            assert ranked_sequence(failure, "zzz") > completed  # type: ignore[arg-type]
