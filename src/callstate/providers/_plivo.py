"""Plivo: form callbacks with ``CallUUID`` and ``CallStatus``; no sequence, no event time.

Statuses: ``ringing``, ``in-progress``, ``completed``, ``busy``, ``failed``,
``no-answer``, ``cancel`` (``canceled``) and ``timeout`` (a failure to
connect, Plivo says: ``failed``). ``Duration`` is the call's seconds.
Order comes from the status's rank; with no event id nor per-event time,
copies are known by (call, status, ``Event``): ``ranked_sequence(status,
Event)``. ``HangupCause`` and the rest stay in the params.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from callstate._core._values import CallbackParams, CallbackStatus, Delivery
from callstate._errors import InvalidCallback
from callstate.providers._kit import FormDialect, duration_of, ranked_delivery, sid_of, text_of
from callstate.providers._speak import ProviderEvent, form_body

__all__ = ["PLIVO", "STATUSES", "PlivoDialect", "speak"]

S = CallbackStatus
#: Plivo's ``CallStatus`` values and the status each says.
STATUSES: Final = {
    "ringing": S.RINGING,
    "in-progress": S.IN_PROGRESS,
    "completed": S.COMPLETED,
    "busy": S.BUSY,
    "failed": S.FAILED,
    "timeout": S.FAILED,
    "no-answer": S.NO_ANSWER,
    "cancel": S.CANCELED,
}


class PlivoDialect(FormDialect):
    """Plivo's callbacks (see the module)."""

    __slots__ = ()

    def read(self, fields: Mapping[str, str], params: CallbackParams) -> Delivery:
        said = text_of(fields, "CallStatus")
        status = STATUSES.get(said.strip().lower())
        if status is None:
            choices = ", ".join(STATUSES)
            raise InvalidCallback("CallStatus", f"must be one of {choices}, not {said[:40]!r}")
        return ranked_delivery(
            call_sid=sid_of(fields, "CallUUID"),
            status=status,
            identity=fields.get("Event"),
            call_duration=duration_of("Duration", fields.get("Duration")),
            params=params,
        )

    def __repr__(self) -> str:
        return "PlivoDialect()"


PLIVO: Final = PlivoDialect()


_SAID: Final = {S.CANCELED.value: "cancel"}
_EVENT: Final = {S.RINGING.value: "Ring", S.IN_PROGRESS.value: "StartApp"}


def speak(event: ProviderEvent) -> Sequence[tuple[str, bytes]]:
    """Plivo's callback (no initiated event: none for ``initiated``)."""
    if event.status == S.INITIATED.value:
        return []
    final = event.status not in _EVENT
    return [
        form_body(
            ("CallUUID", event.call_sid),
            ("RequestUUID", event.call_sid),
            ("Direction", "outbound"),
            ("From", event.from_),
            ("To", event.to),
            ("CallStatus", _SAID.get(event.status, event.status)),
            ("Event", _EVENT.get(event.status, "Hangup")),
            ("Duration", event.duration if final else None),
            ("HangupCause", "NORMAL_CLEARING" if event.status == S.COMPLETED.value else None),
        )
    ]
