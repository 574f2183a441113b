"""``callstate export``: stored calls as the JSON Lines ``callstate replay`` reads back.

Each call is written whole (every event of it, in version order), calls in
the order they were first stored. What each event becomes:

- an accepted delivery: ``{"body": <its form body>, "received_at": ...}``
  (the parameters exactly as received);
- a copy that was ignored: its delivery again, with the copy's
  ``received_at`` (replayed, it is a copy again);
- a fetched Call resource: ``{"resource": <its fields as received>,
  "observed_at": ...}`` (a resource kept without the fields as received, one
  built by hand say, is written from its typed fields);
- a placement: ``{"registered": {"call_sid": ..., "placed_at": ...,
  "ring_timeout": <seconds, or null>}}``;
- a reconciliation request: ``{"reconciliation_requested": {"call_sid": ...,
  "at": ...}}``.

Every event a store can hold has its line. ``left_out`` stays in the report
(always 0 today) so that a reader of the report keeps working should a later
event kind have no line yet.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import IO, Any
from urllib.parse import urlencode

import attrs

from callstate._core._values import (
    CallRegistered,
    CallResource,
    Delivery,
    DeliveryAccepted,
    DuplicateIgnored,
    ReconciliationRequested,
    ResourceObserved,
)
from callstate.stores import EventStore, StoredEvent

__all__ = ["ExportReport", "export_calls", "replay_lines"]

_PAGE = 1_000


@attrs.frozen(kw_only=True)
class ExportReport:
    """What an export wrote: calls, lines, and events no replay line can hold (none today)."""

    calls: int
    lines: int
    left_out: int

    def as_json(self) -> dict[str, int]:
        return attrs.asdict(self)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _delivery_line(delivery: Delivery, received_at: datetime | None) -> dict[str, Any]:
    params = delivery.params
    body = params.form_body
    if body is None:
        body = urlencode(list(params.pairs))
    line: dict[str, Any] = {"body": body}
    if received_at is not None:
        line["received_at"] = _time(received_at)
    return line


#: A resource's typed fields and the name its JSON gives each (``from_`` is ``from``).
_RESOURCE_FIELDS: tuple[tuple[str, str], ...] = tuple(
    (field.name, field.name.rstrip("_"))
    for field in attrs.fields(CallResource)
    if field.name not in ("sid", "status", "raw")
)


def _resource_fields(resource: CallResource) -> dict[str, Any]:
    """The resource as received, or (kept without that) as its typed fields give it."""
    if resource.raw:
        return dict(resource.raw)
    fields: dict[str, Any] = {"sid": resource.sid, "status": resource.status.value}
    for attribute, name in _RESOURCE_FIELDS:
        value = getattr(resource, attribute)
        if value is not None:
            fields[name] = value.isoformat() if isinstance(value, datetime) else value
    return fields


def _seconds(value: timedelta | None) -> float | int | None:
    if value is None:
        return None
    seconds = value.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def replay_lines(stored: Sequence[StoredEvent]) -> tuple[list[dict[str, Any]], int]:
    """One call's events as replay lines, and how many events have none."""
    lines: list[dict[str, Any]] = []
    accepted: dict[int, Delivery] = {}
    left_out = 0
    for item in stored:
        event = item.event
        if isinstance(event, DeliveryAccepted):
            accepted.setdefault(event.delivery.sequence_number, event.delivery)
            lines.append(_delivery_line(event.delivery, event.received_at))
        elif isinstance(event, DuplicateIgnored) and event.sequence_number in accepted:
            lines.append(_delivery_line(accepted[event.sequence_number], event.received_at))
        elif isinstance(event, ResourceObserved):
            line: dict[str, Any] = {"resource": _resource_fields(event.resource)}
            if event.observed_at is not None:
                line["observed_at"] = _time(event.observed_at)
            lines.append(line)
        elif isinstance(event, CallRegistered):
            placed = {
                "call_sid": event.call_sid,
                "placed_at": _time(event.placed_at),
                "ring_timeout": _seconds(event.ring_timeout),
            }
            lines.append({"registered": placed})
        elif isinstance(event, ReconciliationRequested):
            request = {"call_sid": event.call_sid, "at": _time(event.at)}
            lines.append({"reconciliation_requested": request})
        else:
            left_out += 1
    return lines, left_out


def _calls_in_order(store: EventStore) -> Iterator[str]:
    """Every CallSid in the store, in the order of its first stored event."""
    seen: set[str] = set()
    after = 0
    while page := store.read_all(after, _PAGE):
        for item in page:
            if item.call_sid not in seen:
                seen.add(item.call_sid)
                yield item.call_sid
        after = page[-1].position


def export_calls(
    store: EventStore, wanted: Callable[[Sequence[StoredEvent]], bool], out: IO[str]
) -> ExportReport:
    """Write every call ``wanted`` takes (given its events) to ``out``, a line per arrival."""
    calls = lines = left_out = 0
    for sid in _calls_in_order(store):
        stored = store.load(sid)
        if not stored or not wanted(stored):
            continue
        written, missing = replay_lines(stored)
        for line in written:
            out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        calls += 1
        lines += len(written)
        left_out += missing
    return ExportReport(calls=calls, lines=lines, left_out=left_out)
