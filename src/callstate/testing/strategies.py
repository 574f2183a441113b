"""Hypothesis strategies for callstate's values, shipped for users' own tests.

The inputs of the core have strategies here (CallSids, timestamps, dialects,
callback statuses, deliveries, Call resources, form bodies); commands and
events are built from them. Two families:

- *anything goes* (``deliveries``, ``call_resources``, ``form_bodies``):
  for laws that must hold for every input, however odd;
- *realistic* (``lifecycles``, ``chaotic``): what a provider really sends for
  one call, in either vocabulary, and the same deliveries duplicated,
  reordered and partly dropped, as the network delivers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import attrs
from hypothesis import strategies as st

from callstate._core._state import CallStatus
from callstate._core._values import (
    CallbackStatus,
    CallResource,
    Delivery,
    Dialect,
)

__all__ = [
    "Lifecycle",
    "OUTCOMES",
    "call_resources",
    "call_sids",
    "callback_statuses",
    "chaotic",
    "deliveries",
    "dialects",
    "form_bodies",
    "lifecycles",
    "timestamps",
]

OUTCOMES: tuple[CallStatus, ...] = (
    CallStatus.COMPLETED,
    CallStatus.BUSY,
    CallStatus.NO_ANSWER,
    CallStatus.FAILED,
    CallStatus.CANCELED,
)
"""The true outcomes a call can have."""
_EPOCH = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def call_sids() -> st.SearchStrategy[str]:
    """CallSids in the providers' shape: ``CA`` and 32 hex digits."""
    return st.text("0123456789abcdef", min_size=32, max_size=32).map(lambda h: "CA" + h)


def timestamps() -> st.SearchStrategy[datetime]:
    """Aware datetimes at whole seconds, as callbacks carry them."""
    return st.integers(0, 7 * 24 * 3600).map(lambda s: _EPOCH + timedelta(seconds=s))


def dialects() -> st.SearchStrategy[Dialect]:
    """Any dialect."""
    return st.sampled_from(Dialect)


def callback_statuses() -> st.SearchStrategy[CallbackStatus]:
    """Any ``CallStatus`` value a callback may carry, in either vocabulary."""
    return st.sampled_from(CallbackStatus)


def deliveries(
    call_sid: str | st.SearchStrategy[str] | None = None, *, max_sequence: int = 6
) -> st.SearchStrategy[Delivery]:
    """Any delivery for one call (or any call): every status, gaps, conflicts."""
    sids: st.SearchStrategy[str]
    if call_sid is None:
        sids = call_sids()
    elif isinstance(call_sid, str):
        sids = st.just(call_sid)
    else:
        sids = call_sid
    return st.builds(
        _delivery,
        call_sid=sids,
        sequence_number=st.integers(0, max_sequence),
        call_status=callback_statuses(),
        timestamp=st.none() | timestamps(),
        call_duration=st.none() | st.integers(0, 3600),
    )


def _delivery(**fields: Any) -> Delivery:
    params = [
        ("CallSid", fields["call_sid"]),
        ("CallStatus", fields["call_status"].value),
        ("SequenceNumber", str(fields["sequence_number"])),
        ("CallbackSource", "call-progress-events"),
    ]
    if fields["timestamp"] is not None:
        params.append(("Timestamp", fields["timestamp"].strftime("%a, %d %b %Y %H:%M:%S +0000")))
    if fields["call_duration"] is not None:
        params.append(("CallDuration", str(fields["call_duration"])))
    return Delivery(params=params, **fields)


def call_resources(
    call_sid: str | None = None, status: CallStatus | None = None
) -> st.SearchStrategy[CallResource]:
    """Call resources as a GET returns them (never with status ``ended``)."""
    statuses = [s for s in CallStatus if s is not CallStatus.ENDED]
    return st.builds(
        CallResource,
        sid=st.just(call_sid) if call_sid else call_sids(),
        status=st.just(status) if status else st.sampled_from(statuses),
        date_created=st.none() | timestamps(),
        date_updated=st.none() | timestamps(),
        end_time=st.none() | timestamps(),
        duration=st.none() | st.integers(0, 3600),
    )


@attrs.frozen(kw_only=True)
class Lifecycle:
    """One call as a provider reports it: the truth and the deliveries sent."""

    call_sid: str
    outcome: CallStatus
    dialect: Dialect
    deliveries: tuple[Delivery, ...]

    @property
    def answered(self) -> bool:
        return self.outcome is CallStatus.COMPLETED


@st.composite
def lifecycles(
    draw: st.DrawFn,
    dialect: Dialect | None = None,
    outcome: CallStatus | None = None,
) -> Lifecycle:
    """A realistic call: its true outcome and the callbacks sent for it, in order.

    Twilio style numbers events 0, 1, 2...; Restcomm style uses fixed
    positions (initiated 0, ringing 1, answered 2, completed 3) and names
    events, so an unanswered call ends in a bare ``completed``.
    """
    style = dialect or draw(st.sampled_from([Dialect.TWILIO, Dialect.RESTCOMM]))
    if style is Dialect.AUTO:
        style = draw(st.sampled_from([Dialect.TWILIO, Dialect.RESTCOMM]))
    truth = outcome or draw(st.sampled_from(OUTCOMES))
    sid = draw(call_sids())
    start = draw(timestamps())
    ring = draw(st.integers(0, 60))
    talk = draw(st.integers(1, 600))
    steps: list[tuple[str, int, datetime, int | None]] = []  # status, position, at, duration
    duration: int | None
    steps.append(("initiated", 0, start, None))
    if truth is not CallStatus.FAILED:
        steps.append(("ringing", 1, start + timedelta(seconds=1), None))
    if truth is CallStatus.COMPLETED:
        answered_at = start + timedelta(seconds=1 + ring)
        steps.append(
            ("answered" if style is Dialect.RESTCOMM else "in-progress", 2, answered_at, None)
        )
        end_at, duration = answered_at + timedelta(seconds=talk), talk
        steps.append(("completed", 3, end_at, duration))
    else:
        end_at = start + timedelta(seconds=1 + ring)
        final = "completed" if style is Dialect.RESTCOMM else truth.value
        steps.append((final, 3, end_at, 0))
    subscribed = draw(
        st.sets(st.sampled_from(["initiated", "ringing", "answered", "completed"]), min_size=1)
    )
    out = []
    sequence = 0
    for status, position, at, duration in steps:
        event = "answered" if status in ("answered", "in-progress") else status
        if event not in ("initiated", "ringing", "answered"):
            event = "completed"
        if event not in subscribed:
            continue
        number = position if style is Dialect.RESTCOMM else sequence
        sequence += 1
        out.append(
            _delivery(
                call_sid=sid,
                sequence_number=number,
                call_status=CallbackStatus(status),
                timestamp=at,
                call_duration=duration,
            )
        )
    return Lifecycle(call_sid=sid, outcome=truth, dialect=style, deliveries=tuple(out))


@st.composite
def chaotic(
    draw: st.DrawFn,
    items: Sequence[Delivery],
    *,
    duplicates: bool = True,
    drops: bool = False,
) -> list[Delivery]:
    """``items`` as a network delivers them: shuffled, some repeated, some lost."""
    pool = list(items)
    if drops and pool:
        keep = draw(st.lists(st.booleans(), min_size=len(pool), max_size=len(pool)))
        pool = [item for item, kept in zip(pool, keep, strict=True) if kept]
    if duplicates and pool:
        pool += draw(st.lists(st.sampled_from(pool), max_size=len(pool) + 2))
    return draw(st.permutations(pool))


def form_bodies(valid: bool = True) -> st.SearchStrategy[bytes]:
    """Form-encoded status-callback bodies: well formed, or any bytes at all."""
    if not valid:
        return st.binary(max_size=400) | st.text(max_size=200).map(str.encode)
    return deliveries().map(lambda d: urlencode(list(d.params)).encode("ascii"))
