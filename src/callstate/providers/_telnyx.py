"""Telnyx Call Control (Voice API v2): JSON events, an event id, no sequence number.

``{"data": {"event_type": "call.hangup", "id": ..., "occurred_at": ...,
"payload": {"call_control_id": ..., "hangup_cause": ...}}}``. The call is its
``call_control_id`` (what ``POST /v2/calls`` answers and commands take);
``call.initiated`` is ``initiated``, ``call.answered`` ``in-progress``,
``call.hangup`` the status its ``hangup_cause`` says (``HANGUP_CAUSES``).
Order comes from the status's rank; copies are known by the event id
(``ranked_sequence``). Telnyx posts every event of a call to one URL: the
others it documents (``call.bridged``, ``call.playback.*``,
``call.dtmf.received``, ``call.machine.*``, ...: ``OTHER_EVENTS``) say nothing
of the call's status and are ignored (``NotAStatusEvent``: 204, nothing
stored); an event type it does not document is refused (400), naming
``data.event_type``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from callstate._core._values import CallbackParams, CallbackStatus, Delivery
from callstate._errors import InvalidCallback, NotAStatusEvent
from callstate.providers._kit import (
    JsonDialect,
    ranked_delivery,
    sid_of,
    text_of,
    text_or_none,
    timestamp_of,
)
from callstate.providers._speak import ProviderEvent, event_id, iso, json_body

__all__ = ["EVENTS", "HANGUP_CAUSES", "OTHER_EVENTS", "TELNYX", "TelnyxDialect", "speak"]

S = CallbackStatus
#: The status each call event says (``call.hangup``: by its cause).
EVENTS: Final = {"call.initiated": S.INITIATED, "call.answered": S.IN_PROGRESS}
#: The event types Telnyx documents that say nothing of the call's status (the
#: webhook event models of telnyx-python, src/telnyx/types/unwrap_webhook_event.py):
#: a name, or a family of them ending in ``.``.
OTHER_EVENTS: Final = (
    "call.ai_gather.",
    "call.bridged",
    "call.conversation.",
    "call.conversation_insights.",
    "call.cost",
    "call.deepfake_detection.",
    "call.dequeued",
    "call.dtmf.",
    "call.enqueued",
    "call.fork.",
    "call.gather.",
    "call.machine.",
    "call.playback.",
    "call.recording.",
    "call.refer.",
    "call.siprec.",
    "call.speak.",
    "call.streaming.",
    "call.transcription",
    "conference.",
)
#: ``hangup_cause`` to status. ``completed`` is the ``completed`` event: answered
#: then ended if the call was answered, else ended with its outcome unknown.
#: A cause not listed reads as ``completed`` too (nothing is invented).
HANGUP_CAUSES: Final = {
    "normal_clearing": S.COMPLETED,
    "time_limit": S.COMPLETED,
    "unspecified": S.COMPLETED,
    "user_busy": S.BUSY,
    "call_rejected": S.BUSY,
    "no_answer": S.NO_ANSWER,
    "timeout": S.NO_ANSWER,
    "originator_cancel": S.CANCELED,
    "not_found": S.FAILED,
}


def _object(document: Mapping[str, object], name: str, shown: str) -> Mapping[str, object]:
    value = document.get(name)
    if not isinstance(value, dict):
        raise InvalidCallback(shown, "must be a JSON object" if value is not None else "is missing")
    return value


class TelnyxDialect(JsonDialect):
    """Telnyx Call Control's webhooks (see the module).

    ``other_events`` are the event types ignored (``OTHER_EVENTS``); a
    subclass that meets another one extends them.
    """

    __slots__ = ()
    other_events: tuple[str, ...] = OTHER_EVENTS

    def read(self, document: Mapping[str, object]) -> Delivery:
        data = _object(document, "data", "data")
        event = text_of(data, "event_type", shown="data.event_type")
        if event not in EVENTS and event != "call.hangup" and self._is_other(event):
            raise NotAStatusEvent("data.event_type", event[:64])
        payload = _object(data, "payload", "data.payload")
        if event == "call.hangup":
            cause = text_or_none(payload, "hangup_cause", shown="data.payload.hangup_cause")
            status = S.COMPLETED if cause is None else HANGUP_CAUSES.get(cause, S.COMPLETED)
        else:
            found = EVENTS.get(event)
            if found is None:
                raise InvalidCallback(
                    "data.event_type", f"is not an event Telnyx documents: {event[:40]!r}"
                )
            status = found
        event_id = text_or_none(data, "id", shown="data.id")
        occurred = text_or_none(data, "occurred_at", shown="data.occurred_at")
        kept = {k: v for k, v in data.items() if k != "payload"}
        params = CallbackParams(
            (
                *self.params_of(kept),
                *self.params_of(payload),
                *self.params_of({k: v for k, v in document.items() if k != "data"}),
            )
        )
        return ranked_delivery(
            call_sid=sid_of(payload, "call_control_id", shown="data.payload.call_control_id"),
            status=status,
            identity=event_id,
            timestamp=timestamp_of("data.occurred_at", occurred),
            params=params,
        )

    def _is_other(self, event: str) -> bool:
        return any(
            event.startswith(name) if name.endswith(".") else event == name
            for name in self.other_events
        )

    def __repr__(self) -> str:
        return "TelnyxDialect()"


TELNYX: Final = TelnyxDialect()


_CAUSE_OF: Final = {
    S.COMPLETED.value: "normal_clearing",
    S.BUSY.value: "user_busy",
    S.NO_ANSWER.value: "timeout",
    S.CANCELED.value: "originator_cancel",
    S.FAILED.value: "not_found",
}
_EVENT_OF: Final = {S.INITIATED.value: "call.initiated", S.IN_PROGRESS.value: "call.answered"}


def speak(event: ProviderEvent) -> Sequence[tuple[str, bytes]]:
    """Telnyx's webhook for the event (no ringing event: none for ``ringing``)."""
    payload: dict[str, object] = {"call_control_id": event.call_sid, "from": event.from_}
    payload["to"] = event.to
    if event.status in _CAUSE_OF:
        kind = "call.hangup"
        payload.update(state="hangup", hangup_cause=_CAUSE_OF[event.status])
    elif event.status in _EVENT_OF:
        kind = _EVENT_OF[event.status]
    else:
        return []
    data = {
        "record_type": "event",
        "event_type": kind,
        "id": event_id(event),
        "occurred_at": iso(event.at, digits=6),
        "payload": payload,
    }
    return [json_body({"data": data})]
