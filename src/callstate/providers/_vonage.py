"""Vonage Voice: JSON event webhooks with ``uuid``, ``status`` and ``timestamp``.

Statuses: ``started`` (``initiated``), ``ringing``, ``answered``
(``in-progress``), ``completed``, and the failures ``busy``, ``cancelled``
(``canceled``), ``unanswered`` and ``timeout`` (``no-answer``), ``rejected``
and ``failed`` (``failed``). A failed call sends its failure *and*
``completed``, in either order: the failures' slots are above
``completed``'s, so the failure wins whichever came first. No event id and no
sequence: copies are known by (call, status, ``timestamp``). Vonage posts
every event of a call to one event URL: the others it documents say nothing of
the call's status and are ignored (``NotAStatusEvent``: 204, nothing stored):
a ``status`` of ``OTHER_STATUSES`` (``human``/``machine``, ``disconnected``),
or no ``status`` but the field that marks the event (``OTHER_EVENTS``:
``record``'s ``recording_url``, ``input``'s ``dtmf`` or ``speech``,
``transfer``'s ``conversation_uuid_to``, an error's ``reason``). Any other
``status``, or none with no such field, is refused (400), naming ``status``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from callstate._core._values import CallbackStatus, Delivery
from callstate._errors import InvalidCallback, NotAStatusEvent
from callstate.providers._kit import (
    JsonDialect,
    duration_of,
    ranked_delivery,
    sid_of,
    text_of,
    text_or_none,
    timestamp_of,
)
from callstate.providers._speak import ProviderEvent, iso, json_body

__all__ = ["OTHER_EVENTS", "OTHER_STATUSES", "STATUSES", "VONAGE", "VonageDialect", "speak"]

S = CallbackStatus
#: Vonage's ``status`` values and the status each says.
STATUSES: Final = {
    "started": S.INITIATED,
    "ringing": S.RINGING,
    "answered": S.IN_PROGRESS,
    "completed": S.COMPLETED,
    "busy": S.BUSY,
    "cancelled": S.CANCELED,
    "unanswered": S.NO_ANSWER,
    "timeout": S.NO_ANSWER,
    "rejected": S.FAILED,
    "failed": S.FAILED,
}
#: ``status`` values of events that say nothing of the call's status (the webhook
#: reference: answering-machine detection; a WebSocket leg's end).
OTHER_STATUSES: Final = frozenset({"human", "machine", "disconnected"})
#: The events with no ``status``, by the field that marks each (the webhook reference).
OTHER_EVENTS: Final = {
    "recording_url": "record",
    "dtmf": "input",
    "speech": "input",
    "conversation_uuid_to": "transfer",
    "reason": "error",
}


class VonageDialect(JsonDialect):
    """Vonage's event webhooks (see the module)."""

    __slots__ = ()

    def read(self, document: Mapping[str, object]) -> Delivery:
        if document.get("status") is None:
            for marker, event in OTHER_EVENTS.items():
                if document.get(marker) is not None:  # a null is an absent field
                    raise NotAStatusEvent(marker, event)
        said = text_of(document, "status")
        status = STATUSES.get(said)
        if status is None:
            if said in OTHER_STATUSES:
                raise NotAStatusEvent("status", said)
            raise InvalidCallback("status", f"is not a call status: {said[:40]!r}")
        stamp = text_or_none(document, "timestamp")
        return ranked_delivery(
            call_sid=sid_of(document, "uuid"),
            status=status,
            identity=stamp,
            timestamp=timestamp_of("timestamp", stamp),
            call_duration=duration_of("duration", document.get("duration")),
            params=self.params_of(document),
        )

    def __repr__(self) -> str:
        return "VonageDialect()"


VONAGE: Final = VonageDialect()


_SAID: Final = {
    S.INITIATED.value: "started",
    S.IN_PROGRESS.value: "answered",
    S.CANCELED.value: "cancelled",
    S.NO_ANSWER.value: "timeout",
}


def speak(event: ProviderEvent) -> Sequence[tuple[str, bytes]]:
    """Vonage's event webhook; a failure also sends ``completed`` (after it, here)."""
    said = _SAID.get(event.status, event.status)
    document: dict[str, object] = {
        "from": event.from_,
        "to": event.to,
        "uuid": event.call_sid,
        "conversation_uuid": "CON-" + event.call_sid,
        "status": said,
        "direction": "outbound",
        "timestamp": iso(event.at),
    }
    if event.status == S.COMPLETED.value and event.duration is not None:
        document["duration"] = str(event.duration)
    out = [json_body(document)]
    if event.status in (S.BUSY.value, S.FAILED.value, S.NO_ANSWER.value, S.CANCELED.value):
        out.append(json_body({**document, "status": "completed", "duration": "0"}))
    return out
