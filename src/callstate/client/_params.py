"""The parameters of the Calls API operations, validated before anything is sent.

Every rule is checked when the value is built; a broken rule raises
``InvalidParameter`` naming the parameter as the provider spells it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Final

import attrs

from callstate import _redact as redact
from callstate._core._state import CallStatus
from callstate._errors import InvalidParameter
from callstate.client._profile import check_http_url

__all__ = ["CallFilter", "CallParams", "EVENTS"]

#: The events a status callback can be subscribed to, in the order they happen.
EVENTS: Final = ("initiated", "ringing", "answered", "completed")
"""The status-callback events a call can subscribe to (``StatusCallbackEvent``)."""
_MAX_TEXT: Final = 2_048
#: Twilio's limit on ``Twiml`` ("Max 4000 characters").
MAX_TWIML: Final = 4_000
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
#: In TwiML, line breaks and tabs are layout; other control characters are not XML.
_TWIML_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_APPLICATION_SID: Final = re.compile(r"AP[0-9a-fA-F]{32}")
_KNOWN: Final = frozenset(
    {
        "To", "From", "Url", "Twiml", "ApplicationSid", "Method", "FallbackUrl",
        "FallbackMethod", "StatusCallback", "StatusCallbackMethod", "StatusCallbackEvent",
        "Timeout", "DetectVoicemail",
    }
)  # fmt: skip
#: What tells the provider how to run the call: exactly one of these is sent.
INSTRUCTIONS: Final = ("Url", "Twiml", "ApplicationSid")


def _text(field: str, value: object, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise InvalidParameter(field, "is required")
        return
    if not isinstance(value, str):
        raise InvalidParameter(field, f"must be text, not {type(value).__name__}")
    if not value.strip():
        raise InvalidParameter(field, "must not be empty")
    if len(value) > _MAX_TEXT:
        raise InvalidParameter(field, f"is longer than {_MAX_TEXT} characters")
    if _CONTROL.search(value):
        raise InvalidParameter(field, "must not contain control characters")


def _url(field: str, value: str | None, *, required: bool = False) -> None:
    _text(field, value, required=required)
    if value is not None:
        check_http_url(field, value)


def check_twiml(field: str, value: object) -> None:
    """Raise ``InvalidParameter`` unless ``value`` is TwiML text Twilio takes (4,000 characters)."""
    if not isinstance(value, str):
        raise InvalidParameter(field, f"must be text, not {type(value).__name__}")
    if not value.strip():
        raise InvalidParameter(field, "must not be empty")
    if len(value) > MAX_TWIML:
        raise InvalidParameter(field, f"is longer than {MAX_TWIML} characters")
    if _TWIML_CONTROL.search(value):
        raise InvalidParameter(field, "must not contain control characters but tab and line breaks")


def _application_sid(value: object) -> None:
    if not isinstance(value, str):
        raise InvalidParameter("ApplicationSid", f"must be text, not {type(value).__name__}")
    if not _APPLICATION_SID.fullmatch(value):
        raise InvalidParameter("ApplicationSid", "must be 'AP' and 32 hexadecimal digits")


def _one_instruction(given: dict[str, object]) -> None:
    """Exactly one of ``Url``, ``Twiml``, ``ApplicationSid``: the providers take one."""
    named = [name for name in INSTRUCTIONS if given.get(name) is not None]
    if not named:
        raise InvalidParameter(
            "Url", "is required (or, where the provider takes them, Twiml or ApplicationSid)"
        )
    if len(named) > 1:
        raise InvalidParameter(
            named[1],
            f"cannot be given with {named[0]}: give exactly one of Url, Twiml, ApplicationSid",
        )


def _method(field: str, value: str | None) -> None:
    if value is not None and value not in ("GET", "POST"):
        raise InvalidParameter(field, f"must be GET or POST, not {str(value)[:20]!r}")


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _events(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, Iterable):
        raise InvalidParameter("StatusCallbackEvent", "must be a list of event names")
    names = list(value)
    for name in names:
        if name not in EVENTS:
            raise InvalidParameter(
                "StatusCallbackEvent", f"{str(name)[:30]!r} is not one of {', '.join(EVENTS)}"
            )
    return tuple(e for e in EVENTS if e in names)


@attrs.frozen(kw_only=True)
class CallParams:
    """What to send to place one call (``POST Calls.json``).

    ``to`` and ``from_`` are required, and exactly one of ``url``, ``twiml``
    (TwiML to run, at most 4,000 characters) and ``application_sid`` (an
    ``AP...`` SID: the application's own URLs and status callback are used,
    so ``method``, the fallback and the status-callback fields cannot be
    given with it); ``twiml`` and ``application_sid`` are Twilio's, refused
    before sending on a profile without them. ``method`` goes with ``url``
    only. Methods are GET or POST;
    ``status_callback_event`` is a subset of ``initiated, ringing, answered,
    completed`` (a list, or a comma-separated string), kept in event order;
    ``timeout`` is a positive whole number of seconds; URLs are absolute
    http(s). ``extra`` carries parameters this library does not know by name.
    """

    to: str
    from_: str
    url: str | None = attrs.field(default=None, repr=redact.urls)
    twiml: str | None = attrs.field(default=None, repr=redact.urls)  # TwiML holds URLs too
    application_sid: str | None = None
    method: str | None = attrs.field(default=None, converter=_upper)
    fallback_url: str | None = attrs.field(default=None, repr=redact.urls)
    fallback_method: str | None = attrs.field(default=None, converter=_upper)
    status_callback: str | None = attrs.field(default=None, repr=redact.urls)
    status_callback_method: str | None = attrs.field(default=None, converter=_upper)
    status_callback_event: tuple[str, ...] = attrs.field(default=(), converter=_events)
    timeout: int | None = None
    detect_voicemail: bool | None = None
    extra: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=tuple, repr=redact.urls)

    def __attrs_post_init__(self) -> None:
        _text("To", self.to, required=True)
        _text("From", self.from_, required=True)
        _one_instruction(
            {"Url": self.url, "Twiml": self.twiml, "ApplicationSid": self.application_sid}
        )
        _url("Url", self.url)
        if self.twiml is not None:
            check_twiml("Twiml", self.twiml)
        if self.application_sid is not None:
            _application_sid(self.application_sid)
            ignored = (
                ("Method", self.method),
                ("FallbackUrl", self.fallback_url),
                ("FallbackMethod", self.fallback_method),
                ("StatusCallback", self.status_callback),
                ("StatusCallbackMethod", self.status_callback_method),
                ("StatusCallbackEvent", self.status_callback_event or None),
            )
            for name, value in ignored:
                if value is not None:
                    raise InvalidParameter(
                        name,
                        "is the application's to set: the provider ignores it with ApplicationSid",
                    )
        if self.method is not None and self.url is None:
            raise InvalidParameter("Method", "is how Url is fetched: give it with Url only")
        _method("Method", self.method)
        _url("FallbackUrl", self.fallback_url)
        _method("FallbackMethod", self.fallback_method)
        _url("StatusCallback", self.status_callback)
        _method("StatusCallbackMethod", self.status_callback_method)
        if self.timeout is not None and (
            isinstance(self.timeout, bool) or not isinstance(self.timeout, int) or self.timeout < 1
        ):
            raise InvalidParameter("Timeout", "must be a positive whole number of seconds")
        if self.detect_voicemail is not None and not isinstance(self.detect_voicemail, bool):
            raise InvalidParameter("DetectVoicemail", "must be True or False")
        for pair in self.extra:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise InvalidParameter("extra", "must be (name, value) pairs")
            name, text = pair
            _text(f"extra {name!r}", name, required=True)
            _text(name, text, required=True)
            if name in _KNOWN:
                raise InvalidParameter(name, "has its own field: do not pass it in extra")

    def form(self, *, repeat_events: bool = False) -> list[tuple[str, str]]:
        """The form fields, in a stable order; events repeated or comma-joined."""
        pairs = [("To", self.to), ("From", self.from_)]
        instructions = (
            ("Url", self.url),
            ("Twiml", self.twiml),
            ("ApplicationSid", self.application_sid),
        )
        pairs.extend((name, value) for name, value in instructions if value is not None)
        optional = (
            ("Method", self.method),
            ("FallbackUrl", self.fallback_url),
            ("FallbackMethod", self.fallback_method),
            ("StatusCallback", self.status_callback),
            ("StatusCallbackMethod", self.status_callback_method),
        )
        pairs.extend((name, value) for name, value in optional if value is not None)
        if self.status_callback_event:
            if repeat_events:
                pairs.extend(("StatusCallbackEvent", e) for e in self.status_callback_event)
            else:
                pairs.append(("StatusCallbackEvent", ",".join(self.status_callback_event)))
        if self.timeout is not None:
            pairs.append(("Timeout", str(self.timeout)))
        if self.detect_voicemail is not None:
            pairs.append(("DetectVoicemail", "yes" if self.detect_voicemail else "no"))
        pairs.extend(self.extra)
        return pairs


def _day(field: str, value: date | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    _text(field, value)
    return value


@attrs.frozen(kw_only=True)
class CallFilter:
    """The filters of ``GET Calls.json``: all optional, combined with AND."""

    to: str | None = None
    from_: str | None = None
    status: CallStatus | None = attrs.field(default=None)
    start_time: date | str | None = None
    end_time: date | str | None = None
    parent_call_sid: str | None = None

    def __attrs_post_init__(self) -> None:
        _text("To", self.to)
        _text("From", self.from_)
        _text("ParentCallSid", self.parent_call_sid)
        if self.status is not None and not isinstance(self.status, CallStatus):
            raise InvalidParameter("Status", "must be a CallStatus")
        if self.status is CallStatus.ENDED:
            raise InvalidParameter("Status", "'ended' is callstate's own status, not a provider's")

    def query(self) -> list[tuple[str, str]]:
        """The query parameters, in a stable order."""
        fields = (
            ("To", self.to),
            ("From", self.from_),
            ("Status", None if self.status is None else self.status.value),
            ("StartTime", _day("StartTime", self.start_time)),
            ("EndTime", _day("EndTime", self.end_time)),
            ("ParentCallSid", self.parent_call_sid),
        )
        return [(name, value) for name, value in fields if value is not None]
