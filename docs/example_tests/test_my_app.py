"""An example of a user's own test suite, using callstate's testing kit.

The app under test answers status callbacks through callstate and sends a
thank-you note when a call is answered. The kit's fixtures and strategies
prove it sends exactly one note per answered call, however the network
repeats, reorders or loses the callbacks.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from callstate import CallBook, CallState, CallStatus, Dialect
from callstate.testing import sign_webhook
from callstate.testing import strategies as cst
from callstate.web import TwilioSignature, WebhookHandler

TOKEN = "my-auth-token"
URL = "https://app.example/callbacks"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def my_app(book: CallBook, notes: list[str]) -> WebhookHandler:
    """The app: checks signatures, records callbacks, thanks answered callees once."""
    handler = WebhookHandler(book, verifier=TwilioSignature(secrets=[TOKEN]))

    @handler.hooks.on_answered
    def thank(state: CallState) -> None:
        notes.append(state.call_sid or "?")

    return handler


def test_a_signed_callback_is_recorded_and_thanked(callstate_book, signed_webhook):
    notes: list[str] = []
    request = signed_webhook(
        URL, {"CallSid": "CA1", "CallStatus": "in-progress", "SequenceNumber": "2"}, TOKEN
    )
    answer = my_app(callstate_book, notes)(
        request.method, request.url, dict(request.headers), request.body, NOW
    )
    assert answer.status == 204
    assert callstate_book.state("CA1").status is CallStatus.IN_PROGRESS
    assert notes == ["CA1"]


def test_an_unsigned_callback_is_refused(callstate_book):
    answer = my_app(callstate_book, [])("POST", URL, {}, b"CallSid=CA1", NOW)
    assert answer.status == 403
    assert "CA1" not in callstate_book


@given(st.data(), cst.lifecycles(dialect=Dialect.TWILIO))
def test_one_note_per_answered_call_whatever_the_network_does(data, life):
    notes: list[str] = []
    app = my_app(CallBook(), notes)
    arrived = data.draw(cst.chaotic(life.deliveries, drops=data.draw(st.booleans())))
    for delivery in arrived:
        request = sign_webhook(URL, list(delivery.params), TOKEN)
        assert app(request.method, URL, dict(request.headers), request.body, NOW).status == 204
    # Twilio style: "in-progress", or "completed" (answered, then ended), says answered.
    told = any(d.call_status.value in ("in-progress", "completed") for d in arrived)
    assert notes == ([life.call_sid] if told else [])


def test_the_fake_provider_is_there(fake_provider, callstate_runner, callstate_store):
    assert fake_provider.url.startswith("http://127.0.0.1:")
    assert callstate_runner.get("CAnothing") is None
    assert callstate_runner.store is callstate_store
