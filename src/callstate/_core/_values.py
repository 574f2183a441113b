"""The values of the core: deliveries, resources, commands, events, reports.

All are frozen, slotted, keyword-only attrs classes. They are built by the
parsers (which validate) or by the caller; nothing here reads a clock.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar, Union

import attrs

from callstate._core._form import unquote_ascii
from callstate._core._make import maker
from callstate._core._state import STATUSES, TRIGGER_OF, CallStatus, Dialect
from callstate._core._time import OUT_OF_RANGE, out_of_range
from callstate._errors import InvalidValue

__all__ = [
    "Anomaly",
    "CallRegistered",
    "CallResource",
    "CallbackParams",
    "CallbackStatus",
    "Command",
    "Delivery",
    "DeliveryAccepted",
    "Dialect",
    "DuplicateIgnored",
    "Event",
    "Reconcile",
    "ReconciliationRequested",
    "RecordDelivery",
    "RegisterCall",
    "ResourceObserved",
    "StatusChange",
    "Tick",
    "TimelineEntry",
]


class CallbackStatus(enum.StrEnum):
    """A ``CallStatus`` value as a status callback reports it (both vocabularies)."""

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    ANSWERED = "answered"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


_NAN: Final = math.nan


class CallbackParams(Sequence[tuple[str, str]]):
    """Every parameter of a status callback, as received, in order.

    A sequence of (name, value) pairs. Built from a raw form body, it keeps the
    body and decodes it only when first read: most deliveries are folded
    without anyone reading their unknown parameters. The parser only stores a
    body here after checking it decodes without error.
    """

    __slots__ = ("_pairs", "_raw")

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs: tuple[tuple[str, str], ...] | None = tuple(pairs)
        self._raw: str | None = None

    @classmethod
    def from_form(cls, body: str) -> CallbackParams:
        """Params to decode lazily from ``body`` (which must decode cleanly)."""
        new = cls.__new__(cls)
        new._pairs = None
        new._raw = body
        return new

    @property
    def form_body(self) -> str | None:
        """The form body these params were read from, when the parser kept it."""
        return self._raw

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        pairs = self._pairs
        if pairs is None:
            # The parser only keeps a raw body that decodes cleanly (ASCII, no
            # escape of a non-ASCII byte), where unquote_ascii is unquote_plus.
            pairs = self._pairs = tuple(
                (unquote_ascii(name), unquote_ascii(value))
                for name, _, value in (
                    part.partition("=") for part in (self._raw or "").split("&") if part
                )
            )
        return pairs

    def __getitem__(self, index: int) -> tuple[str, str]:  # type: ignore[override]
        return self.pairs[index]

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.pairs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CallbackParams):
            if self._raw is not None and self._raw == other._raw:
                return True
            return self.pairs == other.pairs
        if isinstance(other, tuple):
            return self.pairs == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.pairs)

    def __repr__(self) -> str:
        return f"CallbackParams({list(self.pairs)!r})"

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of parameter ``name``, or ``default``."""
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of parameter ``name``, in order."""
        return [value for key, value in self.pairs if key == name]


def _to_params(value: Iterable[tuple[str, str]]) -> CallbackParams:
    return value if isinstance(value, CallbackParams) else CallbackParams(value)


_CALLBACK_STATUSES: Final = tuple(CallbackStatus)
#: The trigger code of each reported value, by its index in ``CallbackStatus``.
_TRIGGERS: Final = tuple(int(TRIGGER_OF[s]) for s in _CALLBACK_STATUSES)
_set = object.__setattr__


def check_instant(name: str, value: Any) -> None:
    """``value`` is an aware datetime callstate can hold (``_time.EARLIEST`` .. ``LATEST``).

    Else ``InvalidValue`` naming field ``name``.
    """
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(name, f"must be an aware datetime, not {value!r}")
    if out_of_range(value):
        raise InvalidValue(name, OUT_OF_RANGE)


def _instant(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_instant(attribute.name, value)


def _aware(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """``_instant`` or None."""
    if value is not None:
        _instant(instance, attribute, value)


def _count(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None and attribute.name == "call_duration":
        return
    if type(value) is not int or not 0 <= value <= 2**31 - 1:
        raise InvalidValue(attribute.name, f"must be an int from 0 to 2**31-1, not {value!r}")


def _nonempty(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None and attribute.name == "account_sid":
        return
    if not isinstance(value, str) or not value:
        raise InvalidValue(attribute.name, f"must be a non-empty str, not {value!r}")


_E = TypeVar("_E", bound=enum.StrEnum)


def member_of(kind: type[_E], name: str, value: Any) -> _E:
    """``kind(value)``, or ``InvalidValue`` naming field ``name`` and the choices."""
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise InvalidValue(name, f"must be one of {choices}, not {value!r}") from None


def _callback_status(value: object) -> CallbackStatus:
    return member_of(CallbackStatus, "call_status", value)


def _call_status(value: object) -> CallStatus:
    return member_of(CallStatus, "status", value)


@attrs.frozen(kw_only=True)
class Delivery:
    """One status callback, parsed and validated.

    ``params`` holds every parameter exactly as received, known or not, in
    order. Two deliveries with the same ``key`` are the same event; the same
    key with a different ``content`` is a conflict. Built by the parsers;
    built by hand, its fields are checked (``InvalidValue``, a ``ValueError``,
    names the field and the reason).
    """

    call_sid: str = attrs.field(validator=_nonempty)
    sequence_number: int = attrs.field(validator=_count)
    call_status: CallbackStatus = attrs.field(converter=_callback_status)
    timestamp: datetime | None = attrs.field(default=None, validator=_aware)
    call_duration: int | None = attrs.field(default=None, validator=_count)
    account_sid: str | None = attrs.field(default=None, validator=_nonempty)
    params: CallbackParams = attrs.field(factory=CallbackParams, converter=_to_params)
    #: Derived once for the hot path: (SequenceNumber, content fingerprint,
    #: trigger code, Timestamp as epoch seconds or NaN).
    _hot: tuple[int, int, int, float] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        ts = self.timestamp
        at = _NAN if ts is None else ts.timestamp()
        code = _CALLBACK_STATUSES.index(self.call_status)
        hot = (self.sequence_number, hash((code, at, self.call_duration)), _TRIGGERS[code], at)
        _set(self, "_hot", hot)

    @classmethod
    def _make(
        cls,
        call_sid: str,
        sequence_number: int,
        code: int,
        timestamp: datetime | None,
        at: float,
        call_duration: int | None,
        account_sid: str | None,
        params: CallbackParams,
    ) -> Delivery:
        """The parser's constructor: its input is already checked, so skip the checks.

        ``code`` is the status's index in ``CallbackStatus``, ``at`` the
        timestamp as epoch seconds (NaN for none).
        """
        hot = (sequence_number, hash((code, at, call_duration)), _TRIGGERS[code], at)
        return _delivery(
            call_sid,
            sequence_number,
            _CALLBACK_STATUSES[code],
            timestamp,
            call_duration,
            account_sid,
            params,
            hot,
        )

    @property
    def key(self) -> tuple[str, int]:
        """What identifies the event: (CallSid, SequenceNumber)."""
        return (self.call_sid, self.sequence_number)

    @property
    def content(self) -> tuple[str, float | None, int | None]:
        """What two copies of one event must agree on: status, instant, duration."""
        at = self._hot[3]
        return (self.call_status.value, None if at != at else at, self.call_duration)

    @property
    def fingerprint(self) -> int:
        """A hash of ``content``: equal contents, equal fingerprints (in one process)."""
        return self._hot[1]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of parameter ``name`` (as the provider spells it)."""
        return self.params.get(name, default)

    def get_all(self, name: str) -> list[str]:
        """Every value of parameter ``name``, in order."""
        return self.params.get_all(name)


#: ``Delivery`` from every field, ``_hot`` too, all checked (``maker``).
_delivery: Final = maker(Delivery, checked=True)


@attrs.frozen(kw_only=True)
class CallResource:
    """The Call resource as the Calls API returns it (GET or the create POST)."""

    sid: str
    status: CallStatus = attrs.field(converter=_call_status)
    account_sid: str | None = None
    parent_call_sid: str | None = None
    to: str | None = None
    from_: str | None = None
    direction: str | None = None
    answered_by: str | None = None
    date_created: datetime | None = attrs.field(default=None, validator=_aware)
    date_updated: datetime | None = attrs.field(default=None, validator=_aware)
    start_time: datetime | None = attrs.field(default=None, validator=_aware)
    end_time: datetime | None = attrs.field(default=None, validator=_aware)
    duration: int | None = None
    ring_duration: int | None = None
    price: str | None = None
    price_unit: str | None = None
    uri: str | None = None
    #: Every field of the resource as received, known or not.
    raw: tuple[tuple[str, object], ...] = attrs.field(default=(), eq=False, repr=False)


@attrs.frozen(kw_only=True)
class TimelineEntry:
    """When a status was reached: the provider's time and when we heard of it."""

    status: CallStatus
    at: datetime | None
    received_at: datetime | None


@attrs.frozen(kw_only=True)
class Anomaly:
    """Something in the evidence that deserves a human's attention.

    ``kind`` is one of ``conflicting_delivery`` (one CallSid and
    SequenceNumber, different content), ``conflicting_final`` (deliveries
    disagree on the final status) and ``reconciliation_conflict`` (the Call
    resource disagrees with the deliveries). ``chosen`` is the status kept.
    """

    kind: str
    sequence_number: int | None = None
    statuses: tuple[CallStatus, ...] = ()
    chosen: CallStatus | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind}
        if self.sequence_number is not None:
            out["sequence_number"] = self.sequence_number
        if self.statuses:
            out["statuses"] = [s.value for s in self.statuses]
        if self.chosen is not None:
            out["chosen"] = self.chosen.value
        return out


@attrs.frozen(kw_only=True)
class StatusChange:
    """The derived status of a call changed from ``previous`` to ``status``."""

    previous: CallStatus
    status: CallStatus

    @property
    def is_refinement(self) -> bool:
        """An ``ended`` call whose outcome became known."""
        return self.previous is CallStatus.ENDED

    @property
    def is_correction(self) -> bool:
        """A known final status replaced by better evidence (an anomaly)."""
        return self.previous.is_final and self.previous is not CallStatus.ENDED


#: Every possible change, built once, ``CHANGES[previous][status]`` (by code):
#: reporting a change allocates nothing.
CHANGES: Final = tuple(
    tuple(StatusChange(previous=previous, status=status) for status in STATUSES)
    for previous in STATUSES
)
#: ``(CHANGES[previous][status],)``: one change, as the fold reports it.
SINGLE_CHANGES: Final = tuple(tuple((change,) for change in row) for row in CHANGES)


# Commands: what a caller asks the decider to do. Time comes in the command.


@attrs.frozen(kw_only=True)
class RecordDelivery:
    """Record a status callback, received at ``received_at`` (if known)."""

    delivery: Delivery
    received_at: datetime | None = attrs.field(default=None, validator=_aware)

    @classmethod
    def _make(cls, delivery: Delivery, received_at: datetime | None) -> RecordDelivery:
        """The webhook handler's constructor: ``received_at`` is its own clock's, aware."""
        return _record_delivery(delivery, received_at)


_record_delivery: Final = maker(RecordDelivery, checked=True)


@attrs.frozen(kw_only=True)
class Reconcile:
    """Fold in the Call resource fetched (or returned by the create POST)."""

    resource: CallResource
    observed_at: datetime | None = attrs.field(default=None, validator=_aware)


@attrs.frozen(kw_only=True)
class RegisterCall:
    """The app placed this call at ``placed_at`` to ring for ``ring_timeout``."""

    call_sid: str
    placed_at: datetime = attrs.field(validator=_instant)
    ring_timeout: timedelta | None = None


@attrs.frozen(kw_only=True)
class Tick:
    """The time is ``now``: flag a call that should have ended by now."""

    now: datetime = attrs.field(validator=_instant)


Command = Union[RecordDelivery, Reconcile, RegisterCall, Tick]
"""Anything ``Decider.decide`` takes."""


# Events: what happened, appended to a call's log and folded by ``evolve``.


@attrs.frozen(kw_only=True)
class DeliveryAccepted:
    """A delivery not seen before (a conflicting one included)."""

    delivery: Delivery
    received_at: datetime | None = attrs.field(default=None, validator=_aware)

    @property
    def call_sid(self) -> str:
        return self.delivery.call_sid


@attrs.frozen(kw_only=True)
class DuplicateIgnored:
    """A copy of a delivery already recorded: counted, never applied twice."""

    call_sid: str
    sequence_number: int
    received_at: datetime | None = attrs.field(default=None, validator=_aware)


@attrs.frozen(kw_only=True)
class ResourceObserved:
    """The Call resource as fetched at ``observed_at``."""

    resource: CallResource
    observed_at: datetime | None = attrs.field(default=None, validator=_aware)

    @property
    def call_sid(self) -> str:
        return self.resource.sid


@attrs.frozen(kw_only=True)
class CallRegistered:
    """The app placed this call."""

    call_sid: str
    placed_at: datetime = attrs.field(validator=_instant)
    ring_timeout: timedelta | None = None


@attrs.frozen(kw_only=True)
class ReconciliationRequested:
    """No final status arrived in time: the call should be fetched with GET."""

    call_sid: str
    at: datetime


Event = Union[
    DeliveryAccepted, DuplicateIgnored, ResourceObserved, CallRegistered, ReconciliationRequested
]
"""Anything ``Decider.evolve`` folds, and a store keeps."""
