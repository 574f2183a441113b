"""The fake provider's API answers: a request in, a status and a JSON body (or a ``Problem``) out.

Each API answers as its provider documents: under ``/2010-04-01`` as
Twilio, under ``/restcomm/2012-04-24`` and ``/call/2012-04-24`` as Restcomm
(see ``FakeProvider``). The calls it answers about are the switchboard's
(``_fake_calls``); nothing here touches a socket.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from email.utils import format_datetime
from typing import Final, Literal, Protocol
from urllib.parse import urlencode

import attrs

from callstate.testing._fake_calls import FakeCall, Switchboard, now

__all__ = [
    "Answers",
    "Flavour",
    "Problem",
    "Settings",
    "call_sid_of",
    "check_create",
    "flavour_of",
    "matches",
    "twiml_allowed",
]

Flavour = Literal["api19", "restcomm", "twilio"]
_PATH: Final = re.compile(
    r"^(?P<base>.*)/Accounts/(?P<account>[^/]+)/Calls(?:/(?P<sid>[^/]+?))?(?:\.json)?$"
)
_TWILIO_VERSION: Final = "2010-04-01"
_RESTCOMM_VERSION: Final = "2012-04-24"
#: Both Twilio and Restcomm: ``Status=canceled`` ends a call queued or ringing
#: (Restcomm also one waiting for answer, its ``initiated``) and does nothing to
#: a call in progress; ``Status=completed`` ends a live call in any state.
_LIVE_CANCELABLE: Final = frozenset({"queued", "initiated", "ringing"})
# Twilio's error codes (twilio.com/docs/errors/NNNNN) for what the fake refuses.
_TW_NOT_FOUND: Final = 20404
_TW_METHOD: Final = 20004
_TW_NO_TO: Final = 21201
_TW_NO_FROM: Final = 21213
_TW_BAD_URL: Final = 21205
_TW_CALLS: Final = 21200  # "a problem with a request to the Calls resource"
_TW_CALL_STATE: Final = 21220  # "a realtime operation on a Call that was not in-progress"


@attrs.frozen
class Problem:
    """Why a request is refused, and Twilio's error code for it (None: it has none)."""

    message: str
    code: int | None = None


class Settings(Protocol):
    """What the answers read of their provider's settings, each time they use one."""

    account_sid: str
    quirks: bool


def flavour_of(path: str) -> Flavour:
    """Whose API a request path is under: Twilio's, Restcomm's, or api19's."""
    base = path.split("/Accounts/", 1)[0]
    if base.endswith(f"/{_TWILIO_VERSION}"):
        return "twilio"
    if base.endswith(f"/restcomm/{_RESTCOMM_VERSION}"):
        return "restcomm"
    return "api19"


def call_sid_of(path: str) -> str | None:
    """The CallSid a request path names (a fetch, a modify), or None."""
    found = _PATH.match(path)
    return None if found is None else found["sid"]


class Answers:
    """The Calls API's answers about the switchboard's calls."""

    def __init__(self, settings: Settings, board: Switchboard) -> None:
        self._settings = settings
        self._board = board

    def answer(
        self, method: str, path: str, query: dict[str, str], form: list[tuple[str, str]]
    ) -> tuple[int, object, FakeCall | None]:
        """Route one authenticated API request: (status, JSON or ``Problem``, early call)."""
        flavour = flavour_of(path)
        found = _PATH.match(path)
        if found is None or found["account"] != self._settings.account_sid:
            message = f"The requested resource {path} was not found"
            return 404, Problem(message, _TW_NOT_FOUND), None
        sid = found["sid"]
        if method == "GET" and sid is None:
            return (*self._list(query, path, flavour), None)
        if method == "GET":
            return (*self._fetch(sid, flavour), None)
        if method == "DELETE" and sid is not None:
            return (*self._delete(sid, flavour), None)
        if method != "POST":
            return 405, Problem(f"{method} is not allowed here", _TW_METHOD), None
        if sid is not None:
            return (*self._modify(sid, dict(form), flavour), None)
        problem = check_create(dict(form), flavour)
        if problem is not None:
            return 400, problem, None
        call, resource = self._board.place(form, lambda call: self._resource(call, flavour))
        return 201, resource, call if call.early else None

    def _fetch(self, sid: str, flavour: Flavour) -> tuple[int, object]:
        with self._board.lock:
            call = self._board.calls.get(sid)
            if call is None:
                return 404, Problem(f"The requested resource {sid} was not found", _TW_NOT_FOUND)
            return 200, self._resource(call, flavour)

    def _time(self, value: datetime | None, *, rfc2822: bool) -> object:
        if value is None:
            return "null" if self._settings.quirks else None
        return format_datetime(value) if rfc2822 else value.isoformat()

    def _resource(self, call: FakeCall, flavour: Flavour) -> dict[str, object]:
        """The Call resource as ``flavour``'s API writes it.

        Twilio writes every time in RFC 2822 and leaves ``duration`` empty for
        a call that was not answered; Restcomm writes ``date_*`` in RFC 2822
        and ``start_time``/``end_time`` in ISO 8601 (its ``DateTime.toString``).
        """
        twilio = flavour == "twilio"
        status = call.status.upper().replace("-", "_") if self._settings.quirks else call.status
        null: object = "null" if self._settings.quirks else None
        version = _TWILIO_VERSION if twilio else _RESTCOMM_VERSION
        uri = f"/{version}/Accounts/{call.account_sid}/Calls/{call.sid}"
        duration: object = str(call.duration) if call.is_final else null
        if twilio and call.is_final and call.answered_at is None:
            duration = null
        return {
            "sid": call.sid,
            "date_created": self._time(call.created_at, rfc2822=True),
            "date_updated": self._time(now(), rfc2822=True),
            "parent_call_sid": null,
            "account_sid": call.account_sid,
            "to": call.to,
            "from": call.from_,
            "phone_number_sid": null,
            "status": status,
            "start_time": self._time(call.start_time, rfc2822=twilio),
            "end_time": self._time(call.end_time, rfc2822=twilio),
            "duration": duration,
            "price": null,
            "price_unit": "USD",
            "direction": "outbound-api",
            "answered_by": null,
            "api_version": version,
            "forwarded_from": null,
            "caller_name": null,
            "uri": f"{uri}.json",
            "subresource_uris": {
                "notifications": f"{uri}/Notifications.json",
                "recordings": f"{uri}/Recordings.json",
            },
        }

    def _list(self, query: dict[str, str], path: str, flavour: Flavour) -> tuple[int, object]:
        try:
            page = int(query.get("Page", "0"))
            size = int(query.get("PageSize", "50"))
        except ValueError:
            return 400, Problem("Page and PageSize must be whole numbers", _TW_CALLS)
        if page < 0 or not 1 <= size <= 1000:
            return 400, Problem("Page must be at least 0 and PageSize from 1 to 1000", _TW_CALLS)
        with self._board.lock:
            found = [c for c in self._board.calls.values() if matches(c, query)]
            total = len(found)
            num_pages = max(1, math.ceil(total / size))
            if page >= num_pages and page > 0:
                return 400, Problem(
                    f"Page {page} is past the last page ({num_pages - 1})", _TW_CALLS
                )
            chunk = found[page * size : (page + 1) * size]
            calls = [self._resource(c, flavour) for c in chunk]

        def link(n: int) -> str:
            return f"{path}?{urlencode({**query, 'Page': n, 'PageSize': size})}"

        answer: dict[str, object] = {
            "page": page,
            "num_pages": num_pages,
            "page_size": size,
            "total": total,
            "start": page * size,
            "end": page * size + max(0, len(chunk) - 1),
            "uri": link(page),
            "first_page_uri": link(0),
            "previous_page_uri": link(page - 1) if page > 0 else None,
            "next_page_uri": link(page + 1) if page + 1 < num_pages else None,
            "last_page_uri": link(num_pages - 1),
            "calls": calls,
        }
        if flavour == "twilio":  # Twilio's pages no longer count: no total, no last page
            for name in ("num_pages", "total", "last_page_uri"):
                del answer[name]
        return 200, answer

    def _modify(self, sid: str, form: dict[str, str], flavour: Flavour) -> tuple[int, object]:
        twilio = flavour == "twilio"
        with self._board.lock:
            call = self._board.calls.get(sid)
            if call is None:
                if flavour == "restcomm":  # CallsEndpoint.modifyCall: no record, 406
                    return 406, Problem(f"No call {sid}", None)
                return 404, Problem(f"The requested resource {sid} was not found", _TW_NOT_FOUND)
            if call.is_final:
                if twilio:
                    return 400, Problem(
                        f"Call {sid} is not in-progress ({call.status}): it cannot be modified",
                        _TW_CALL_STATE,
                    )
                return 410, Problem("Call is already completed.", None)
            status = form.get("Status")
            if status is not None and status.lower() not in ("canceled", "completed"):
                message = f"Status must be canceled or completed, not {status!r}"
                return 400, Problem(message, _TW_CALLS)
            if not twiml_allowed(flavour):
                form.pop("Twiml", None)  # not a parameter there: ignored, as any unknown one
            elif "Twiml" in form and "Url" in form:
                return 400, Problem("Twiml and Url are mutually exclusive", _TW_CALLS)
            if status is None and "Url" not in form and "Twiml" not in form:
                return 409, Problem("Nothing to modify: give Url, Twiml or Status", None)
            if status is not None and status.lower() == "canceled":
                if call.status in _LIVE_CANCELABLE:
                    self._board.end_now(call, "canceled")
                # else: documented to do nothing to a call in progress
            elif status is not None:
                # ``completed`` ends a live call in any state; one never answered
                # ends as ``canceled`` ("canceled via the REST API while queued or
                # ringing"): the fake never invents an answer.
                self._board.end_now(
                    call, "completed" if call.status == "in-progress" else "canceled"
                )
            elif "Url" in form:
                call.redirects.append((form["Url"], form.get("Method", "POST")))
            else:
                call.twiml_updates.append(form["Twiml"])
            return 200, self._resource(call, flavour)

    def _delete(self, sid: str, flavour: Flavour) -> tuple[int, object]:
        if flavour != "twilio":  # Restcomm's CallsEndpoint has no DELETE
            return 405, Problem("DELETE is not allowed here", None)
        with self._board.lock:
            call = self._board.calls.get(sid)
            if call is None:
                return 404, Problem(f"The requested resource {sid} was not found", _TW_NOT_FOUND)
            if not call.is_final:  # Twilio deletes "records of past calls"
                return 400, Problem(
                    f"Call {sid} is {call.status}: only the record of a past call is deleted",
                    _TW_CALL_STATE,
                )
            del self._board.calls[sid]
            return 204, None


def twiml_allowed(flavour: Flavour) -> bool:
    """Only Twilio's API takes ``Twiml`` and ``ApplicationSid``; Restcomm's requires ``Url``."""
    return flavour == "twilio"


def check_create(form: dict[str, str], flavour: Flavour) -> Problem | None:
    if not form.get("To"):
        return Problem("To is required", _TW_NO_TO)
    if not form.get("From"):
        return Problem("From is required", _TW_NO_FROM)
    if twiml_allowed(flavour):
        if not any(form.get(name) for name in ("Url", "Twiml", "ApplicationSid")):
            return Problem("Url, Twiml or ApplicationSid is required", _TW_CALLS)
    elif not form.get("Url"):
        return Problem("Url is required", None)
    if "Url" in form and not form["Url"].lower().startswith(("http://", "https://")):
        return Problem(f"Url is not a valid URL: {form['Url'][:80]!r}", _TW_BAD_URL)
    for name in ("Method", "FallbackMethod", "StatusCallbackMethod"):
        if name in form and form[name].upper() not in ("GET", "POST"):
            return Problem(f"{name} must be GET or POST", _TW_CALLS)
    if "Timeout" in form and not (form["Timeout"].isdigit() and int(form["Timeout"]) > 0):
        return Problem("Timeout must be a positive whole number", _TW_CALLS)
    return None


def matches(call: FakeCall, query: dict[str, str]) -> bool:
    status = query.get("Status", "").lower().replace("_", "-")
    day = call.created_at.date().isoformat()
    return (
        query.get("To", call.to) == call.to
        and query.get("From", call.from_) == call.from_
        and (not status or status == call.status)
        and query.get("StartTime", day) <= day
        and query.get("EndTime", day) >= day
        and "ParentCallSid" not in query
    )
