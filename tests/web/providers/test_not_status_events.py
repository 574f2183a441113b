"""A provider's other events, posted to the same URL as its status events, are no status events:
answered 204 ``Callstate-Result: ignored``, nothing stored, no hook run. An event type the
provider does not document is still refused (400), naming the field that says it."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate import CallBook, CallStatus, NotAStatusEvent
from callstate.providers import get
from callstate.providers._bandwidth import OTHER_EVENTS as BANDWIDTH_OTHERS
from callstate.providers._telnyx import OTHER_EVENTS as TELNYX_OTHERS
from callstate.providers._vonage import OTHER_EVENTS as VONAGE_OTHERS
from callstate.providers._vonage import OTHER_STATUSES as VONAGE_OTHER_STATUSES
from callstate.testing.provider_contract import URL, ProviderRequest
from callstate.web import RESULT_HEADER, AsyncWebhookHandler, Hooks, Unverified, WebhookHandler
from tests.web.providers._stories import fixture

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _telnyx(event_type: str) -> ProviderRequest:
    document = copy.deepcopy(fixture("telnyx_call_control")[2]["body"])
    document["data"]["event_type"] = event_type
    return ProviderRequest.json(document)


def _vonage(**fields: object) -> ProviderRequest:
    document = {
        "uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        "conversation_uuid": "CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        "timestamp": "2020-01-01T12:00:00.000Z",
        **fields,
    }
    return ProviderRequest.json({k: v for k, v in document.items() if v is not None})


def _bandwidth(event_type: str) -> ProviderRequest:
    document = dict(fixture("bandwidth")[1]["body"])
    document["eventType"] = event_type
    return ProviderRequest.json(document)


#: (provider, request): the events each provider documents beside its status events.
TELNYX_NAMED = [
    "call.bridged",
    "call.playback.started",
    "call.playback.ended",
    "call.dtmf.received",
    "call.machine.detection.ended",
    "call.machine.greeting.ended",
    "call.machine.premium.detection.ended",
    "call.speak.ended",
    "call.recording.saved",
    "call.gather.ended",
    "conference.participant.joined",
]
OTHERS = [
    *(("telnyx", _telnyx(name)) for name in TELNYX_NAMED),
    *(("telnyx", _telnyx(name + "x" if name.endswith(".") else name)) for name in TELNYX_OTHERS),
    *(("vonage", _vonage(**{marker: "x"})) for marker in VONAGE_OTHERS),
    *(("vonage", _vonage(status=status)) for status in sorted(VONAGE_OTHER_STATUSES)),
    ("vonage", _vonage(recording_url="https://api.nexmo.com/v1/files/b", size=12222)),
    ("vonage", _vonage(dtmf="42", timed_out=True)),
    ("vonage", _vonage(speech={"results": []})),
    ("vonage", _vonage(conversation_uuid_from="CON-1", conversation_uuid_to="CON-2")),
    ("vonage", _vonage(uuid=None, reason="Syntax error in NCCO. Invalid value type or action.")),
    *(("bandwidth", _bandwidth(name)) for name in sorted(BANDWIDTH_OTHERS)),
]


def _answer(provider: str, request: ProviderRequest, book: CallBook, hooks: Hooks | None = None):
    handler = WebhookHandler(
        book, verifier=Unverified(), dialect=get(provider).dialect, hooks=hooks
    )
    return handler(request.method, request.url, request.headers, request.body, AT)


@pytest.mark.parametrize(("provider", "request_"), OTHERS)
def test_a_providers_other_events_are_answered_204_ignored_and_stored_nowhere(provider, request_):
    book = CallBook()
    seen: list[object] = []
    hooks = Hooks()
    for status in CallStatus:
        hooks.on_status(status)(seen.append)
    hooks.on_anomaly(seen.append)
    answer = _answer(provider, request_, book, hooks)
    assert (answer.status, answer.body) == (204, b""), answer
    assert answer.headers == ((RESULT_HEADER, "ignored"),)
    assert len(book) == 0 and seen == []


@pytest.mark.parametrize(("provider", "request_"), OTHERS[:3] + OTHERS[-3:])
def test_the_async_handler_ignores_them_as_well(provider, request_):
    book = CallBook()
    handler = AsyncWebhookHandler(book, verifier=Unverified(), dialect=get(provider).dialect)
    answer = asyncio.run(
        handler(request_.method, request_.url, request_.headers, request_.body, AT)
    )
    assert (answer.status, answer.headers) == (204, ((RESULT_HEADER, "ignored"),))
    assert len(book) == 0


def test_the_dialect_says_which_field_named_the_event():
    document = copy.deepcopy(fixture("telnyx_call_control")[2]["body"])
    document["data"]["event_type"] = "call.bridged"
    with pytest.raises(NotAStatusEvent) as raised:
        get("telnyx").dialect.read(document)  # type: ignore[attr-defined]
    assert (raised.value.field, raised.value.event) == ("data.event_type", "call.bridged")
    assert str(raised.value) == "data.event_type: 'call.bridged' is not a call status event"


UNDOCUMENTED = [
    ("telnyx", _telnyx("call.ringing"), "data.event_type"),
    ("telnyx", _telnyx("call.bridgedx"), "data.event_type"),
    ("telnyx", _telnyx("call.hangup.v2"), "data.event_type"),
    ("telnyx", _telnyx("calls.playback.ended"), "data.event_type"),
    ("vonage", _vonage(status="record"), "status"),
    ("vonage", _vonage(status="humane"), "status"),
    ("vonage", _vonage(), "status"),
    ("vonage", _vonage(status=""), "status"),
    ("bandwidth", _bandwidth("ringing"), "eventType"),
    ("bandwidth", _bandwidth("Gather"), "eventType"),
]


@pytest.mark.parametrize(("provider", "request_", "field"), UNDOCUMENTED)
def test_an_event_type_the_provider_does_not_document_is_refused_naming_its_field(
    provider, request_, field
):
    book = CallBook()
    answer = _answer(provider, request_, book)
    assert answer.status == 400, answer
    assert answer.body.decode().startswith(f"{field}: "), answer.body
    assert len(book) == 0


@given(suffix=st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=12))
def test_telnyx_families_are_ignored_whatever_follows_and_statuses_never(suffix):
    """A family (``call.playback.``) takes any member; a status event is never ignored."""
    for family in (f for f in TELNYX_OTHERS if f.endswith(".")):
        answer = _answer("telnyx", _telnyx(family + suffix), CallBook())
        assert answer.headers == ((RESULT_HEADER, "ignored"),), family
    for status in ("call.initiated", "call.answered", "call.hangup"):
        answer = _answer("telnyx", _telnyx(status), CallBook())
        assert answer.headers == ((RESULT_HEADER, "accepted"),), status


def test_a_telnyx_dialect_subclass_may_ignore_more():
    from callstate.providers import TelnyxDialect

    class Wider(TelnyxDialect):
        __slots__ = ()
        other_events = (*TelnyxDialect.other_events, "call.new_thing")

    handler = WebhookHandler(CallBook(), verifier=Unverified(), dialect=Wider())
    request = _telnyx("call.new_thing")
    answer = handler(request.method, URL, request.headers, request.body, AT)
    assert answer.headers == ((RESULT_HEADER, "ignored"),)
    assert _answer("telnyx", request, CallBook()).status == 400


def test_a_null_marker_is_an_absent_field_not_another_event():
    """``{"dtmf": null}`` marks no input event (a null is an absent field): no status, a 400."""
    request = ProviderRequest.json({"uuid": "aaaa01", "dtmf": None, "recording_url": None})
    answer = _answer("vonage", request, CallBook())
    assert (answer.status, answer.body) == (400, b"status: is missing\n")
