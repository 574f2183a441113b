"""The sans-I/O Calls API client: operations in, plain requests out, answers read.

``CallsApi`` never touches a socket. Each method returns an ``Operation``:
the ``Request`` to send, whether it is safe to send again, and the function
that reads its ``Response``. ``Calls`` and ``AsyncCalls`` run operations
through a transport; you may run them through anything else.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Final, Generic, TypeVar, cast
from urllib.parse import quote, urlencode

import attrs

from callstate._core._call import CallState
from callstate._core._state import CallStatus
from callstate._core._values import CallResource
from callstate._errors import BadResponse, InvalidParameter, ModificationRefused, UsageError
from callstate._version import __version__
from callstate.client._answers import CallPage, read_page, read_resource, read_resources
from callstate.client._http import MAX_RESPONSE_BYTES, Request, Response
from callstate.client._params import _MAX_TEXT as _MAX_SID
from callstate.client._params import CallFilter, CallParams, _text, _url, check_twiml
from callstate.client._profile import Profile

__all__ = ["CallsApi", "Operation"]

T = TypeVar("T")

_FORM: Final = "application/x-www-form-urlencoded"
_MAX_PAGE_SIZE: Final = 1_000
#: Where a cancel does something, by the call's known status: Twilio and Restcomm
#: document that ``Status=canceled`` ends a call queued or ringing and does nothing
#: to a call in progress. ``Status=completed`` (hang up) ends a live call in any
#: state, so only a final status refuses it.
_CANCELABLE: Final = frozenset({CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING})


@attrs.frozen(kw_only=True)
class Operation(Generic[T]):
    """A request, and how to read its answer.

    ``repeatable`` is True only for requests that change nothing (GET): a
    runner may send those again after a transport error or a 5xx, never the
    others.
    """

    request: Request
    read: Callable[[Response], T]
    repeatable: bool


def _sid(field: str, value: object) -> str:
    _text(field, value, required=True)
    if not isinstance(value, str):  # _text refused it already; this tells the type checker
        raise InvalidParameter(field, "must be text")
    if "/" in value or "?" in value or "#" in value:
        raise InvalidParameter(field, "must not contain '/', '?' or '#'")
    return value


def _status_of(known: CallState | CallStatus | None) -> CallStatus | None:
    if known is None or isinstance(known, CallStatus):
        return known
    if isinstance(known, CallState):
        return known.status
    raise UsageError(f"known must be a CallState or a CallStatus, not {type(known).__name__}")


@attrs.frozen(kw_only=True)
class CallsApi:
    """The Calls API of one account, spoken without I/O.

    ``account_sid`` and ``token`` are the Basic-auth credentials; ``profile``
    says which provider (``Profile.api19()`` by default) and at what address.
    """

    account_sid: str = attrs.field(repr=True)
    token: str = attrs.field(repr=False)
    profile: Profile = attrs.field(factory=Profile.api19)
    max_response_bytes: int = attrs.field(default=MAX_RESPONSE_BYTES)
    user_agent: str = f"callstate/{__version__}"
    _headers: tuple[tuple[str, str], ...] = attrs.field(init=False, repr=False)
    _calls_url: str = attrs.field(init=False, repr=False)
    #: ``self._resource``, bound once: every fetch's ``Operation.read``.
    _read_resource: Callable[[Response], CallResource] = attrs.field(
        init=False, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        _sid("AccountSid", self.account_sid)
        _text("token", self.token, required=True)
        basic = base64.b64encode(f"{self.account_sid}:{self.token}".encode()).decode("ascii")
        headers = (
            ("Authorization", f"Basic {basic}"),
            ("Accept", "application/json"),
            ("User-Agent", self.user_agent),
        )
        object.__setattr__(self, "_headers", headers)
        account = quote(self.account_sid, safe="")
        object.__setattr__(self, "_calls_url", f"{self.profile.base_url}/Accounts/{account}/Calls")
        object.__setattr__(self, "_read_resource", self._resource)

    # Building requests.

    def _get(self, url: str) -> Request:
        return Request(
            method="GET", url=url, headers=self._headers, max_response_bytes=self.max_response_bytes
        )

    def _post(self, url: str, form: list[tuple[str, str]]) -> Request:
        return Request(
            method="POST",
            url=url,
            headers=(*self._headers, ("Content-Type", _FORM)),
            body=urlencode(form).encode("ascii"),
            max_response_bytes=self.max_response_bytes,
        )

    def _call_url(self, call_sid: str) -> str:
        # A CallSid as providers issue them (ASCII letters and digits) passes every
        # rule of ``_sid`` and is its own percent-encoding.
        fast = type(call_sid) is str and call_sid.isascii() and call_sid.isalnum()
        if fast and len(call_sid) <= _MAX_SID:
            return f"{self._calls_url}/{call_sid}.json"
        return f"{self._calls_url}/{quote(_sid('CallSid', call_sid), safe='')}.json"

    # Reading answers.

    def _resources(self, response: Response) -> tuple[CallResource, ...]:
        return read_resources(response, self.max_response_bytes)

    def _resource(self, response: Response) -> CallResource:
        return read_resource(response, self.max_response_bytes)

    # The operations.

    def create_call(self, params: CallParams) -> Operation[tuple[CallResource, ...]]:
        """Place a call. Answers one Call resource per leg (one, unless it forked)."""
        if not isinstance(params, CallParams):
            raise UsageError(f"params must be CallParams, not {type(params).__name__}")
        self._check_profile("Twiml", params.twiml, self.profile.takes_twiml)
        self._check_profile(
            "ApplicationSid", params.application_sid, self.profile.takes_application_sid
        )
        form = params.form(repeat_events=self.profile.repeat_events)
        request = self._post(f"{self._calls_url}.json", form)
        return Operation(request=request, read=self._resources, repeatable=False)

    def fetch_call(self, call_sid: str) -> Operation[CallResource]:
        """Fetch one call: how a missed outcome is reconciled."""
        # ``_get(_call_url(call_sid))``, with the fast path of ``_call_url`` inline.
        if (
            type(call_sid) is str
            and call_sid.isascii()
            and call_sid.isalnum()
            and len(call_sid) <= _MAX_SID
        ):
            url = f"{self._calls_url}/{call_sid}.json"
        else:
            url = self._call_url(call_sid)
        return Operation(request=self._get(url), read=self._read_resource, repeatable=True)

    def list_calls(
        self,
        where: CallFilter | None = None,
        *,
        page: int = 0,
        page_size: int | None = None,
    ) -> Operation[CallPage]:
        """One page of calls matching ``where``; pages count from 0."""
        if isinstance(page, bool) or not isinstance(page, int) or page < 0:
            raise InvalidParameter("Page", "must be a whole number, at least 0")
        if page_size is not None and (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= _MAX_PAGE_SIZE
        ):
            raise InvalidParameter("PageSize", f"must be a whole number from 1 to {_MAX_PAGE_SIZE}")
        query = (where or CallFilter()).query()
        query.append(("Page", str(page)))
        if page_size is not None:
            query.append(("PageSize", str(page_size)))
        return self._page_at(f"{self._calls_url}.json?{urlencode(query)}", page)

    def next_page(
        self, found: CallPage, where: CallFilter | None = None, *, page_size: int | None = None
    ) -> Operation[CallPage] | None:
        """The page after ``found`` (read with the same ``where``), or None after the last.

        A profile that follows ``next_page_uri`` takes it only as a path on
        the same host: credentials never go to an address an answer chose.
        """
        if found.is_last:
            return None
        uri = found.next_page_uri
        if self.profile.follow_next_page_uri and uri is not None:
            if not uri.startswith("/") or uri.startswith("//") or "\\" in uri:
                raise BadResponse(200, f"next_page_uri is not a path on this host: {uri[:80]!r}")
            return self._page_at(f"{self.profile.origin}{uri}", found.page + 1)
        return self.list_calls(where, page=found.page + 1, page_size=page_size)

    def _page_at(self, url: str, page: int) -> Operation[CallPage]:
        limit = self.max_response_bytes

        def read(response: Response) -> CallPage:
            return read_page(response, limit, page)

        return Operation(request=self._get(url), read=read, repeatable=True)

    def redirect_call(
        self,
        call_sid: str,
        url: str | None = None,
        *,
        twiml: str | None = None,
        method: str | None = None,
        known: CallState | CallStatus | None = None,
    ) -> Operation[CallResource]:
        """Make a live call fetch new instructions from ``url``, or run ``twiml`` (Twilio)."""
        if (url is None) == (twiml is None):
            raise InvalidParameter("Url", "give exactly one of Url and Twiml")
        form: list[tuple[str, str]]
        if twiml is not None:
            self._check_profile("Twiml", twiml, self.profile.takes_twiml)
            check_twiml("Twiml", twiml)
            if method is not None:
                raise InvalidParameter("Method", "is how Url is fetched: give it with Url only")
            form = [("Twiml", twiml)]
        else:
            _url("Url", url, required=True)
            form = [("Url", cast(str, url))]
        if method is not None:
            if method.upper() not in ("GET", "POST"):
                raise InvalidParameter("Method", f"must be GET or POST, not {method[:20]!r}")
            form.append(("Method", method.upper()))
        self._check(call_sid, "redirect", _status_of(known), None)
        return self._modify(call_sid, form)

    def cancel_call(
        self, call_sid: str, *, known: CallState | CallStatus | None = None
    ) -> Operation[CallResource]:
        """End a call that is still queued or ringing (``Status=canceled``).

        The providers document that a cancel does nothing to a call in
        progress: with ``known`` in progress it is refused before sending.
        """
        self._check(call_sid, "cancel", _status_of(known), _CANCELABLE)
        return self._modify(call_sid, [("Status", "canceled")])

    def hang_up_call(
        self, call_sid: str, *, known: CallState | CallStatus | None = None
    ) -> Operation[CallResource]:
        """End a live call in any state, ringing or in progress (``Status=completed``)."""
        self._check(call_sid, "hang up", _status_of(known), None)
        return self._modify(call_sid, [("Status", "completed")])

    def _modify(self, call_sid: str, form: list[tuple[str, str]]) -> Operation[CallResource]:
        request = self._post(self._call_url(call_sid), form)
        return Operation(request=request, read=self._resource, repeatable=False)

    def _check_profile(self, field: str, value: object, takes: bool) -> None:
        if value is not None and not takes:
            raise InvalidParameter(
                field, f"is not a parameter of the {self.profile.name} profile's API: give Url"
            )

    @staticmethod
    def _check(
        call_sid: str,
        action: str,
        status: CallStatus | None,
        allowed: frozenset[CallStatus] | None,
    ) -> None:
        _sid("CallSid", call_sid)
        if status is None:
            return
        if status.is_final:
            raise ModificationRefused(call_sid, action, status.value, "the call is already over")
        if allowed is not None and status not in allowed:
            hint = "a cancel does nothing to a call in progress: use hang up"
            raise ModificationRefused(call_sid, action, status.value, hint)
