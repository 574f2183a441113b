"""The fake provider plays true lifecycles, and its chaos is deterministic under a seed;
the call record joins the create answer and the callbacks, whichever comes first."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from callstate import CallBook, CallStatus, Decider, Reconcile, RecordDelivery, parse_callback
from callstate.client import CallParams, ModificationRefused, record_placed_call
from callstate.testing._fake_plan import steps_for
from callstate.testing.fake_provider import OUTCOMES, Chaos, FakeProvider
from callstate.web._signature import twilio_signature
from tests.client._client_harness import Webhook, api_for, make_calls


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook() as running:
        yield running


def params_to(url: str, **kwargs: Any) -> CallParams:
    return CallParams(
        to="+15550001111", from_="+15550002222", url="https://app.example/answer",
        status_callback=url, **kwargs,
    )  # fmt: skip


def urllib_calls(provider: FakeProvider) -> Any:
    return make_calls("urllib", api_for(provider.profile(), provider.account_sid, provider.token))


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_twilio_callbacks_tell_the_true_outcome(webhook, outcome):
    with FakeProvider(outcome=outcome, pace=0.002) as provider:
        (placed,) = urllib_calls(provider).create(params_to(webhook.url))
        assert provider.wait_idle()
    state = webhook.book.state(placed.sid)
    assert state.status is CallStatus(provider.true_outcome(placed.sid))
    assert state.answered is (outcome == "completed")
    assert state.deliveries == len(provider.sent())


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_restcomm_callbacks_leave_an_unanswered_outcome_to_the_fetch(webhook, outcome):
    with FakeProvider(outcome=outcome, pace=0.002, vocabulary="restcomm") as provider:
        calls = urllib_calls(provider)
        (placed,) = calls.create(params_to(webhook.url))
        assert provider.wait_idle()
        state = webhook.book.state(placed.sid)
        expected = CallStatus.COMPLETED if outcome == "completed" else CallStatus.ENDED
        assert state.status is expected
        assert [int(dict(s.params)["SequenceNumber"]) for s in provider.sent()] == sorted(
            {0, 1, 2, 3}
            - ({2} if outcome != "completed" else set())
            - ({1} if outcome == "failed" else set())
        )
        now = datetime.now(UTC)
        webhook.book.handle(Reconcile(resource=calls.fetch(placed.sid), observed_at=now))
    assert webhook.book.state(placed.sid).status is CallStatus(outcome)


def test_subscribed_events_only_and_get_replaces_the_query(webhook):
    with FakeProvider(outcome="completed", pace=None) as provider:
        calls = urllib_calls(provider)
        params = params_to(
            webhook.url, status_callback_event="ringing,completed", status_callback_method="GET"
        )
        (placed,) = calls.create(params)
        provider.finish(placed.sid)
        assert provider.wait_idle()
    assert [r[0] for r in webhook.received] == ["GET", "GET"]
    queries = [dict(parse_qsl(urlsplit(r[1]).query)) for r in webhook.received]
    assert [q["CallStatus"] for q in queries] == ["ringing", "completed"]
    assert all("token" not in q for q in queries)
    assert [q["SequenceNumber"] for q in queries] == ["0", "1"]


def test_voicemail_detection_is_reported_and_kept(webhook):
    with FakeProvider(outcome="completed", pace=None) as provider:
        (placed,) = urllib_calls(provider).create(params_to(webhook.url, detect_voicemail=True))
        provider.finish(placed.sid)
        assert provider.wait_idle()
        truth = provider.call(placed.sid).voicemail
    assert truth in ("voicemail", "person_found")
    reported = [parse_callback(raw).get("VoicemailDetector") for _, _, raw, _ in webhook.received]
    assert reported == [None, None, truth, truth]


@pytest.mark.parametrize("sign", [True, False])
def test_signatures_on_or_off(webhook, sign):
    with FakeProvider(outcome="busy", pace=None, chaos=Chaos(sign=sign)) as provider:
        (placed,) = urllib_calls(provider).create(params_to(webhook.url))
        provider.finish(placed.sid)
        assert provider.wait_idle()
        token = provider.token
    assert len(webhook.received) == 3
    for method, path, raw, headers in webhook.received:
        assert method == "POST"
        url = f"http://127.0.0.1:{webhook.server.server_address[1]}{path}"
        expected = twilio_signature(token, url, parse_qsl(raw.decode()))
        assert headers.get("X-Twilio-Signature") == (expected if sign else None)


CHAOS = Chaos(seed=11, duplicate=0.5, drop=0.2, reorder=0.7, max_delay=0.01, early=1.0)


def run_chaos(webhook: Webhook, chaos: Chaos, count: int) -> tuple[FakeProvider, list[str]]:
    with FakeProvider(pace=None, chaos=chaos) as provider:
        calls = urllib_calls(provider)
        sids = [calls.create(params_to(webhook.url))[0].sid for _ in range(count)]
        assert provider.wait_idle()
    return provider, sids


def test_chaos_is_deterministic_under_a_seed():
    def plan(chaos: Chaos) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
        with Webhook() as webhook:
            provider, _ = run_chaos(webhook, chaos, 6)
        return [
            (s.call_sid, tuple(p for p in s.params if p[0] != "Timestamp")) for s in provider.sent()
        ]

    first = plan(CHAOS)
    assert first == plan(CHAOS)
    assert first != plan(Chaos(seed=12, duplicate=0.5, drop=0.2, reorder=0.7, early=1.0))


def test_duplicates_are_counted_and_drops_never_invent_an_outcome(webhook):
    provider, sids = run_chaos(webhook, CHAOS, 12)
    sent = Counter((s.call_sid, dict(s.params)["SequenceNumber"]) for s in provider.sent())
    assert any(n > 1 for n in sent.values()), "the seed must duplicate something"
    planned = sum(len(steps_for(provider.true_outcome(sid))) for sid in sids)
    assert len(sent) < planned, "the seed must drop something"
    for sid in sids:
        state = webhook.book.state(sid) if sid in webhook.book else None
        copies = {seq: n for (s, seq), n in sent.items() if s == sid}
        if state is None:
            assert not copies
            continue
        assert state.deliveries == len(copies)
        assert state.duplicates == sum(copies.values()) - len(copies)
        if state.status.is_final:
            assert state.status is CallStatus(provider.true_outcome(sid))


def test_the_record_joins_callbacks_before_the_create_answer(webhook):
    chaos = Chaos(seed=5, duplicate=0.5, reorder=0.5, max_delay=0.01, early=1.0)
    with FakeProvider(pace=None, chaos=chaos) as provider:
        calls = urllib_calls(provider)
        placed = []
        for _ in range(8):
            placed_at = datetime.now(UTC)
            resources = calls.create(params_to(webhook.url, timeout=20))
            sid = resources[0].sid
            early = [s for s in provider.sent() if s.call_sid == sid]
            assert early, "the callbacks came before the answer"
            assert sid in webhook.book
            outcomes = record_placed_call(
                webhook.book, resources, placed_at=placed_at, answered_at=datetime.now(UTC)
            )
            assert [o.before.status for o in outcomes] == [o.after.status for o in outcomes]
            seen = provider.requests_seen
            with pytest.raises(ModificationRefused, match="already over"):
                calls.cancel(sid, known=webhook.book.state(sid))
            assert provider.requests_seen == seen
            placed.append((sid, resources, placed_at))
        assert provider.wait_idle()

    # The same evidence with the answer first gives the same record.
    ordered = CallBook(Decider())
    for _, resources, placed_at in placed:
        record_placed_call(ordered, resources, placed_at=placed_at)
    for _, _, raw, _ in webhook.received:
        ordered.handle(RecordDelivery(delivery=parse_callback(raw)))
    for sid, _, _ in placed:
        joined = webhook.book.state(sid)
        copies = [s for s in provider.sent() if s.call_sid == sid]
        assert joined.status is CallStatus(provider.true_outcome(sid))
        assert joined.deliveries + joined.duplicates == len(copies)
        again = ordered.state(sid)
        assert (again.status, again.answered, again.deliveries, again.duplicates) == (
            joined.status, joined.answered, joined.deliveries, joined.duplicates,
        )  # fmt: skip
    assert len(webhook.book) == len(placed)
