"""callstate's signature check agrees with Twilio's own validator (twilio-python).

twilio-python's ``RequestValidator`` is the oracle: for every generated
request (a form POST, a GET, a JSON body covered by ``bodySHA256``; any
scheme, host, port, path and query), signed over the URL as received or in
another form, then left alone or tampered with, callstate accepts exactly
when the validator does. The domain is the requests Twilio can send: http(s)
URLs with a host name and a port from 1 to 65535, at most one ``bodySHA256``
(Twilio writes one), and one ``AccountSid`` at most (callstate refuses a
repeated one on purpose: it picks the secret).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from callstate import CallBook
from callstate._errors import VerificationFailed
from callstate.testing.web_contract import callback
from callstate.web import TwilioSignature, WebhookHandler, WebhookRequest
from callstate.web._signature import body_sha256, twilio_signature

AT = datetime(2026, 11, 24, 10, 15, 33, tzinfo=UTC)
TOKEN = "oracle-token"
OTHER_TOKEN = "someone-else"


class _MultiDict(dict[str, list[str]]):
    """Form parameters as twilio-python reads a framework's: every value of a name."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def _twilio_params(pairs: list[tuple[str, str]]) -> _MultiDict:
    found = _MultiDict()
    for name, value in pairs:
        found.setdefault(name, []).append(value)
    return found


_schemes = st.sampled_from(["http", "https"])
_hosts = st.sampled_from(["calls.example.com", "Receiver.Example", "10.0.0.5", "h"])
_ports = st.one_of(
    st.none(), st.sampled_from(["80", "443", "8080", "8443"]), st.integers(1, 65535).map(str)
)
_segments = st.text(st.characters(codec="utf-8", exclude_characters="\0"), min_size=1, max_size=6)
_paths = st.lists(_segments, max_size=3).map(lambda parts: "/" + "/".join(map(quote, parts)))
_names = st.sampled_from(["tenant", "x", "From", "To", "Digits", "CallerName"]) | st.text(
    "abcXYZ09_-", min_size=1, max_size=5
)
_values = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=8)
_pairs = st.lists(st.tuples(_names, _values), max_size=4)

#: What is done to a request once it is signed (or how it is signed).
_TAMPERS = (
    "none",
    "other token",
    "other scheme",
    "other host",
    "other path",
    "query value changed",
    "query pair added",
    "query pair dropped",
    "param value changed",
    "param pair added",
    "identical param pair added",
    "param pair dropped",
    "body changed",
    "bodySHA256 dropped",
    "bodySHA256 upper-cased by the signer",
    "signature changed",
)


@st.composite
def webhooks(draw: st.DrawFn) -> dict[str, object]:
    """A request as received, the form of its URL that was signed, and its verdict's inputs."""
    kind = draw(st.sampled_from(["form", "GET", "json"]))
    scheme, host, port, path = draw(_schemes), draw(_hosts), draw(_ports), draw(_paths)
    query = draw(_pairs)
    params = [*callback(call_sid="CA7"), *draw(_pairs)]
    tamper = draw(st.sampled_from(_TAMPERS))
    # The port of the URL the provider signed: as received, none, either
    # default, or any other.
    signed_port = draw(st.one_of(st.just(port), st.sampled_from([None, "80", "443"]), _ports))
    return {
        "kind": kind,
        "scheme": scheme,
        "host": host,
        "port": port,
        "path": path,
        "query": query,
        "params": params,
        "tamper": tamper,
        "signed_port": signed_port,
        "json_ascii": draw(st.booleans()),
    }


def _url(scheme: str, host: str, port: str | None, path: str, query: list[tuple[str, str]]) -> str:
    authority = host if port is None else f"{host}:{port}"
    return f"{scheme}://{authority}{path}" + (f"?{urlencode(query)}" if query else "")


def _build(case: dict[str, object]) -> dict[str, object]:
    """Sign the case as the provider would, then tamper with what is received."""
    kind, tamper = case["kind"], case["tamper"]
    scheme, host, path = str(case["scheme"]), str(case["host"]), str(case["path"])
    port, signed_port = case["port"], case["signed_port"]
    query = list(case["query"])  # type: ignore[call-overload]
    params = list(case["params"])  # type: ignore[call-overload]
    body = b""
    signed_query = list(query)
    if kind == "GET":
        signed_query = [*query, *params]
    elif kind == "json":
        text = json.dumps(dict(params), ensure_ascii=bool(case["json_ascii"]))
        body = text.encode()
        digest = body_sha256(body)
        if tamper == "bodySHA256 upper-cased by the signer":
            digest = digest.upper()
        signed_query = [*query, ("bodySHA256", digest)]
    signed_url = _url(scheme, host, signed_port, path, signed_query)  # type: ignore[arg-type]
    signed_params = params if kind == "form" else []
    token = OTHER_TOKEN if tamper == "other token" else TOKEN
    signature = twilio_signature(token, signed_url, signed_params)

    # What arrives ("changed": the request is no longer the one signed).
    received_query = list(signed_query)
    changed = tamper in ("other token", "signature changed")
    if tamper == "other scheme":
        scheme, changed = ("https" if scheme == "http" else "http"), True
    elif tamper == "other host":
        host, changed = host + "x", True
    elif tamper == "other path":
        path, changed = path + "x", True
    elif tamper == "query value changed" and received_query:
        name, value = received_query[0]
        received_query[0], changed = (name, value + "1"), True
    elif tamper == "query pair added":
        received_query.append(("added", "1"))
        changed = True
    elif tamper == "query pair dropped" and received_query:
        del received_query[0]
        changed = True
    elif tamper == "bodySHA256 dropped" and kind == "json":
        received_query = [pair for pair in received_query if pair[0] != "bodySHA256"]
        changed = True
    elif tamper == "bodySHA256 upper-cased by the signer" and kind == "json":
        changed = True  # signed as it arrives, but the hash is not the one Twilio writes
    elif tamper == "signature changed":
        signature = ("B" if signature[0] == "A" else "A") + signature[1:]
    if kind == "form":
        if tamper == "param value changed":
            params[-1] = (params[-1][0], params[-1][1] + "1")
            changed = True
        elif tamper == "param pair added":
            params.append(("Added", "1"))
            changed = True
        elif tamper == "identical param pair added":
            params.append(params[-1])  # the same pair twice is signed as once
        elif tamper == "param pair dropped":
            params = [pair for pair in params if pair[0] != "Timestamp"]
            changed = True
        body = urlencode(params).encode()
    elif kind == "json" and tamper == "body changed":
        body = body.replace(b"CA7", b"CA8")
        changed = True
    url = _url(scheme, host, port, path, received_query)  # type: ignore[arg-type]
    return {
        "url": url,
        "body": body,
        "params": params,
        "signature": signature,
        "changed": changed,
    }


def _twilio_accepts(kind: object, url: str, body: bytes, params: list[tuple[str, str]], sig: str):
    validator = RequestValidator(TOKEN)
    if kind == "form":
        return validator.validate(url, _twilio_params(params), sig)
    if kind == "GET":
        return validator.validate(url, {}, sig)
    try:
        return validator.validate(url, body.decode(), sig)
    except TypeError:
        # A JSON body with no bodySHA256: the validator reads the body's
        # characters as parameter names and fails (a 500 in an app): refused.
        assert "bodySHA256" not in url
        return False


def _request(kind: object, url: str, body: bytes, params: list[tuple[str, str]], sig: str):
    headers = {"x-twilio-signature": sig}
    if kind == "json":
        headers["content-type"] = "application/json"
    return WebhookRequest(
        method="GET" if kind == "GET" else "POST",
        url=url,
        headers=headers,
        body=body,
        params=tuple(params),
        form=kind == "form",
        received_at=AT,
    )


def _callstate_accepts(request: WebhookRequest) -> bool:
    try:
        TwilioSignature(secrets=[TOKEN]).verify(request)
    except VerificationFailed:
        return False
    return True


@given(webhooks())
def test_callstate_accepts_exactly_what_twilios_validator_accepts(case):
    built = _build(case)
    url, body, params, signature = built["url"], built["body"], built["params"], built["signature"]
    kind = case["kind"]
    oracle = _twilio_accepts(kind, url, body, params, signature)
    request = _request(kind, url, body, params, signature)
    assert _callstate_accepts(request) == oracle, (url, signature)
    # Through the handler, as an adapter calls it: refused with a 403 exactly
    # when the oracle refuses (an accepted one is stored, or refused 400 after).
    handler = WebhookHandler(CallBook(), verifier=TwilioSignature(secrets=[TOKEN]))
    answer = handler(request.method, url, request.headers, body if kind != "GET" else b"", AT)
    assert (answer.status != 403) == oracle, (url, answer.body)
    event(f"{kind}: {'accepted' if oracle else 'refused'}")
    if not built["changed"] and _same_form(case):
        assert oracle, "a request signed over its own URL (in either form) is accepted"
    if case["tamper"] in _URL_TAMPERS and built["changed"]:
        assert not oracle, "a request changed after it was signed is refused"


#: Changes that no collision of the signed text can hide (parameter changes can:
#: names and values are signed with no separator, issue 22.7).
_URL_TAMPERS = frozenset(
    {
        "other token",
        "other scheme",
        "other host",
        "other path",
        "query pair added",
        "body changed",
        "bodySHA256 dropped",
        "bodySHA256 upper-cased by the signer",
        "signature changed",
    }
)


def _same_form(case: dict[str, object]) -> bool:
    """The URL was signed without a port, or with the port it was received on, or the default."""
    port, signed = case["port"], case["signed_port"]
    default = "443" if case["scheme"] == "https" else "80"
    return signed in (None, port) or (port is None and signed == default)


# The cases of issue 15.2, written out (the property finds them as well).


@pytest.mark.parametrize("kind", ["form", "GET", "json"])
@pytest.mark.parametrize(
    ("received", "signed", "accepted"),
    [
        # A receiver on a non-default port, signed over the URL without it.
        ("https://host.example:8443/callbacks", "https://host.example/callbacks", True),
        ("https://host.example:8443/callbacks", "https://host.example:8443/callbacks", True),
        ("http://host.example:8080/callbacks", "http://host.example/callbacks", True),
        # Another port is another receiver.
        ("https://host.example:8443/callbacks", "https://host.example:8444/callbacks", False),
        ("https://host.example:8443/callbacks", "https://host.example:443/callbacks", False),
        ("https://host.example/callbacks", "https://host.example:8443/callbacks", False),
        # The default port, either way.
        ("https://host.example/callbacks", "https://host.example:443/callbacks", True),
        ("https://host.example:443/callbacks", "https://host.example/callbacks", True),
    ],
)
def test_ports_as_twilios_validator_reads_them(kind, received, signed, accepted):
    params = callback(call_sid="CA15")
    body = b""
    signed_params: list[tuple[str, str]] = []
    received_url, signed_url = received, signed
    if kind == "form":
        body, signed_params = urlencode(params).encode(), params
    elif kind == "GET":
        received_url, signed_url = (
            f"{received}?{urlencode(params)}",
            f"{signed}?{urlencode(params)}",
        )
    else:
        body = json.dumps(dict(params)).encode()
        received_url = f"{received}?bodySHA256={body_sha256(body)}"
        signed_url = f"{signed}?bodySHA256={body_sha256(body)}"
    signature = twilio_signature(TOKEN, signed_url, signed_params)
    assert _twilio_accepts(kind, received_url, body, params, signature) is accepted
    request = _request(kind, received_url, body, params, signature)
    assert _callstate_accepts(request) is accepted
    handler = WebhookHandler(CallBook(), verifier=TwilioSignature(secrets=[TOKEN]))
    answer = handler(request.method, received_url, request.headers, body, AT)
    assert answer.status == (204 if accepted else 403), answer.body
