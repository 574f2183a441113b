"""Uses the public API as users do; ``mypy --strict`` must accept it as written.

Not a test module: ``tests/project/test_typing.py`` type-checks this file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callstate import (
    CallBook,
    CallState,
    CallStatus,
    Decider,
    Delivery,
    Dialect,
    Event,
    InvalidCallback,
    Outcome,
    Reconcile,
    RecordDelivery,
    Sink,
    StatusChange,
    parse_call_resource,
    parse_form,
)
from callstate.client import CallParams, Calls, CallsApi, Profile, record_placed_call
from callstate.client.urllib import UrllibTransport
from callstate.stores import MemoryStore, Runner, SQLiteStore
from callstate.testing import strategies
from callstate.web import Hooks, TwilioSignature, WebhookHandler, WebhookResponse


def fold(bodies: list[bytes]) -> dict[str, CallStatus]:
    book = CallBook(Decider(dialect=Dialect.TWILIO, max_call_length=timedelta(hours=1)))
    for body in bodies:
        try:
            delivery: Delivery = parse_form(body)
        except InvalidCallback as exc:
            print(exc.field, exc.reason)
            continue
        changes: tuple[StatusChange, ...] | None = book.record(delivery)
        if changes:
            print([change.status.value for change in changes])
    return {state.call_sid or "": state.status for state in book.states()}


def decide(delivery: Delivery) -> CallState:
    decider = Decider()
    state = decider.initial_state()
    events: tuple[Event, ...] = decider.decide(
        RecordDelivery(delivery=delivery, received_at=datetime.now(UTC)), state
    )
    for event in events:
        state = decider.evolve(state, event)
    return state


def reconcile(sink: Sink, payload: object) -> Outcome:
    return sink.handle(Reconcile(resource=parse_call_resource(payload), observed_at=None))


def receive(book: CallBook) -> WebhookResponse:
    hooks = Hooks()

    @hooks.on_answered
    def thank(state: CallState) -> None:
        print("answered", state.call_sid)

    handler = WebhookHandler(book, verifier=TwilioSignature(secrets=["t"]), hooks=hooks)
    return handler("POST", "https://app.example/cb", {}, b"", datetime.now(UTC))


def place(token: str) -> None:
    api = CallsApi(account_sid="AC1", token=token, profile=Profile.api19())
    runner = Runner(SQLiteStore("calls.sqlite"))
    with Calls(api, UrllibTransport(timeout=5)) as calls:
        legs = calls.create(CallParams(to="+15550001", from_="+15550002", url="https://a.example"))
        record_placed_call(runner, legs, placed_at=datetime.now(UTC))
    memory: Sink = Runner(MemoryStore())
    print(memory, strategies.lifecycles())
