"""What a dialect is built from: the rule for callbacks with no usable sequence number,
and two bases (form fields, JSON documents) that read the request for you.

The rule (docs/concepts.md, "Providers without a sequence number"): such a
callback's ``SequenceNumber`` is derived from what it says, never from when it
came:

    sequence = slot(status) * 10_000_000 + crc32(identity) % 10_000_000

``slot`` is the status's rank in ``SLOTS``, a pinned table (queued 0 ...
``completed`` 5, then the failures ``busy`` 6, ``failed`` 7, ``no-answer`` 8,
``canceled`` 9; never derived from ``CallbackStatus``' order, since stored
events' sequence numbers come from it: a new status gets a new slot),
so the order comes from the status's rank, a final status stays absorbing
(the core never moves a call back), and of two final claims the failure
outranks ``completed`` whatever their order of arrival. ``identity`` is the
provider's event id where it has one, else the event's timestamp as sent
(else nothing): two copies of one event get one sequence number and, their
content being the same, are duplicates; two events of one status at
different times are two events, not a conflict.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Final

from callstate._core._parse import Limits, params_of_json
from callstate._core._parse import _sid as _checked_sid
from callstate._core._time import parse_timestamp
from callstate._core._values import CallbackParams, CallbackStatus, Delivery
from callstate._errors import InvalidCallback, InvalidValue
from callstate.web._request import Headers, json_object

__all__ = [
    "SLOT",
    "SLOTS",
    "FormDialect",
    "JsonDialect",
    "duration_of",
    "ranked_delivery",
    "ranked_sequence",
    "sid_of",
    "text_of",
    "text_or_none",
    "timestamp_of",
]

#: The room each status has for its events' identities: slot * SLOT + crc32 % SLOT.
SLOT: Final = 10_000_000
S = CallbackStatus
#: Each status's slot, pinned: stored events' sequence numbers are derived from it, so a
#: slot never moves (a status added to ``CallbackStatus`` gets its own, written here).
SLOTS: Final = MappingProxyType(
    {
        S.QUEUED: 0,
        S.INITIATED: 1,
        S.RINGING: 2,
        S.IN_PROGRESS: 3,
        S.ANSWERED: 4,
        S.COMPLETED: 5,
        S.BUSY: 6,
        S.FAILED: 7,
        S.NO_ANSWER: 8,
        S.CANCELED: 9,
    }
)


def ranked_sequence(status: CallbackStatus, identity: str | None = None) -> int:
    """The ``SequenceNumber`` of an event of ``status`` known by ``identity`` (see the module)."""
    room = 0 if not identity else zlib.crc32(identity.encode("utf-8")) % SLOT
    return SLOTS[status] * SLOT + room


def ranked_delivery(
    *,
    call_sid: str,
    status: CallbackStatus,
    identity: str | None,
    params: CallbackParams,
    timestamp: datetime | None = None,
    call_duration: int | None = None,
    account_sid: str | None = None,
) -> Delivery:
    """A ``Delivery`` whose sequence number is ``ranked_sequence(status, identity)``.

    A field that breaks ``Delivery``'s rules is an ``InvalidCallback`` naming it.
    """
    try:
        return Delivery(
            call_sid=call_sid,
            sequence_number=ranked_sequence(status, identity),
            call_status=status,
            timestamp=timestamp,
            call_duration=call_duration,
            account_sid=account_sid or None,
            params=params,
        )
    except InvalidValue as exc:
        raise InvalidCallback(exc.field, exc.reason) from None


def text_of(document: Mapping[str, object], name: str, *, shown: str | None = None) -> str:
    """The non-empty string ``document[name]``, or ``InvalidCallback`` naming ``shown or name``."""
    value = document.get(name)
    field = shown or name
    if value is None:
        raise InvalidCallback(field, "is missing")
    if not isinstance(value, str):
        raise InvalidCallback(field, f"must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidCallback(field, "is empty")
    return value


def text_or_none(
    document: Mapping[str, object], name: str, *, shown: str | None = None
) -> str | None:
    """The string ``document[name]``; None when it is absent, null or empty.

    Any other type is an ``InvalidCallback`` naming ``shown or name``: a field
    the dialect reads is never dropped for its type in silence.
    """
    value = document.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidCallback(shown or name, f"must be a string, not {type(value).__name__}")
    return value


def sid_of(document: Mapping[str, object], name: str, *, shown: str | None = None) -> str:
    """``text_of`` a call's or account's id, held to the core's rule for a ``CallSid``.

    1 to 128 letters, digits or ``. _ : -`` (a UUID, ``v3:...``, ``c-...``):
    what a store key and a ``/calls/{id}`` path can carry.
    """
    return _checked_sid(shown or name, text_of(document, name, shown=shown))


def timestamp_of(field: str, text: str | None) -> datetime | None:
    """``text`` read as a time (RFC 2822 or ISO 8601 with a zone); None for none."""
    if not text:
        return None
    parsed = parse_timestamp(text)
    if isinstance(parsed, str):
        raise InvalidCallback(field, parsed)
    return parsed


def duration_of(field: str, value: object) -> int | None:
    """Whole seconds written as digits or a JSON number; None for none or empty."""
    if value is None or value == "":
        return None
    if type(value) is int:
        seconds = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        seconds = int(value)
    else:
        raise InvalidCallback(field, f"must be a whole number of seconds, not {str(value)[:40]!r}")
    if not 0 <= seconds <= 2**31 - 1:
        raise InvalidCallback(field, "is out of range (at most 2147483647)")
    return seconds


def _once(params: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The pairs by name; a name that repeats is refused (no value replaces another)."""
    by_name: dict[str, str] = {}
    for name, value in params:
        if name in by_name:
            raise InvalidCallback(name[:64], "is repeated")
        by_name[name] = value
    return by_name


class FormDialect:
    """A dialect of form fields (a POST's form body, or a GET's query string).

    Subclass it and write ``read(fields, params)``: ``fields`` are the
    callback's parameters by name (no name repeats: a repeat is refused, as
    the Twilio family's parser refuses it), ``params`` the same pairs as
    received, to keep in the ``Delivery``.
    """

    __slots__ = ()

    def parse(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes,
        params: tuple[tuple[str, str], ...],
        form: bool,
        by_name: dict[str, str] | None,
        limits: Limits,
    ) -> Delivery:
        if not form and method != "GET":
            raise InvalidCallback("Content-Type", "must be application/x-www-form-urlencoded")
        if by_name is None:
            by_name = _once(params)
        return self.read(by_name, CallbackParams(params))

    def read(self, fields: Mapping[str, str], params: CallbackParams) -> Delivery:
        """The delivery these fields say; ``InvalidCallback`` naming the field at fault."""
        raise NotImplementedError


class JsonDialect:
    """A dialect of JSON documents (a POST's JSON body; a GET's query string as a flat one).

    Subclass it and write ``read(document)``: ``document`` is the JSON object
    as decoded (for a GET, the query's parameters as strings). No key repeats,
    at any depth: a repeat is refused naming it (``data.payload.status: is
    repeated``), as ``FormDialect`` refuses a repeated field.
    ``params_of(document)`` gives the flat parameters to keep in the
    ``Delivery`` (nested objects as their JSON text).
    """

    __slots__ = ()

    def parse(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes,
        params: tuple[tuple[str, str], ...],
        form: bool,
        by_name: dict[str, str] | None,
        limits: Limits,
    ) -> Delivery:
        document: Mapping[str, object]
        if method == "GET" or form:
            document = _once(params) if by_name is None else by_name
        else:
            # No key repeats, at any depth: a later value never replaces an earlier one.
            document = json_object(body)
        return self.read(document)

    def read(self, document: Mapping[str, object]) -> Delivery:
        """The delivery this document says; ``InvalidCallback`` naming the field at fault."""
        raise NotImplementedError

    @staticmethod
    def params_of(document: Mapping[str, object]) -> CallbackParams:
        """The document's fields as (name, value) pairs: strings as they are, the rest as JSON."""
        return CallbackParams(params_of_json(document))
