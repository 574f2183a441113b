"""Bandwidth Voice v2: JSON webhooks with ``eventType``, ``callId`` and ``eventTime``.

``initiate`` (an inbound call) is ``initiated``, ``answer`` ``in-progress``,
``disconnect`` the status its ``cause`` says (``CAUSES``; a cause not listed,
as Bandwidth warns the list is open, is ``failed``). A ``disconnect`` with
``answerTime`` and ``endTime`` gives the call's duration (whole seconds).
No event id and no sequence: copies are known by (call, status,
``eventTime``). The other events Bandwidth documents (``gather``,
``transferComplete``, ``bridgeComplete``, ...: ``OTHER_EVENTS``) say nothing
of the call's status and are ignored (``NotAStatusEvent``: 204, nothing
stored); an ``eventType`` it does not document is refused (400), naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Final

from callstate._core._values import CallbackStatus, Delivery
from callstate._errors import InvalidCallback, NotAStatusEvent
from callstate.providers._kit import (
    JsonDialect,
    ranked_delivery,
    sid_of,
    text_of,
    text_or_none,
    timestamp_of,
)
from callstate.providers._speak import ProviderEvent, iso, json_body

__all__ = ["BANDWIDTH", "CAUSES", "EVENTS", "OTHER_EVENTS", "BandwidthDialect", "speak"]

S = CallbackStatus
#: The longest duration a ``Delivery`` holds (``CallDuration``'s bound), in seconds.
_LONGEST: Final = 2**31 - 1
#: The status each call event says (``disconnect``: by its cause).
EVENTS: Final = {"initiate": S.INITIATED, "answer": S.IN_PROGRESS}
#: The event types Bandwidth documents that say nothing of the call's status
#: (the voice webhooks of Bandwidth/api-docs' sidebar and python-sdk's bandwidth/models:
#: the docs' record page is ``recordComplete``, the SDK's model ``recordingComplete``).
OTHER_EVENTS: Final = frozenset(
    {
        "bridgeComplete",
        "bridgeTargetComplete",
        "conferenceCompleted",
        "conferenceCreated",
        "conferenceMemberExit",
        "conferenceMemberJoin",
        "conferenceRecordingAvailable",
        "conferenceRedirect",
        "dtmf",
        "gather",
        "machineDetectionComplete",
        "recordComplete",
        "recordingAvailable",
        "recordingComplete",
        "redirect",
        "transcriptionAvailable",
        "transferAnswer",
        "transferComplete",
        "transferDisconnect",
    }
)
#: ``disconnect``'s ``cause`` to status. ``hangup`` is the ``completed``
#: event: answered then ended if the call was answered, else ended, outcome unknown.
CAUSES: Final = {
    "hangup": S.COMPLETED,
    "busy": S.BUSY,
    "rejected": S.BUSY,
    "timeout": S.NO_ANSWER,
    "cancel": S.CANCELED,
}


class BandwidthDialect(JsonDialect):
    """Bandwidth's voice webhooks (see the module)."""

    __slots__ = ()

    def read(self, document: Mapping[str, object]) -> Delivery:
        event = text_of(document, "eventType")
        duration = None
        if event == "disconnect":
            cause = text_or_none(document, "cause")
            status = CAUSES.get(cause, S.FAILED) if cause is not None else S.FAILED
            answered = timestamp_of("answerTime", text_or_none(document, "answerTime"))
            ended = timestamp_of("endTime", text_or_none(document, "endTime"))
            if answered is not None and ended is not None and ended >= answered:
                duration = int((ended - answered).total_seconds())
                if duration > _LONGEST:
                    raise InvalidCallback(
                        "endTime", f"is more than {_LONGEST} seconds after answerTime"
                    )
        else:
            found = EVENTS.get(event)
            if found is None:
                if event in OTHER_EVENTS:
                    raise NotAStatusEvent("eventType", event)
                raise InvalidCallback(
                    "eventType", f"is not an event Bandwidth documents: {event[:40]!r}"
                )
            status = found
        stamp = text_or_none(document, "eventTime")
        return ranked_delivery(
            call_sid=sid_of(document, "callId"),
            status=status,
            identity=stamp,
            timestamp=timestamp_of("eventTime", stamp),
            call_duration=duration,
            account_sid=sid_of(document, "accountId")
            if text_or_none(document, "accountId")
            else None,
            params=self.params_of(document),
        )

    def __repr__(self) -> str:
        return "BandwidthDialect()"


BANDWIDTH: Final = BandwidthDialect()


_CAUSE_OF: Final = {
    S.COMPLETED.value: "hangup",
    S.BUSY.value: "busy",
    S.NO_ANSWER.value: "timeout",
    S.CANCELED.value: "cancel",
    S.FAILED.value: "error",
}


def speak(event: ProviderEvent) -> Sequence[tuple[str, bytes]]:
    """Bandwidth's webhook for an outbound call: answer and disconnect (no initiate, no ringing)."""
    document: dict[str, object] = {
        "callId": event.call_sid,
        "accountId": event.account_sid,
        "from": event.from_,
        "to": event.to,
        "direction": "outbound",
        "eventTime": iso(event.at),
    }
    if event.status == S.IN_PROGRESS.value:
        document.update(eventType="answer", answerTime=iso(event.at))
    elif event.status in _CAUSE_OF:
        document.update(
            eventType="disconnect", cause=_CAUSE_OF[event.status], endTime=iso(event.at)
        )
        if event.status == S.COMPLETED.value and event.duration:
            document["answerTime"] = iso(event.at - timedelta(seconds=event.duration))
    else:
        return []
    return [json_body({k: v for k, v in document.items() if v is not None})]
