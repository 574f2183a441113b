"""The Twilio-shaped family: twilio (and api19, restcomm: today's parsing, unchanged),
SignalWire and Telnyx TeXML, each through the provider contract and its own quirks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate import CallBook, CallStatus, RecordDelivery, parse_form
from callstate.providers import TwilioDialect, get
from callstate.testing import sign_webhook
from callstate.testing import strategies as cst
from callstate.testing.provider_contract import (
    URL,
    ProviderContract,
    ProviderRequest,
    delivery_of,
    replay,
)
from callstate.web import Unverified, WebhookHandler, WebhookResponse
from tests.web.providers._stories import (
    ED25519_PUBLIC,
    Event,
    fixture,
    fixture_requests,
    form,
    iso,
    rfc2822,
    stories,
    telnyx_signed,
)

T = datetime(2026, 12, 6, tzinfo=UTC)
TWILIO_SID = "CA" + "1" * 32


def _twilio(sid: str, event: Event) -> ProviderRequest:
    status, t, position = event
    return ProviderRequest.form(
        form(
            CallSid=sid,
            AccountSid="AC" + "0" * 32,
            CallStatus=status,
            SequenceNumber=position,
            Timestamp=rfc2822(t),
            CallDuration=30 if status == "completed" else None,
        )
    )


class TestTwilio(ProviderContract):
    provider = get("twilio")

    def samples(self):
        return [_twilio(TWILIO_SID, ("ringing", 1, 1)), _twilio(TWILIO_SID, ("completed", 9, 3))]

    def refusals(self):
        return [
            (ProviderRequest.form("CallStatus=ringing&SequenceNumber=1"), "CallSid"),
            (ProviderRequest.form(f"CallSid={TWILIO_SID}&SequenceNumber=1"), "CallStatus"),
            (ProviderRequest.form(f"CallSid={TWILIO_SID}&CallStatus=ringing"), "SequenceNumber"),
            (
                ProviderRequest.form(f"CallSid={TWILIO_SID}&CallStatus=sleeping&SequenceNumber=1"),
                "CallStatus",
            ),
        ]

    def stories(self):
        return stories(_twilio, st.just(TWILIO_SID))

    def signed(self):
        hook = sign_webhook(
            URL, {"CallSid": TWILIO_SID, "CallStatus": "busy", "SequenceNumber": "3"}, "tok"
        )
        return ["tok"], ProviderRequest(body=hook.body, url=hook.url, headers=hook.headers)


class TestApi19(TestTwilio):
    provider = get("api19")

    def signed(self):
        return None  # the Restcomm family signs nothing (Basic auth: test_verifiers)


class TestRestcomm(TestApi19):
    provider = get("restcomm")


@given(cst.form_bodies())
def test_the_default_dialect_parses_as_the_handler_always_did(body):
    """The handler's default is the Twilio family's parsing, unchanged (parse_form's answer)."""
    default = WebhookHandler(CallBook(), verifier=Unverified())
    told = WebhookHandler(CallBook(), verifier=Unverified(), dialect=get("twilio").dialect)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    one = default.prepare("POST", URL, headers, body, T)
    two = told.prepare("POST", URL, headers, body, T)
    assert one == two
    try:
        expected = parse_form(body)
    except ValueError:
        assert isinstance(one, WebhookResponse) and one.status == 400
    else:
        assert isinstance(one, RecordDelivery) and one.delivery == expected


def test_the_default_dialect_is_the_twilio_one():
    handler = WebhookHandler(CallBook(), verifier=Unverified())
    assert isinstance(handler.dialect, TwilioDialect)
    assert handler.dialect is get("twilio").dialect is get("api19").dialect


# SignalWire.

SW_SID = "b3877c40-da60-4998-90ad-b792e98472ca"


def _signalwire(sid: str, event: Event) -> ProviderRequest:
    status, t, position = event
    return ProviderRequest.form(
        form(
            AccountSid="b3877c40-da60-4998-90ad-b792e98472af",
            CallSid=sid,
            CallStatus="answered" if status == "in-progress" and t % 2 else status,
            SequenceNumber=position,
            Timestamp=rfc2822(t),
            CallDuration=94 if status == "completed" else None,
        )
    )


class TestSignalWire(ProviderContract):
    provider = get("signalwire")

    def samples(self):
        # The last entry is Twilio's signature vector (VECTOR_B), no status callback:
        # test_the_signalwire_signature_vector_is_no_callback.
        return fixture_requests("signalwire")[:3]

    def refusals(self):
        return [(fixture_requests("signalwire")[3], "CallStatus")]

    def stories(self):
        return stories(_signalwire, st.uuids().map(str))

    def signed(self):
        # A callback signed as SignalWire signs it (Twilio's scheme, its own header).
        hook = sign_webhook(
            URL, {"CallSid": SW_SID, "CallStatus": "busy", "SequenceNumber": "4"}, "key"
        )
        headers = tuple(
            ("X-SignalWire-Signature", v) if k == "X-Twilio-Signature" else (k, v)
            for k, v in hook.headers
        )
        return ["key"], ProviderRequest(body=hook.body, url=hook.url, headers=headers)


def test_the_signalwire_signature_vector_verifies_and_is_no_callback():
    request = fixture_requests("signalwire")[3]
    verifier = get("signalwire").verifier_for(["12345"])
    handler = WebhookHandler(CallBook(), verifier=verifier, dialect=get("signalwire").dialect)
    answer = handler.prepare(request.method, request.url, request.headers, request.body, T)
    # The signature passes (VECTOR_B); the parameters are no status callback.
    assert isinstance(answer, WebhookResponse)
    assert (answer.status, answer.body) == (400, b"CallStatus: is missing\n")
    wrong = WebhookHandler(CallBook(), verifier=get("signalwire").verifier_for(["54321"]))
    refused = wrong.prepare(request.method, request.url, request.headers, request.body, T)
    assert isinstance(refused, WebhookResponse) and refused.status == 403


def test_signalwire_answered_and_in_progress_are_one_event():
    """The same event named both ways (same SequenceNumber, same Timestamp): a duplicate."""
    signalwire = get("signalwire")
    in_progress = delivery_of(signalwire, fixture_requests("signalwire")[1])
    answered = delivery_of(
        signalwire,
        ProviderRequest.form(fixture("signalwire")[1]["body"].replace("in-progress", "answered")),
    )
    assert answered.call_status.value == "in-progress"
    assert answered.get("CallStatus") == "answered"  # kept as sent
    for order in ([in_progress, answered], [answered, in_progress]):
        state = replay(order)
        assert state.status is CallStatus.IN_PROGRESS
        assert state.anomalies == ()
        assert (state.deliveries, state.duplicates) == (1, 1)


# Telnyx TeXML.

TEXML_SID = "v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ"


def _texml(sid: str, event: Event) -> ProviderRequest:
    status, t, position = event
    return ProviderRequest.form(
        form(
            AccountSid="f5586561-8ff0-4291-a51b-c7dfe4139ff9",
            CallSid=sid,
            CallStatus=status,
            # Not to be trusted: any number, the final's included.
            SequenceNumber=(position * 7) % 3,
            Timestamp=iso(t, micro=bool(t % 2)).replace("T", " " if t % 3 else "T"),
            CallDuration=45 if status == "completed" else None,
            HangupCause="normal_clearing" if status == "completed" else None,
        )
    )


class TestTelnyxTexml(ProviderContract):
    provider = get("telnyx-texml")

    def samples(self):
        return fixture_requests("telnyx_texml")

    def refusals(self):
        return [
            (
                ProviderRequest.form("CallStatus=ringing&Timestamp=2024-01-15T10%3A30%3A00Z"),
                "CallSid",
            ),
            (
                ProviderRequest.form(f"CallSid={TEXML_SID}&CallStatus=ringing&Timestamp=yesterday"),
                "Timestamp",
            ),
            (ProviderRequest.form(f"CallSid={TEXML_SID}"), "CallStatus"),
            (ProviderRequest.json({"CallSid": TEXML_SID}), "Content-Type"),
        ]

    def stories(self):
        return stories(_texml, st.just(TEXML_SID))

    def signed(self):
        return [ED25519_PUBLIC], telnyx_signed(fixture_requests("telnyx_texml")[4])


def test_texml_hangup_with_initiated_s_sequence_number_is_no_conflict():
    """Telnyx's Hangup example sends completed with SequenceNumber 0, initiated's number."""
    texml = get("telnyx-texml")
    initiated, *_, hangup = fixture_requests("telnyx_texml")
    first = delivery_of(texml, initiated)
    initiated_again = ProviderRequest.form(
        fixture("telnyx_texml")[0]["body"].replace(
            "v3%3A9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ",
            "v2%3A7V3r4VFCGLTzKLOveE0-7vM9dX17-NRQgU1byo-uuOIX9JcDadLLKw",
        )
    )
    end = delivery_of(texml, hangup)
    again = delivery_of(texml, initiated_again)
    assert end.get("SequenceNumber") == "0" == again.get("SequenceNumber")  # as sent
    for order in ([again, end], [end, again]):
        state = replay(order)
        assert state.status is CallStatus.COMPLETED  # CallDuration=2: answered
        assert state.anomalies == ()
    assert first.timestamp == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    assert end.timestamp == datetime(2021, 4, 28, 21, 51, 18, 731479, tzinfo=UTC)


def test_under_the_twilio_dialect_that_hangup_would_be_a_conflict():
    """Why TeXML needs its own dialect: read as Twilio's, the two events share a key."""
    initiated = fixture("telnyx_texml")[0]["body"].replace("v3%3A9X2", "v2%3A7V3")
    hangup = fixture("telnyx_texml")[4]["body"].replace(
        "v2%3A7V3r4VFCGLTzKLOveE0-7vM9dX17-NRQgU1byo-uuOIX9JcDadLLKw",
        "v2%3A7V3vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ",
    )
    state = replay([parse_form(initiated), parse_form(hangup)])
    assert [a.kind for a in state.anomalies] == ["conflicting_delivery"]


@pytest.mark.parametrize("name", ["twilio", "signalwire", "telnyx-texml"])
def test_a_get_callback_reads_its_query_string(name):
    request = ProviderRequest.form(
        form(CallSid=TEXML_SID, CallStatus="ringing", SequenceNumber=1, Timestamp=rfc2822(3)),
        method="GET",
    )
    assert delivery_of(get(name), request).call_status.value == "ringing"
