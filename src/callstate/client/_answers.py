"""Reading the provider's answers: Call resources, list pages and errors of every shape.

One function decides what an answer means. A 2xx must carry the JSON it
promises; anything else becomes the typed error its status names, with the
provider's message taken from whatever body it sent: JSON ``{"message"}``,
Twilio's ``{"code", "message", "more_info", "status"}``, XML, an HTML error
page or bare text.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Final

import attrs

from callstate._core._resource import parse_call_resource, parse_call_resources, whole_number
from callstate._core._values import CallResource
from callstate._errors import (
    ApiResponseError,
    AuthenticationFailed,
    BadResponse,
    CallGone,
    CallNotFound,
    InvalidResource,
    NothingToModify,
    RateLimited,
    RequestRejected,
    ServerError,
)
from callstate.client._http import Response

__all__ = [
    "CallPage",
    "error_for",
    "read_json",
    "read_page",
    "read_resource",
    "read_resources",
    "retry_after",
]

_MAX_MESSAGE: Final = 500
#: How much of an error body is read for its message: the head of the body, at most.
#: A message is clipped to ``_MAX_MESSAGE`` characters anyway; reading a hostile
#: 8 MiB answer to its end bought nothing but the time to scan it.
MAX_SCANNED_BYTES: Final = 16 * 1024
_BY_STATUS: Final[dict[int, type[ApiResponseError]]] = {
    401: AuthenticationFailed,
    403: AuthenticationFailed,
    404: CallNotFound,
    409: NothingToModify,
    410: CallGone,
    429: RateLimited,
}
# Every pattern here runs in linear time: ``[^<>]*`` stops at the next ``<``,
# so no character is scanned from more than one starting point.
_TAG: Final = re.compile(r"<[^<>]*>")
_SPACE: Final = re.compile(r"\s+")
_MESSAGE_TAGS: Final = ("Message", "message", "Detail", "detail")
_CODE_TAGS: Final = ("Code", "code")
_TITLE_TAGS: Final = ("title", "TITLE", "Title")


def _clip(text: str) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _too_big(response: Response, limit: int) -> BadResponse:
    return BadResponse(response.status, f"the answer is larger than {limit} bytes")


def _element(text: str, names: tuple[str, ...], attributes: bool = False) -> str | None:
    """The text of the first ``<name>...</name>`` of any of ``names``, found in linear time.

    What ``<(a|b)>(.*?)</\\1>`` finds, without its quadratic search: for one
    name, the first opening tag is the only one worth trying (if no closing
    tag follows it, none follows a later one), so each name costs two
    ``str.find`` calls (and a skip past each ``<nameX`` that is another
    tag). ``attributes``: the opening tag may carry some (``<title lang="en">``).
    """
    best: tuple[int, str] | None = None
    for name in names:
        start = text.find(f"<{name}")
        while start != -1:
            after = start + len(name) + 1
            if after < len(text) and (
                text[after] == ">" or (attributes and text[after] in " \t\n/")
            ):
                break
            start = text.find(f"<{name}", after)
        if start == -1:
            continue
        opened = text.find(">", start)
        close = text.find(f"</{name}>", opened)
        if opened != -1 and close != -1 and (best is None or start < best[0]):
            best = (start, text[opened + 1 : close])
    return None if best is None else best[1]


def _scalar(value: object) -> str | None:
    """A message or code as text, if it is one: never the text of a nested structure."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        return _clip(str(value)) if not isinstance(value, str) or value.strip() else None
    return None


def _message_of(response: Response) -> tuple[str, str | None, str | None]:
    """The provider's message, code and more_info, from a body of any shape.

    Only the first ``MAX_SCANNED_BYTES`` of the body are read; JSON is parsed
    only when the whole body fits in them. Nothing here raises: a body it
    cannot read gives its clipped head as the message.
    """
    head = response.body[:MAX_SCANNED_BYTES]
    text = head.decode("utf-8", "replace").strip()
    if not text:
        return (f"no message (HTTP {response.status})", None, None)
    if text[:1] in "{[" and len(response.body) <= MAX_SCANNED_BYTES:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, list) and data and isinstance(data[0], Mapping):
            data = data[0]
        if isinstance(data, Mapping):
            message = next(
                (
                    m
                    for k in ("message", "Message", "detail", "error")
                    if (m := _scalar(data.get(k)))
                ),
                None,
            )
            more_info = data.get("more_info")
            return (
                message if message is not None else _clip(text),
                _scalar(data.get("code", data.get("Code"))),
                more_info[:_MAX_MESSAGE] if isinstance(more_info, str) else None,
            )
    if text.startswith("<"):
        found = _element(text, _MESSAGE_TAGS)
        if found is not None:
            code_found = _element(text, _CODE_TAGS)
            code = _clip(html.unescape(code_found)) if code_found is not None else None
            return (_clip(html.unescape(_TAG.sub("", found))), code, None)
        title = _element(text, _TITLE_TAGS, attributes=True)
        if title is not None:
            return (_clip(html.unescape(title)), None, None)
        return (_clip(html.unescape(_TAG.sub(" ", text))) or "an empty XML answer", None, None)
    return (_clip(text), None, None)


def error_for(response: Response, limit: int) -> ApiResponseError:
    """The typed error an answer that is not a 2xx stands for."""
    if len(response.body) > limit:
        return _too_big(response, limit)
    message, code, more_info = _message_of(response)
    status = response.status
    if status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif 400 <= status < 500:
        cls = RequestRejected
    elif status >= 500:
        cls = ServerError
    else:
        cls = BadResponse
        message = _clip(f"unexpected HTTP status {status}: {message}")
    if cls is RateLimited:
        return RateLimited(
            status, message, code=code, more_info=more_info, retry_after=retry_after(response)
        )
    return cls(status, message, code=code, more_info=more_info)


#: The longest pause a ``Retry-After`` is read as (a day): anything longer is as good as never.
_MAX_RETRY_AFTER: Final = 86_400.0


def retry_after(response: Response) -> float | None:
    """The seconds an answer's ``Retry-After`` asks to wait, or None if it asks none we can read.

    Seconds as digits, or an HTTP date, read against the answer's own
    ``Date`` (no clock is read here); an HTTP date without ``Date`` is None.
    """
    raw = response.header("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isascii() and raw.isdigit():
        return min(float(raw), _MAX_RETRY_AFTER)
    sent = response.header("Date")
    if sent is None:
        return None
    try:
        when, now = parsedate_to_datetime(raw), parsedate_to_datetime(sent)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None or now.tzinfo is None:
        return None
    return min(max(0.0, (when - now).total_seconds()), _MAX_RETRY_AFTER)


# The scanner ``json.loads`` ends in (C, where built), with the settings it
# uses: ``JSONDecoder.__init__`` sets it as ``scan_once`` (typeshed omits it).
_scan: Final[Callable[[str, int], tuple[object, int]]] = vars(json.JSONDecoder())["scan_once"]


def _loads(body: bytes) -> object:
    """``json.loads(body)``, with less Python around the scanner for the usual answer.

    To ``json.loads``, bytes that start with ``{`` or ``[`` and then anything
    but NUL are UTF-8 (no byte-order mark, not UTF-16 or 32), and the value is
    what the scanner reads from the first character, if only JSON whitespace
    follows it. Anything else, and any failure, goes to ``json.loads`` itself,
    which raises what it raises.
    """
    # 123 and 91: ``{`` and ``[``; then a byte that is not NUL, or none.
    if type(body) is bytes and body and body[0] in (123, 91) and (len(body) == 1 or body[1]):
        try:
            text = body.decode("utf-8", "surrogatepass")
            value, end = _scan(text, 0)
        except (StopIteration, ValueError, RecursionError):
            pass  # json.loads raises what it raises
        else:
            if end == len(text) or not text[end:].strip(" \t\n\r"):
                return value
    return json.loads(body)


def read_json(response: Response, limit: int) -> object:
    """The JSON of a 2xx answer; the typed error of any other."""
    if not 200 <= response.status < 300:
        raise error_for(response, limit)
    if len(response.body) > limit:
        raise _too_big(response, limit)
    try:
        return _loads(response.body)
    except (ValueError, RecursionError) as exc:
        kind = response.header("content-type") or "no content type"
        raise BadResponse(
            response.status, f"the answer is not JSON ({kind}): {_clip(str(exc))}"
        ) from exc


def read_resources(response: Response, limit: int) -> tuple[CallResource, ...]:
    """One Call resource, or each leg of a forked call (Restcomm answers an array)."""
    data = read_json(response, limit)
    try:
        return parse_call_resources(data)
    except InvalidResource as exc:
        raise BadResponse(response.status, f"not a Call resource: {exc}") from exc


def read_resource(response: Response, limit: int) -> CallResource:
    """One Call resource (the first leg, if the provider answered an array)."""
    data = read_json(response, limit)
    try:
        return parse_call_resource(data) if type(data) is dict else parse_call_resources(data)[0]
    except InvalidResource as exc:
        raise BadResponse(response.status, f"not a Call resource: {exc}") from exc


def _link(data: Mapping[str, object], name: str) -> str | None:
    value = data.get(name)
    if not isinstance(value, str) or value.strip().lower() in ("", "null"):
        return None
    return value


@attrs.frozen(kw_only=True)
class CallPage:
    """One page of ``GET Calls.json``. Counts the provider left out are None."""

    calls: tuple[CallResource, ...]
    page: int
    page_size: int | None = None
    num_pages: int | None = None
    total: int | None = None
    start: int | None = None
    end: int | None = None
    uri: str | None = None
    next_page_uri: str | None = None
    raw: tuple[tuple[str, object], ...] = attrs.field(default=(), eq=False, repr=False)

    @property
    def is_last(self) -> bool:
        """No page follows this one, by every sign the provider gave."""
        if not self.calls:
            return True
        if self.num_pages is not None and self.page + 1 >= self.num_pages:
            return True
        if self.total is not None and self.end is not None and self.end + 1 >= self.total:
            return True
        if "next_page_uri" in dict(self.raw) and self.next_page_uri is None:
            return True
        return self.page_size is not None and len(self.calls) < self.page_size


def read_page(response: Response, limit: int, page: int) -> CallPage:
    """A page of calls, read tolerantly (numbers as text, ``"null"``, missing counts)."""
    data = read_json(response, limit)
    if not isinstance(data, Mapping):
        kind = type(data).__name__
        raise BadResponse(response.status, f"a page must be a JSON object, not {kind}")
    calls = data.get("calls", [])
    if not isinstance(calls, list):
        kind = type(calls).__name__
        raise BadResponse(response.status, f"not a page of calls: calls must be a list, not {kind}")
    try:
        got = whole_number(data, "page")
        return CallPage(
            calls=tuple(parse_call_resource(item) for item in calls),
            page=page if got is None else got,
            page_size=whole_number(data, "page_size"),
            num_pages=whole_number(data, "num_pages"),
            total=whole_number(data, "total"),
            start=whole_number(data, "start"),
            end=whole_number(data, "end"),
            uri=_link(data, "uri"),
            next_page_uri=_link(data, "next_page_uri"),
            raw=tuple((str(k), v) for k, v in data.items()),
        )
    except InvalidResource as exc:
        raise BadResponse(response.status, f"not a page of calls: {exc}") from exc
