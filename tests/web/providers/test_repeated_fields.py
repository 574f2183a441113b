"""A field sent twice is refused naming it, by every bundled dialect, in every encoding:
a JSON body's repeated key at any depth, a query string's or a form's repeated name.
A later value never silently replaces an earlier one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate.providers import get
from callstate.testing.provider_contract import URL, ProviderRequest, prepared
from callstate.web import WebhookResponse
from tests.web.providers._stories import fixture

#: The fixture files of the providers whose callbacks are JSON documents.
JSON_FIXTURES = {"telnyx": "telnyx_call_control", "vonage": "vonage", "bandwidth": "bandwidth"}
#: Every bundled provider with a form or query-string sample (the Twilio family's, Plivo's).
FORM_FIXTURES = {
    "twilio": "signalwire",
    "signalwire": "signalwire",
    "telnyx-texml": "telnyx_texml",
    "plivo": "plivo",
}


def _paths(value: object, path: str = "") -> Iterator[tuple[str, list[str]]]:
    """Each key of a JSON document: its dotted path, and the keys leading to it."""
    if isinstance(value, dict):
        for name, item in value.items():
            here = f"{path}.{name}" if path else name
            yield here, [name]
            for inner, keys in _paths(item, here):
                yield inner, [name, *keys]


def _with_repeat(value: object, keys: list[str], again: object) -> str:
    """``value`` as JSON text with the key ``keys`` leads to written twice (``again`` second)."""
    if not keys:
        return json.dumps(value)
    assert isinstance(value, dict)
    parts = []
    for name, item in value.items():
        if name == keys[0]:
            parts.append(f"{json.dumps(name)}:{_with_repeat(item, keys[1:], again)}")
            if len(keys) == 1:
                parts.append(f"{json.dumps(name)}:{json.dumps(again)}")
        else:
            parts.append(f"{json.dumps(name)}:{json.dumps(item)}")
    return "{" + ",".join(parts) + "}"


def _json_cases() -> list[tuple[str, object, str, list[str]]]:
    return [
        (provider, entry["body"], path, keys)
        for provider, name in JSON_FIXTURES.items()
        for entry in fixture(name)
        if isinstance(entry["body"], dict)
        for path, keys in _paths(entry["body"])
    ]


JSON_CASES = _json_cases()


@given(
    case=st.sampled_from(JSON_CASES),
    again=st.none() | st.booleans() | st.integers() | st.text(max_size=10) | st.just({}),
)
def test_a_json_key_sent_twice_is_refused_naming_its_path(case, again):
    provider, document, path, keys = case
    body = _with_repeat(document, keys, again)
    answer = prepared(get(provider), ProviderRequest.json(body))
    assert isinstance(answer, WebhookResponse), (path, body)
    assert answer.status == 400
    assert answer.body.decode() == f"{path[:64]}: is repeated\n"


def test_the_reviewers_vonage_body_is_refused():
    body = '{"uuid":"u","status":"busy","status":"completed"}'
    answer = prepared(get("vonage"), ProviderRequest.json(body))
    assert isinstance(answer, WebhookResponse)
    assert (answer.status, answer.body) == (400, b"status: is repeated\n")


def _flat(document: dict[str, object]) -> list[tuple[str, str]]:
    return [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in document.items()]


@pytest.mark.parametrize("method", ["GET", "POST"])
@given(data=st.data())
def test_a_query_or_form_field_sent_twice_is_refused_naming_it(method, data):
    """Every bundled dialect, a GET's query or a form body: the repeated name is refused."""
    provider = data.draw(st.sampled_from(sorted({*JSON_FIXTURES, *FORM_FIXTURES})))
    name = {**JSON_FIXTURES, **FORM_FIXTURES}[provider]
    entry = data.draw(st.sampled_from(fixture(name)))
    body = entry["body"]
    pairs = _flat(body) if isinstance(body, dict) else _form_pairs(body)
    at = data.draw(st.integers(0, len(pairs) - 1))
    repeated, value = pairs[at]
    again = data.draw(st.sampled_from([value, value + "x", ""]))
    sent = urlencode([*pairs[: at + 1], (repeated, again), *pairs[at + 1 :]])
    request = ProviderRequest.form(sent, url=URL, method=method)
    answer = prepared(get(provider), request)
    assert isinstance(answer, WebhookResponse), (provider, sent)
    assert answer.status == 400, (provider, answer.body)
    assert answer.body.decode() == f"{repeated[:64]}: is repeated\n"


def _form_pairs(body: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(body, keep_blank_values=True)


def test_a_twilio_json_body_with_a_repeated_key_is_refused():
    body = '{"CallSid":"CA1","SequenceNumber":"1","CallStatus":"busy","CallStatus":"completed"}'
    answer = prepared(get("twilio"), ProviderRequest.json(body))
    assert isinstance(answer, WebhookResponse)
    assert (answer.status, answer.body) == (400, b"CallStatus: is repeated\n")
