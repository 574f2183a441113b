"""Plivo: form callbacks with no sequence number and no per-event time, through the contract."""

from __future__ import annotations

from hypothesis import strategies as st

from callstate import CallStatus
from callstate.providers import get
from callstate.testing.provider_contract import (
    ProviderContract,
    ProviderRequest,
    delivery_of,
    replay,
)
from tests.web.providers._stories import Event, fixture_requests, form, stories

SAID = {"canceled": "cancel", "initiated": "ringing"}
EVENT = {"ringing": "Ring", "in-progress": "StartApp"}


def _plivo(sid: str, event: Event) -> ProviderRequest:
    status, _, _ = event
    return ProviderRequest.form(
        form(
            CallUUID=sid,
            RequestUUID=sid,
            Direction="outbound",
            CallStatus=SAID.get(status, status),
            Event=EVENT.get(status, "Hangup"),
            Duration=42 if status == "completed" else None,
            HangupCause="NORMAL_CLEARING" if status == "completed" else None,
        )
    )


class TestPlivo(ProviderContract):
    provider = get("plivo")

    def samples(self):
        return fixture_requests("plivo")

    def refusals(self):
        return [
            (ProviderRequest.form("CallStatus=ringing"), "CallUUID"),
            (ProviderRequest.form("CallUUID=..%2F..&CallStatus=ringing"), "CallUUID"),
            (ProviderRequest.form("CallUUID=u1"), "CallStatus"),
            (ProviderRequest.form("CallUUID=u1&CallStatus=canceled"), "CallStatus"),
            (ProviderRequest.form("CallUUID=u1&CallStatus=completed&Duration=-1"), "Duration"),
            (ProviderRequest.form("CallUUID=u1&CallUUID=u2&CallStatus=busy"), "CallUUID"),
            (ProviderRequest.json({"CallUUID": "u1", "CallStatus": "busy"}), "Content-Type"),
        ]

    def stories(self):
        return stories(_plivo, st.uuids().map(str))

    def signed(self):
        # plivo-go's V3 vector (Pass3): the fixture's in-progress callback as Plivo signed it.
        return ["Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4"], fixture_requests("plivo")[1]


def test_plivo_hangup_keeps_its_cause_and_duration():
    ringing, answered, hangup = (delivery_of(get("plivo"), r) for r in fixture_requests("plivo"))
    assert hangup.call_duration == 42
    assert hangup.get("HangupCause") == "NORMAL_CLEARING"
    assert hangup.timestamp is None  # Plivo sends no per-event time
    state = replay([hangup, ringing, answered])
    assert state.status is CallStatus.COMPLETED


def test_plivo_cancel_and_timeout():
    sid = "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"
    cancel = delivery_of(get("plivo"), ProviderRequest.form(f"CallUUID={sid}&CallStatus=cancel"))
    timeout = delivery_of(get("plivo"), ProviderRequest.form(f"CallUUID={sid}&CallStatus=timeout"))
    assert cancel.call_status.value == "canceled"
    assert timeout.call_status.value == "failed"
