"""``GET /metrics`` of a real ``callstate serve`` process, read with prometheus_client's own parser.

The parser is the oracle: what Prometheus would scrape. Every count must
equal what the test sent; nothing a request carried (a CallSid, a number)
may appear in the text.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from prometheus_client.parser import text_string_to_metric_families

from callstate.serve import open_store
from callstate.serve._metrics import Metrics, refusal_reason
from callstate.stores import MemoryStore, Runner
from callstate.testing.fake_provider import Chaos, FakeProvider
from callstate.web._signature import twilio_signature
from tests.serve.test_reconcile import place, reconcile_env, state_of, wait_until
from tests.serve.test_reconcile import serving as serving_reconciled
from tests.serve.test_serve import TOKEN, callback, request, serving

NUMBER = "+15557654321"


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` (asked with no API key), by name and labels."""
    status, body = request(base + "/metrics")
    assert status == 200, body
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def one(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_count_what_was_sent_and_say_nothing_private(tmp_path):
    env = {"CALLSTATE_AUTH_TOKEN": TOKEN, "CALLSTATE_INSECURE_NO_SIGNATURES": ""}
    with serving(tmp_path, env=env) as (base, _):
        url = base + "/callbacks"

        def send(params: dict[str, str], token: str | None = TOKEN, body: bytes | None = None):
            headers = {}
            if token is not None:
                headers["X-Twilio-Signature"] = twilio_signature(token, url, params.items())
            return request(url, urlencode(params).encode() if body is None else body, headers)[0]

        sent = {"accepted": 0, "duplicate": 0}
        for n in range(5):  # five calls, each ringing
            assert send(callback(f"CAm{n}", "ringing", 1, From=NUMBER)) == 204
            sent["accepted"] += 1
        for n in range(2):  # two copies
            assert send(callback(f"CAm{n}", "ringing", 1, From=NUMBER)) == 204
            sent["duplicate"] += 1
        # Two finals that disagree, and a second SequenceNumber 1 that says otherwise.
        for params in (
            callback("CAm0", "completed", 2, CallDuration="5"),
            callback("CAm0", "busy", 3),
            callback("CAm1", "in-progress", 1),
        ):
            assert send(params) == 204
            sent["accepted"] += 1
        refused = {"bad_signature": 0, "bad_form": 0, "too_large": 0}
        for _ in range(3):
            assert send(callback("CAm1", "completed", 2), token="not-the-token") == 403
            refused["bad_signature"] += 1
        assert send(callback("CAm1", "completed", 2), token=None) == 403
        refused["bad_signature"] += 1
        for _ in range(2):
            assert send({"CallSid": "CAm2", "CallStatus": "ringing"}) == 400  # no SequenceNumber
            refused["bad_form"] += 1
        assert send(callback("CAm3", "busy", 2), body=b"x=" + b"y" * 20_000) == 400
        refused["too_large"] += 1

        samples = scrape(base)
        text = request(base + "/metrics")[1].decode()

    for result, count in {**sent, "refused": sum(refused.values()), "unavailable": 0}.items():
        assert one(samples, "callstate_callbacks_total", result=result) == count, result
    for reason, count in refused.items():
        assert one(samples, "callstate_callbacks_refused_total", reason=reason) == count, reason
    assert one(samples, "callstate_anomalies_total", kind="conflicting_final") == 1
    assert one(samples, "callstate_anomalies_total", kind="conflicting_delivery") == 1
    assert one(samples, "callstate_anomalies_total", kind="reconciliation_conflict") == 0
    writes = sent["accepted"] + sent["duplicate"]
    assert one(samples, "callstate_store_write_seconds_count") == writes
    assert one(samples, "callstate_store_write_seconds_bucket", le="+Inf") == writes
    assert 0 < one(samples, "callstate_store_write_seconds_sum") < 10 * writes
    calls = {
        labels[0][1]: value
        for (name, labels), value in samples.items()
        if name == "callstate_calls"
    }
    assert (calls["ringing"], calls["in-progress"], calls["busy"]) == (3, 1, 1)
    assert sum(calls.values()) == 5
    # Nothing private: no CallSid, no number, in names or labels.
    assert "CAm" not in text and NUMBER not in text and "5557654321" not in text


def test_metrics_is_open_and_the_reads_stay_closed(tmp_path):
    with serving(tmp_path) as (base, _):
        assert request(base + "/metrics")[0] == 200
        assert request(base + "/calls")[0] == 401


def test_reconciliations_are_counted_by_outcome(tmp_path):
    store = str(tmp_path / "calls.sqlite")
    log = tmp_path / "serve.log"
    with (
        FakeProvider(chaos=Chaos(seed=3, drop=1.0), pace=0.005) as provider,
        serving_reconciled(store, log, reconcile_env(provider)) as base,
    ):
        event_store = open_store(store)
        try:
            sids = place(provider, Runner(event_store), 3, f"{base}/callbacks")
        finally:
            event_store.close()
        truth = {sid: provider.true_outcome(sid) for sid in sids}
        wait_until(
            lambda: all(state_of(base, sid)["status"] == truth[sid] for sid in sids),
            60,
            "every call reconciled",
        )
        time.sleep(0.5)  # the pass that reconciled them has added up its totals
        samples = scrape(base)
    fetched = len(provider.fetches())
    reconciled = one(samples, "callstate_reconciliations_total", outcome="reconciled")
    assert reconciled == fetched >= len(sids)
    assert one(samples, "callstate_reconciliations_total", outcome="failed") == 0
    assert one(samples, "callstate_reconciliation_passes_total") >= 1


def test_refusal_reasons_are_a_fixed_set():
    assert refusal_reason(400, b"body: is larger than 16384 bytes") == "too_large"
    assert refusal_reason(400, b"SequenceNumber: is required") == "bad_form"
    assert refusal_reason(400, b"body: ended before its Content-Length") == "body_unreadable"
    assert refusal_reason(401, b"") == "no_credentials"
    assert refusal_reason(403, b"X-Twilio-Signature: does not match") == "bad_signature"
    assert refusal_reason(405, b"") == "bad_method"
    assert refusal_reason(418, b"CA123 +15550100") == "other"


def test_each_app_has_its_own_registry():
    first, second = Metrics(MemoryStore()), Metrics(MemoryStore())
    first.count(204, "accepted", b"")
    assert first.callbacks.labels("accepted")._value.get() == 1
    assert second.callbacks.labels("accepted")._value.get() == 0
    assert json.dumps(sorted(first.registry._names_to_collectors)) != "[]"
