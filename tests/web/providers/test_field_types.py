"""A field the dialect reads, sent with the wrong JSON type, is refused naming the payload's own
field: never dropped in silence (an event id lost, a time ignored), never read as something else
(a list of causes as a failure, a numeric hangup cause as completed)."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate.providers import get
from callstate.testing.provider_contract import ProviderRequest, prepared
from callstate.web import Unverified, WebhookHandler, WebhookResponse
from tests.web.providers._stories import fixture

#: The fields each dialect reads that must be strings, by path, and a fixture entry that has it.
READ = {
    "telnyx": ("telnyx_call_control", 2, (
        "data.event_type", "data.id", "data.occurred_at",
        "data.payload.call_control_id", "data.payload.hangup_cause",
    )),
    "vonage": ("vonage", 3, ("uuid", "status", "timestamp")),
    "bandwidth": ("bandwidth", 2, (
        "eventType", "callId", "accountId", "eventTime", "cause", "answerTime", "endTime",
    )),
}  # fmt: skip
CASES = [(provider, path) for provider, (_, _, paths) in READ.items() for path in paths]
NOT_STRINGS = st.one_of(
    st.integers(-5, 10**12),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)


def _set(document: dict, path: str, value: object) -> dict:
    out = copy.deepcopy(document)
    *parents, last = path.split(".")
    here = out
    for name in parents:
        here = here[name]
    here[last] = value
    return out


@pytest.mark.parametrize(("provider", "path"), CASES)
@given(value=NOT_STRINGS)
def test_a_read_field_of_the_wrong_type_is_refused_naming_it(provider, path, value):
    name, index, _ = READ[provider]
    document = _set(fixture(name)[index]["body"], path, value)
    answer = prepared(get(provider), ProviderRequest.json(document))
    assert isinstance(answer, WebhookResponse), (path, value)
    assert answer.status == 400
    assert answer.body.decode().startswith(f"{path}: "), answer.body


@given(duration=NOT_STRINGS.filter(lambda v: type(v) is not int))
def test_vonage_duration_of_the_wrong_type_is_refused(duration):
    document = _set(fixture("vonage")[3]["body"], "duration", duration)
    answer = prepared(get("vonage"), ProviderRequest.json(document))
    assert isinstance(answer, WebhookResponse)
    assert answer.status == 400 and answer.body.startswith(b"duration: ")


def test_a_bandwidth_duration_past_the_bound_names_end_time():
    document = {
        **fixture("bandwidth")[2]["body"],
        "cause": "hangup",
        "answerTime": "1970-01-01T00:00:00.000Z",
        "endTime": "9999-12-01T00:00:00.000Z",
    }
    answer = prepared(get("bandwidth"), ProviderRequest.json(document))
    assert isinstance(answer, WebhookResponse)
    assert (answer.status, answer.body) == (
        400,
        b"endTime: is more than 2147483647 seconds after answerTime\n",
    )


def test_the_handlers_dialect_is_read_only():
    from callstate import CallBook

    handler = WebhookHandler(CallBook(), verifier=Unverified(), dialect=get("vonage").dialect)
    assert handler.dialect is get("vonage").dialect
    with pytest.raises(AttributeError):
        handler.dialect = get("telnyx").dialect  # type: ignore[misc]
    assert handler.dialect is get("vonage").dialect
