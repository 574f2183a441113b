"""The webhook handler over real stores: stored means answered 2xx, down means 503."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from callstate import DeliveryAccepted
from callstate.stores import Runner, SQLiteStore
from callstate.web import Unverified, WebhookHandler
from tests.stores._store_fixtures import fresh_postgres_store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
URL = "https://app.example/callbacks"


def body(sid: str, status: str, seq: int) -> bytes:
    return urlencode({"CallSid": sid, "CallStatus": status, "SequenceNumber": str(seq)}).encode()


def test_sqlite_down_is_a_503_and_nothing_answered_2xx_is_lost(tmp_path):
    path = tmp_path / "calls.sqlite"
    store = SQLiteStore(path)
    handler = WebhookHandler(Runner(store), verifier=Unverified())
    assert handler("POST", URL, {}, body("CA1", "ringing", 1), NOW).status == 204
    duplicate = handler("POST", URL, {}, body("CA1", "ringing", 1), NOW)
    assert duplicate.headers == (("Callstate-Result", "duplicate"),)
    store.close()  # the database goes away
    down = handler("POST", URL, {}, body("CA1", "busy", 3), NOW)
    assert down.status == 503
    with SQLiteStore(path) as reopened:
        again = WebhookHandler(Runner(reopened), verifier=Unverified())
        assert again("POST", URL, {}, body("CA1", "busy", 3), NOW).status == 204
        events = [item.event for item in reopened.load("CA1")]
    accepted = [e.delivery.call_status.value for e in events if isinstance(e, DeliveryAccepted)]
    assert accepted == ["ringing", "busy"]


def test_postgres_store_behind_the_handler():
    with fresh_postgres_store() as store:
        handler = WebhookHandler(Runner(store), verifier=Unverified())
        for status, seq in (("completed", 3), ("ringing", 1), ("completed", 3)):
            assert handler("POST", URL, {}, body("CA2", status, seq), NOW).status == 204
        state = Runner(store).state("CA2")
        assert (state.status.value, state.deliveries, state.duplicates) == ("ended", 2, 1)
