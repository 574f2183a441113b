"""Status callbacks from raw bytes or parameters into ``Delivery`` values.

The only exception that leaves this module is ``InvalidCallback``, naming the
field and the reason, whatever the input. The form decoder is written for the
shape of status callbacks (a dozen short ASCII fields): it splits once and
percent-decodes only the values that need it.

Only the fields the core reads (``CallSid``, ``CallStatus``,
``SequenceNumber``, ``Timestamp``, ``CallDuration``, ``AccountSid``) may
refuse a callback, by what they hold. Every other field is kept as received,
however long its name or value and however many there are: a provider does
not send a refused callback again, so refusing one for a field nobody reads
would lose the event. What bounds the receiver's work is the size of the
whole callback (``Limits.max_body_bytes``).

No parameter name may repeat: no provider repeats one in a status callback,
and a repeat is how a signed form can be reshaped and still verify
(Twilio's signature drops a pair identical to another; docs/security.md).
"""

from __future__ import annotations

import functools
import json
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Final, Union
from urllib.parse import unquote_plus

import attrs

from callstate._core._form import decodes_plainly, unquote_ascii
from callstate._core._time import parse_timestamp
from callstate._core._values import CallbackParams, CallbackStatus, Delivery
from callstate._errors import InvalidCallback

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "Params",
    "normalize_status",
    "params_of_json",
    "parse_callback",
    "parse_form",
    "parse_known",
    "parse_split",
    "split_form",
    "split_known",
    "unquote_ascii",
]

Params = Union[Mapping[str, Union[str, Sequence[str]]], Iterable[tuple[str, str]]]


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, not {value!r}")


def _ignored(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    _positive(instance, attribute, value)  # pragma: no mutate (instance is not read)
    if value != attribute.default:
        warnings.warn(
            f"Limits.{attribute.name} no longer refuses anything (a field callstate does"
            " not read is kept as received); only max_body_bytes bounds a callback",
            DeprecationWarning,
            stacklevel=3,
        )


@attrs.frozen(kw_only=True)
class Limits:
    """Bounds on what a status callback may be; past them it is rejected (400).

    ``max_body_bytes`` bounds the whole callback: its form body or query
    string, its JSON body, or, given as parameters, the characters of their
    names and values. Within it, fields callstate does not read are kept
    however long or many. ``max_fields``, ``max_name_length`` and
    ``max_value_length`` are deprecated: they no longer refuse anything
    (a value other than the default warns).
    """

    max_body_bytes: int = attrs.field(default=16_384, validator=_positive)
    max_fields: int = attrs.field(default=100, validator=_ignored)
    max_name_length: int = attrs.field(default=64, validator=_ignored)
    max_value_length: int = attrs.field(default=2_048, validator=_ignored)


DEFAULT_LIMITS: Final = Limits()

#: Largest SequenceNumber or CallDuration accepted (fits a signed 32-bit column).
MAX_NUMBER: Final = 2**31 - 1
_SID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}", re.ASCII)
#: ``_number`` of the numbers a callback usually carries (sequence, seconds).
_SMALL_NUMBERS: Final = {str(n): n for n in range(4_096)}
_STATUS: Final = {s.value: s for s in CallbackStatus}
_STATUS_CODE: Final = {s.value: code for code, s in enumerate(CallbackStatus)}
_FIELDS: Final = frozenset(
    ("CallSid", "CallStatus", "SequenceNumber", "Timestamp", "CallDuration", "AccountSid")
)


_NAN: Final = math.nan


def normalize_status(value: str) -> CallbackStatus | None:
    """A ``CallStatus`` in either vocabulary, any case, ``_`` or ``-``; or None."""
    found = _STATUS.get(value)  # pragma: no mutate (a shortcut: the lookup below finds it too)
    if found is None and len(value) <= 20:
        found = _STATUS.get(value.strip().lower().replace("_", "-").replace(" ", "-"))
    return found


def digits_value(digits: str) -> int:
    """The number ASCII ``digits`` spell, or ``MAX_NUMBER + 1`` for any above it.

    Leading zeros count for nothing; past ten digits, no int is made at all.
    """
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= 10 else MAX_NUMBER + 1


def _number(field: str, text: str) -> int:
    small = _SMALL_NUMBERS.get(text)  # pragma: no mutate (a shortcut: below gives the same)
    if small is not None:
        return small
    if not text:
        raise InvalidCallback(field, "is empty")
    if not (text.isascii() and text.isdigit()):
        raise InvalidCallback(field, f"must be a whole number of ASCII digits, not {text[:40]!r}")
    number = digits_value(text)
    if number > MAX_NUMBER:
        raise InvalidCallback(field, f"is out of range (at most {MAX_NUMBER})")
    return number


# An account's callbacks all carry its AccountSid, a call's its CallSid: the
# answer for recently seen text is kept (a pure function of the text).
@functools.lru_cache(maxsize=4_096)
def _well_formed_sid(text: str) -> bool:
    return _SID.fullmatch(text) is not None


def _sid(field: str, text: str) -> str:
    if not _well_formed_sid(text):
        if not text:
            raise InvalidCallback(field, "is empty")
        raise InvalidCallback(field, "must be 1 to 128 letters, digits or . _ : -")
    return text


def _decode(field: str, text: str) -> str:
    try:
        return unquote_plus(text, errors="strict")
    except UnicodeDecodeError:
        raise InvalidCallback(field, "is not valid UTF-8 once percent-decoded") from None


# The fast path: an ASCII body whose names need no decoding and whose escapes
# are all ASCII cannot fail to decode, so only the known fields are decoded now.
def _fast_fields(text: str) -> dict[str, str] | None:
    """The fields of a plain body by name, values still encoded; None when it needs care."""
    if not decodes_plainly(text):
        return None
    parts = text.split("&")
    fields = {}
    for part in parts:
        name, _, value = part.partition("=")
        if not name or "%" in name or "+" in name:
            return None
        fields[name] = value
    # A name seen twice goes the careful way, which refuses it.
    return fields if len(fields) == len(parts) else None


def _text_of(body: bytes | str, limits: Limits) -> str:
    if len(body) > limits.max_body_bytes:
        raise InvalidCallback("body", f"is larger than {limits.max_body_bytes} bytes")
    if isinstance(body, bytes):
        try:
            text = body.decode("ascii")  # pragma: no mutate ("ASCII": the same codec)
        except UnicodeDecodeError:
            try:
                text = body.decode("utf-8")  # pragma: no mutate ("UTF-8": the same codec)
            except UnicodeDecodeError:
                raise InvalidCallback("body", "is not valid UTF-8") from None
    elif isinstance(body, str):
        text = body
    else:
        raise InvalidCallback("body", f"must be bytes or str, not {type(body).__name__}")
    if ";" in text:
        raise InvalidCallback("body", "uses ';', which is not a separator of form fields")
    return text


def split_form(body: bytes | str, limits: Limits = DEFAULT_LIMITS) -> list[tuple[str, str]]:
    """Split a form body or query string into (name, value) pairs, within limits."""
    return _split(_text_of(body, limits))


def split_known(
    body: bytes | str, limits: Limits = DEFAULT_LIMITS
) -> tuple[tuple[tuple[str, str], ...], dict[str, str] | None]:
    """``split_form``'s pairs, and the same pairs as a dict when no name repeats (else None).

    The dict is what ``parse_known`` reads the known fields from; a
    signature reads it too (no name repeats: no pair does).
    """
    pairs = tuple(_split(_text_of(body, limits)))
    by_name = dict(pairs)
    return pairs, by_name if len(by_name) == len(pairs) else None


def _split(text: str) -> list[tuple[str, str]]:
    # The limits were checked on the whole text (``_text_of``): no field
    # refuses the callback for its length, nor for how many there are.
    pairs = []
    for part in text.split("&"):
        if part:
            # Most fields recur (a status, a number, an account's sid): short
            # ones are decoded once. The cache is bounded in entries and,
            # since only short fields go in, in memory.
            # (Whether a field is kept changes only the speed: the pragmas.)
            kept = len(part) <= _PAIR_KEPT  # pragma: no mutate
            pairs.append(_known_pair(part) if kept else _pair(part))  # pragma: no mutate
    return pairs


def _pair(part: str) -> tuple[str, str]:
    """A non-empty field as received (``name=value``), decoded: pure, raising as it refuses."""
    name, _, value = part.partition("=")
    # Without an escape of a non-ASCII byte, decoding cannot fail: the fast decoder.
    # (For such a field ``unquote_ascii`` is ``unquote_plus``.)
    plain = None  # pragma: no mutate (plain only picks the faster of two equal decoders)
    if "%" in name or "+" in name:
        plain = decodes_plainly(part)  # pragma: no mutate (as plain)
        name = unquote_ascii(name) if plain else _decode("body", name)
    if not name:
        raise InvalidCallback("body", "has a field with no name")
    if "%" in value or "+" in value:
        if plain is None:  # pragma: no mutate (as plain)
            plain = decodes_plainly(part)  # pragma: no mutate (as plain)
        value = unquote_ascii(value) if plain else _decode(_shown(name), value)
    return (name, value)


#: Fields longer than this are decoded each time (the cache holds short ones only).
#: Measured (callgrind, PYTHONHASHSEED=0, 2,000 signed benchmark callbacks through
#: callstate.web.wsgi into a CallBook, each environ built in the loop): 377.2k
#: instructions a webhook with the cache, 429.5k without (12% of the webhook).
_PAIR_KEPT: Final = 256  # pragma: no mutate (speed only)
_known_pair: Final = functools.lru_cache(maxsize=4_096)(_pair)  # pragma: no mutate (speed only)


#: A name quoted in an error is cut to this length (an answer stays short).
_SHOWN_NAME: Final = 64


def _shown(name: str) -> str:
    return name if len(name) <= _SHOWN_NAME else name[:_SHOWN_NAME] + "..."


def _pairs_of(params: Params, limits: Limits) -> list[tuple[str, str]]:
    items: Iterable[tuple[object, object]]
    if isinstance(params, Mapping):
        items = _flatten(params)
    else:
        items = params
    pairs = []
    # What a form body of these pairs would hold at the least (each name, "=",
    # value, and "&" between pairs) is bounded as a body is.
    size, limit = -1, limits.max_body_bytes
    try:
        for name, value in items:
            if not isinstance(name, str) or not name:
                raise InvalidCallback("params", "every parameter name must be a non-empty str")
            if not isinstance(value, str):
                raise InvalidCallback(_shown(name), f"must be a str, not {type(value).__name__}")
            size += len(name) + len(value) + 2
            if size > limit:
                raise InvalidCallback("params", f"hold more than {limit} characters")
            pairs.append((name, value))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InvalidCallback):
            raise
        raise InvalidCallback("params", "must be a mapping or (name, value) pairs") from None
    return pairs


def params_of_json(document: Mapping[str, object]) -> list[tuple[str, str]]:
    """The parameters of a callback written as a JSON object (a JSON body, a replay line).

    A null is an absent parameter. A field the core reads must be a string or
    a whole number; any other field is kept whatever it holds: a string as it
    is, a whole number as its digits, anything else as its JSON text (a list
    is one value, never repeated parameters).
    """
    pairs: list[tuple[str, str]] = []
    for name, value in document.items():
        if value is None:
            continue
        if type(value) is str:
            pairs.append((name, value))
        elif type(value) is int:
            pairs.append((name, str(value)))
        elif name in _FIELDS:
            raise InvalidCallback(name, "must be a string or a whole number")
        else:
            pairs.append((name, json.dumps(value, ensure_ascii=False, separators=(",", ":"))))
    return pairs


def _flatten(params: Mapping[str, str | Sequence[str]]) -> Iterable[tuple[object, object]]:
    for name, value in params.items():
        if isinstance(value, (list, tuple)):
            for item in value:
                yield name, item
        else:
            yield name, value


def parse_split(pairs: Sequence[tuple[str, str]]) -> Delivery:
    """Parse a status callback from the pairs ``split_form`` returned.

    For a caller that split the form already (to check a signature over the
    pairs): the same ``Delivery``, or the same ``InvalidCallback``, as
    ``parse_form`` of the raw form, without reading it twice. The limits
    were checked by ``split_form``.
    """
    return _delivery(pairs)


def parse_known(pairs: Sequence[tuple[str, str]], by_name: dict[str, str] | None) -> Delivery:
    """``parse_split(pairs)``, given the dict ``split_known`` returned with them."""
    if by_name is None:
        return _delivery(pairs)
    return _build(by_name, CallbackParams(pairs), encoded=False)


def _delivery(pairs: Sequence[tuple[str, str]]) -> Delivery:
    by_name = dict(pairs)
    if len(by_name) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise InvalidCallback(_shown(name), "is repeated")
            seen.add(name)
    return _build(by_name, CallbackParams(pairs), encoded=False)


def _build(found: dict[str, str], params: CallbackParams, *, encoded: bool) -> Delivery:
    """A Delivery from the fields by name: only the known ones are read (still form-encoded
    when ``encoded``)."""
    get = found.get
    call_sid, status_text, seq_text = get("CallSid"), get("CallStatus"), get("SequenceNumber")
    if call_sid is None:
        raise InvalidCallback("CallSid", "is missing")
    if status_text is None:
        raise InvalidCallback("CallStatus", "is missing")
    if seq_text is None:
        raise InvalidCallback("SequenceNumber", "is missing")
    duration_text, account_sid = get("CallDuration"), get("AccountSid")
    if encoded:
        # Known fields rarely need decoding; decode only those that do.
        if "%" in call_sid or "+" in call_sid:
            call_sid = unquote_ascii(call_sid)
        if "%" in status_text or "+" in status_text:
            status_text = unquote_ascii(status_text)
        if "%" in seq_text or "+" in seq_text:
            seq_text = unquote_ascii(seq_text)
        if duration_text and ("%" in duration_text or "+" in duration_text):
            duration_text = unquote_ascii(duration_text)
        if account_sid and ("%" in account_sid or "+" in account_sid):
            account_sid = unquote_ascii(account_sid)
    code = _STATUS_CODE.get(status_text)  # pragma: no mutate (normalize_status finds it too)
    if code is None:
        status = normalize_status(status_text)
        if status is None:
            raise InvalidCallback("CallStatus", f"is not a call status: {status_text[:40]!r}")
        code = _STATUS_CODE[status.value]
    timestamp, at = None, _NAN
    ts_text = get("Timestamp")
    if ts_text:
        timestamp, at = _timestamp(ts_text, encoded)
    # The checks in the order the fields are named below; the usual values pass
    # a quick test, the others get the full one (which names what is wrong).
    _sid("CallSid", call_sid)
    sequence_number = _SMALL_NUMBERS.get(seq_text)  # pragma: no mutate (_number gives the same)
    if sequence_number is None:
        sequence_number = _number("SequenceNumber", seq_text)
    duration = None
    if duration_text:
        duration = _SMALL_NUMBERS.get(duration_text)  # pragma: no mutate (_number: the same)
        if duration is None:
            duration = _number("CallDuration", duration_text)
    if not account_sid:
        account_sid = None
    else:
        _sid("AccountSid", account_sid)
    return Delivery._make(
        call_sid, sequence_number, code, timestamp, at, duration, account_sid, params
    )


# Callbacks arrive in bursts that share a Timestamp (one-second resolution):
# the value of recently seen text is kept, keyed by the text and whether it is
# still form-encoded (the same characters mean different things in each:
# "+" is a space only when encoded). Pure: a refused text raises, and is not kept.
@functools.lru_cache(maxsize=4_096)
def _timestamp(text: str, encoded: bool) -> tuple[datetime, float]:
    parsed = parse_timestamp(unquote_ascii(text) if encoded else text)
    if isinstance(parsed, str):
        raise InvalidCallback("Timestamp", parsed)
    return (parsed, parsed.timestamp())


def parse_form(body: bytes | str, *, limits: Limits = DEFAULT_LIMITS) -> Delivery:
    """Parse a status callback from a form body or a query string."""
    text = _text_of(body, limits)
    fields = _fast_fields(text)  # pragma: no mutate (None: the careful path, the same result)
    if fields is None:
        return _delivery(_split(text))
    return _build(fields, CallbackParams.from_form(text), encoded=True)


def parse_callback(source: bytes | str | Params, *, limits: Limits = DEFAULT_LIMITS) -> Delivery:
    """Parse a status callback from a raw body or query string, or from parameters.

    Parameters may be a mapping (a value may be a list, of one value: no name
    may repeat) or an iterable of (name, value) pairs. Raises
    ``InvalidCallback`` and nothing else.
    """
    if isinstance(source, (bytes, str)):
        return parse_form(source, limits=limits)
    return _delivery(_pairs_of(source, limits))
