"""What the fake provider does with one call, decided up front from a seeded random source.

A call's lifecycle is a list of steps (the true status it reaches, in
order); each subscribed step yields a status callback; chaos turns each
callback into zero, one or more copies, each with its own extra delay. All
of it is drawn from one ``random.Random`` in a fixed order, so one seed
gives one plan.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Final, Literal

import attrs

__all__ = ["OUTCOMES", "Chaos", "callback_params", "plan_delays", "steps_for"]

Outcome = Literal["completed", "busy", "no-answer", "failed", "canceled"]
Vocabulary = Literal["twilio", "restcomm"]

OUTCOMES: Final[tuple[Outcome, ...]] = ("completed", "busy", "no-answer", "failed", "canceled")
"""The true outcomes a fake call can have."""
#: The event each true status is reported under, and its fixed Restcomm position.
EVENT_OF: Final = {
    "initiated": ("initiated", 0),
    "ringing": ("ringing", 1),
    "in-progress": ("answered", 2),
}
_FINAL_EVENT: Final = ("completed", 3)


def _probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability from 0 to 1, not {value!r}")


@attrs.frozen(kw_only=True)
class Chaos:
    """What goes wrong with status callbacks, as probabilities drawn under ``seed``.

    ``duplicate``: a callback is sent twice. ``drop``: it is never sent.
    ``reorder``: it gets an extra delay of up to ``max_delay`` seconds, so
    later ones may overtake it. ``early``: the whole lifecycle of a call is
    played, and its callbacks sent, before the create POST is answered.
    ``sign``: callbacks carry ``X-Twilio-Signature`` (keyed with the token).
    """

    seed: int = 0
    duplicate: float = attrs.field(default=0.0, validator=_probability)
    drop: float = attrs.field(default=0.0, validator=_probability)
    reorder: float = attrs.field(default=0.0, validator=_probability)
    max_delay: float = 0.05
    early: float = attrs.field(default=0.0, validator=_probability)
    sign: bool = False


def steps_for(outcome: str) -> tuple[str, ...]:
    """The true statuses a call goes through to reach ``outcome``."""
    if outcome == "completed":
        return ("initiated", "ringing", "in-progress", "completed")
    if outcome == "failed":
        return ("initiated", "failed")
    return ("initiated", "ringing", outcome)


def timestamp(at: datetime, *, quirky: bool) -> str:
    """RFC 2822 in UTC, or Restcomm's zone-name spelling when ``quirky``."""
    text = format_datetime(at.astimezone(UTC))
    return text.replace("+0000", "UTC") if quirky else text


def callback_params(
    *,
    call_sid: str,
    account_sid: str,
    to: str,
    from_: str,
    status: str,
    sequence_number: int,
    at: datetime,
    duration: int | None,
    vocabulary: Vocabulary,
    quirky: bool,
    voicemail: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """The parameters of one status callback, in the chosen vocabulary."""
    event, position = EVENT_OF.get(status, _FINAL_EVENT)
    reported = event if vocabulary == "restcomm" else status
    params = [
        ("CallSid", call_sid),
        ("AccountSid", account_sid),
        ("From", from_),
        ("To", to),
        ("Direction", "outbound-api"),
        ("CallStatus", reported),
        ("Timestamp", timestamp(at, quirky=quirky)),
        ("CallbackSource", "call-progress-events"),
        ("SequenceNumber", str(position if vocabulary == "restcomm" else sequence_number)),
    ]
    if duration is not None:
        params.append(("CallDuration", str(duration)))
    if voicemail is not None and status in ("in-progress", "completed"):
        params.append(("VoicemailDetector", voicemail))
    return tuple(params)


def plan_delays(rng: random.Random, chaos: Chaos) -> tuple[float, ...]:
    """The copies of one callback to send, as the extra delay of each: () when dropped."""
    dropped = rng.random() < chaos.drop
    copies = 2 if rng.random() < chaos.duplicate else 1
    delays = tuple(
        rng.uniform(0.0, chaos.max_delay) if rng.random() < chaos.reorder else 0.0
        for _ in range(copies)
    )
    return () if dropped else delays
