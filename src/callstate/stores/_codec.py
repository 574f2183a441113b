"""Events to JSON text and back, exactly.

Each event is stored as a kind (a short name) beside a JSON object. What must
survive the trip:

- every parameter of a ``Delivery``, in order, repeated names included (as
  the raw form body when the parser kept one: cheaper than the pairs both
  ways, and decoded only when read);
- a ``CallResource``'s ``raw`` fields exactly as received (JSON values);
- datetimes with their UTC offset, to the microsecond; a named zone
  (``zoneinfo``) keeps its name, written after the offset as in RFC 9557
  (``2026-11-24T10:15:32-05:00[America/New_York]``);
- timedeltas to the microsecond.

``delivery_key`` is the idempotency key a store indexes: CallSid,
SequenceNumber and the content two copies of one event agree on.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from callstate._core._form import decodes_plainly
from callstate._core._state import CallStatus
from callstate._core._values import (
    CallbackParams,
    CallbackStatus,
    CallRegistered,
    CallResource,
    Delivery,
    DeliveryAccepted,
    DuplicateIgnored,
    Event,
    ReconciliationRequested,
    ResourceObserved,
)
from callstate._errors import StoreError, UsageError

__all__ = ["decode", "delivery_key", "encode"]

_MICRO: Final = timedelta(microseconds=1)
_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
)
_loads: Final = json.loads


def _one_encoder() -> Callable[[object], str]:
    """``_ENCODER.encode``, without building a new C encoder for every call.

    ``JSONEncoder.encode`` makes a fresh ``c_make_encoder`` object each time
    (about a fifth of the cost of encoding a delivery); this makes it once,
    with the very arguments ``JSONEncoder.iterencode`` passes it. A test
    proves both give the same text. Where ``_json`` is missing, the stdlib way.
    """
    make: Any = getattr(json.encoder, "c_make_encoder", None)  # untyped in typeshed
    if make is None:  # pragma: no cover - CPython always has _json
        return _ENCODER.encode
    iterencode = make(
        None,  # markers: check_circular is off
        _ENCODER.default,
        json.encoder.encode_basestring,  # ensure_ascii is off
        None,  # indent
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        _ENCODER.sort_keys,
        _ENCODER.skipkeys,
        _ENCODER.allow_nan,
    )
    join = "".join

    def dumps(value: object) -> str:
        if type(value) is str:  # what JSONEncoder.encode special-cases
            return _ENCODER.encode(value)
        return join(iterencode(value, 0))

    return dumps


_dumps: Final = _one_encoder()


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    zone = value.tzinfo
    if type(zone) is ZoneInfo and zone.key:
        return f"{value.isoformat()}[{zone.key}]"
    return value.isoformat()


def _untime(text: str | None) -> datetime | None:
    if text is None:
        return None
    if text[-1] != "]":
        return datetime.fromisoformat(text)
    text, _, key = text[:-1].partition("[")
    parsed = datetime.fromisoformat(text)
    zone = ZoneInfo(key)
    # The same wall time in the same zone (a time in a DST gap or overlap
    # included); fold picks the offset that was written.
    for fold in (0, 1):
        value = parsed.replace(tzinfo=zone, fold=fold)
        if value.utcoffset() == parsed.utcoffset():
            return value
    return parsed.astimezone(zone)  # the zone's rules changed since: keep the instant


def _instant(text: str) -> datetime:
    value = _untime(text)
    if value is None:
        raise ValueError("a required time is null")
    return value


def _span(value: timedelta | None) -> int | None:
    return None if value is None else value // _MICRO


def _unspan(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(microseconds=value)


def delivery_key(delivery: Delivery) -> str:
    """What makes two copies of one delivery the same: key and content, as text."""
    ts = delivery.timestamp
    instant = "" if ts is None else f"{ts.timestamp():.6f}"
    duration = "" if delivery.call_duration is None else str(delivery.call_duration)
    status = delivery.call_status._value_  # .value, without the enum descriptor's cost
    return f"{delivery.sequence_number}|{status}|{instant}|{duration}"


def _delivery(d: Delivery, received_at: datetime | None) -> list[Any]:
    # Positional, for speed: this is the event stored for nearly every callback.
    ts = d.timestamp
    params = d.params
    form = params.form_body
    return [
        d.call_sid,
        d.sequence_number,
        d.call_status._value_,  # .value, without the enum descriptor's cost
        None if ts is None else _time(ts),
        d.call_duration,
        d.account_sid,
        # The form as received, or a tuple of pairs (JSON arrays of two strings).
        params.pairs if form is None else form,
        None if received_at is None else _time(received_at),
    ]


def _undelivery(o: list[Any]) -> Delivery:
    sid, seq, status, ts, duration, account, params = o
    return Delivery(
        call_sid=sid,
        sequence_number=seq,
        call_status=CallbackStatus(status),
        timestamp=_untime(ts),
        call_duration=duration,
        account_sid=account,
        params=_form(params)
        if type(params) is str
        else tuple((name, value) for name, value in params),
    )


def _form(body: str) -> CallbackParams:
    """Params to decode lazily from a stored form body, which must decode cleanly."""
    if not decodes_plainly(body):
        raise ValueError("a stored form body would not decode cleanly")
    return CallbackParams.from_form(body)


_RESOURCE_TEXT: Final = (
    "account_sid",
    "parent_call_sid",
    "to",
    "from_",
    "direction",
    "answered_by",
    "price",
    "price_unit",
    "uri",
)
_RESOURCE_TIMES: Final = ("date_created", "date_updated", "start_time", "end_time")


def _resource(r: CallResource) -> dict[str, Any]:
    out: dict[str, Any] = {"sid": r.sid, "status": r.status.value}
    for name in _RESOURCE_TEXT:
        out[name] = getattr(r, name)
    for name in _RESOURCE_TIMES:
        out[name] = _time(getattr(r, name))
    out["duration"] = r.duration
    out["ring_duration"] = r.ring_duration
    out["raw"] = [[name, value] for name, value in r.raw]
    return out


def _unresource(o: Mapping[str, Any]) -> CallResource:
    fields: dict[str, Any] = {name: o[name] for name in _RESOURCE_TEXT}
    for name in _RESOURCE_TIMES:
        fields[name] = _untime(o[name])
    return CallResource(
        sid=o["sid"],
        status=CallStatus(o["status"]),
        duration=o["duration"],
        ring_duration=o["ring_duration"],
        raw=tuple((name, value) for name, value in o["raw"]),
        **fields,
    )


def _accepted(e: DeliveryAccepted) -> list[Any]:
    return _delivery(e.delivery, e.received_at)


def _duplicate(e: DuplicateIgnored) -> dict[str, Any]:
    return {"sid": e.call_sid, "seq": e.sequence_number, "rcv": _time(e.received_at)}


def _observed(e: ResourceObserved) -> dict[str, Any]:
    return {"r": _resource(e.resource), "at": _time(e.observed_at)}


def _registered(e: CallRegistered) -> dict[str, Any]:
    return {"sid": e.call_sid, "at": _time(e.placed_at), "ring": _span(e.ring_timeout)}


def _requested(e: ReconciliationRequested) -> dict[str, Any]:
    return {"sid": e.call_sid, "at": _time(e.at)}


_ENCODERS: Final[dict[type, tuple[str, Callable[[Any], object]]]] = {
    DeliveryAccepted: ("delivery", _accepted),
    DuplicateIgnored: ("duplicate", _duplicate),
    ResourceObserved: ("resource", _observed),
    CallRegistered: ("registered", _registered),
    ReconciliationRequested: ("reconcile", _requested),
}

_DECODERS: Final[dict[str, Callable[[Any], Event]]] = {
    "delivery": lambda o: DeliveryAccepted(delivery=_undelivery(o[:7]), received_at=_untime(o[7])),
    "duplicate": lambda o: DuplicateIgnored(
        call_sid=o["sid"], sequence_number=o["seq"], received_at=_untime(o["rcv"])
    ),
    "resource": lambda o: ResourceObserved(
        resource=_unresource(o["r"]), observed_at=_untime(o["at"])
    ),
    "registered": lambda o: CallRegistered(
        call_sid=o["sid"], placed_at=_instant(o["at"]), ring_timeout=_unspan(o["ring"])
    ),
    "reconcile": lambda o: ReconciliationRequested(call_sid=o["sid"], at=_instant(o["at"])),
}


def encode(event: Event) -> tuple[str, str]:
    """``(kind, json_text)`` for ``event``. ``UsageError`` for what JSON cannot hold."""
    try:
        kind, encoder = _ENCODERS[type(event)]
    except KeyError:
        raise UsageError(f"not an event: {event!r}") from None
    try:
        return kind, _dumps(encoder(event))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"a {kind} event cannot be stored as JSON: {exc}") from exc


def decode(kind: str, text: str) -> Event:
    """The event ``encode`` gave ``(kind, text)`` for. ``StoreError`` if unreadable."""
    try:
        return _DECODERS[kind](_loads(text))
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"a stored {kind!r} event cannot be read: {exc!r}") from exc
