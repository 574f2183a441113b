"""What a webhook handler reads and answers: plain values, no framework."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final, Union

import attrs

from callstate import _redact as redact
from callstate._core._parse import Limits, params_of_json, split_known
from callstate._errors import InvalidCallback, InvalidInput
from callstate.web._url import query_of

__all__ = [
    "Headers",
    "NormalizedHeaders",
    "Params",
    "WebhookRequest",
    "WebhookResponse",
    "json_object",
    "normalize_headers",
    "params_of",
]

#: Header names lower-cased; a repeated header's values joined with ", ".
Headers = Mapping[str, str]

FORM: Final = "application/x-www-form-urlencoded"
JSON: Final = "application/json"


class NormalizedHeaders(dict[str, str]):
    """Headers an adapter read already normalized: names lower-cased, repeats joined.

    ``normalize_headers`` takes them as they are instead of building them again.
    """

    __slots__ = ()

    def add(self, key: str, value: str) -> None:
        """Add a header whose name is lower-cased already."""
        self[key] = f"{self[key]}, {value}" if key in self else value


def normalize_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-case names; join repeated values with ", " (as HTTP allows)."""
    if type(headers) is NormalizedHeaders:
        return headers
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


@attrs.frozen(kw_only=True)
class WebhookRequest:
    """One webhook, read: what a ``Verifier`` checks.

    ``url`` is the public URL the provider called (rebuilt from trusted
    forwarded headers), ``params`` every parameter it sent, from the form
    body, the JSON body or the query string; ``form`` is true when they came
    from a form body (so a signature covers them).
    """

    method: str
    url: str = attrs.field(repr=redact.urls)
    headers: Headers = attrs.field(eq=False, repr=redact.headers)
    body: bytes = attrs.field(repr=redact.urls)
    params: tuple[tuple[str, str], ...]
    form: bool
    received_at: datetime


@attrs.frozen(kw_only=True)
class WebhookResponse:
    """The HTTP answer: status, headers (name, value) and a short text body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @classmethod
    def text(cls, status: int, text: str, *extra: tuple[str, str]) -> WebhookResponse:
        """An answer whose body is one line of text (a refusal's reason)."""
        return cls(
            status=status,
            headers=(("Content-Type", "text/plain; charset=utf-8"), *extra),
            body=f"{text}\n".encode(),
        )

    @classmethod
    def no_content(cls, *headers: tuple[str, str]) -> WebhookResponse:
        """``204 No Content``: what there is to say goes in ``headers``."""
        return cls(status=204, headers=headers, body=b"")

    def framed_headers(self) -> tuple[tuple[str, str], ...]:
        """``headers`` and the ``Content-Length`` the status allows (none on a 204)."""
        if self.status == 204:
            return self.headers
        return (*self.headers, ("Content-Length", str(len(self.body))))


class _Repeated(ValueError):
    """A JSON object names a key twice (raised from inside ``json.loads``)."""


def _once(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object's pairs as a dict; ``_Repeated`` if a key repeats (no value replaces one)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise _Repeated
    return document


class _Marked(dict[str, object]):
    """A JSON object that named ``repeated`` twice (the slow path's: to find its place)."""

    __slots__ = ("repeated",)
    repeated: str


def _marked(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document: dict[str, object] = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                document = _Marked(document)
                document.repeated = name
                break
            seen.add(name)
    return document


def _repeated_at(value: object, path: str) -> str | None:
    """The dotted name of the first repeated key in ``value`` (a decoded JSON value)."""
    if isinstance(value, _Marked):
        return f"{path}.{value.repeated}" if path else value.repeated
    if isinstance(value, dict):
        items: Iterable[tuple[str, object]] = value.items()
    elif isinstance(value, list):
        items = ((f"[{i}]", item) for i, item in enumerate(value))
    else:
        return None
    for name, item in items:
        inner = f"{path}{name}" if name.startswith("[") else f"{path}.{name}" if path else name
        found = _repeated_at(item, inner)
        if found is not None:
            return found
    return None


def json_object(body: bytes) -> dict[str, object]:
    """A JSON body decoded: an object, no key repeated at any depth.

    ``InvalidCallback`` for ``body`` (not JSON, not an object) or for the
    repeated key, named by its path (``data.payload.hangup_cause: is
    repeated``): a later value never silently replaces an earlier one.
    """
    try:
        document = json.loads(body, object_pairs_hook=_once)
    except _Repeated:
        try:
            found = _repeated_at(json.loads(body, object_pairs_hook=_marked), "")
        except RecursionError:
            found = None
        raise InvalidCallback((found or "body")[:64], "is repeated") from None
    except (ValueError, RecursionError):
        raise InvalidCallback("body", "is not valid JSON") from None
    if not isinstance(document, dict):
        raise InvalidCallback("body", "must be a JSON object of parameters")
    return document


def _json_pairs(body: bytes) -> list[tuple[str, str]]:
    return params_of_json(json_object(body))


#: The parameters of a callback as ``params_of`` reads them: the pairs, whether
#: they came from a form body, and, from a form or a query string where no
#: name repeats, the same pairs as a dict (``split_known``'s); else None.
Params = tuple[tuple[tuple[str, str], ...], bool, Union[dict[str, str], None]]


def params_of(method: str, url: str, headers: Headers, body: bytes, limits: Limits) -> Params:
    """The parameters of a callback to ``url`` (from its query string for a GET)."""
    if method == "GET":
        pairs, by_name = split_known(query_of(url), limits)
        return pairs, False, by_name
    if len(body) > limits.max_body_bytes:
        raise InvalidCallback("body", f"is larger than {limits.max_body_bytes} bytes")
    media = headers.get("content-type")
    if media is not None and media != FORM:
        media = media.partition(";")[0].strip().lower()
    if media is None or media in (FORM, ""):
        pairs, by_name = split_known(body, limits)
        return pairs, True, by_name
    if media == JSON:
        return tuple(_json_pairs(body)), False, None
    raise InvalidInput("Content-Type", f"must be {FORM} or {JSON}")
