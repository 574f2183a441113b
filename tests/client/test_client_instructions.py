"""What runs the call: exactly one of Url, Twiml and ApplicationSid, checked before sending."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from callstate.client import CallParams, CallsApi, InvalidParameter, Profile

TWILIO = CallsApi(account_sid="AC1", token="t", profile=Profile.twilio())
API19 = CallsApi(account_sid="AC1", token="t")
BASE = {"to": "+15550001111", "from_": "+15550002222"}
URL = "https://app.example/answer"
TWIML = "<Response>\n\t<Say>Ahoy</Say>\n</Response>"
APP = "AP" + "ab" * 16


def form(api: CallsApi, params: CallParams) -> list[tuple[str, str]]:
    return parse_qsl(api.create_call(params).request.body.decode(), keep_blank_values=True)


def test_each_instruction_is_sent_as_the_provider_names_it():
    assert ("Url", URL) in form(TWILIO, CallParams(**BASE, url=URL))
    assert ("Twiml", TWIML) in form(TWILIO, CallParams(**BASE, twiml=TWIML))
    sent = dict(form(TWILIO, CallParams(**BASE, application_sid=APP)))
    assert sent["ApplicationSid"] == APP
    assert "Url" not in sent
    assert "Twiml" not in sent


@pytest.mark.parametrize(
    ("given", "field", "reason"),
    [
        ({}, "Url", "is required"),
        ({"url": URL, "twiml": TWIML}, "Twiml", "cannot be given with Url"),
        ({"url": URL, "application_sid": APP}, "ApplicationSid", "cannot be given with Url"),
        ({"twiml": TWIML, "application_sid": APP}, "ApplicationSid", "with Twiml"),
        ({"twiml": "x" * 4001}, "Twiml", "longer than 4000"),
        ({"twiml": " \n"}, "Twiml", "must not be empty"),
        ({"twiml": "<Say>\x00</Say>"}, "Twiml", "control characters"),
        ({"twiml": 7}, "Twiml", "must be text"),
        ({"application_sid": "AP123"}, "ApplicationSid", "32 hexadecimal"),
        ({"application_sid": "CA" + "ab" * 16}, "ApplicationSid", "'AP'"),
        ({"application_sid": APP, "status_callback": URL}, "StatusCallback", "ignores it"),
        ({"application_sid": APP, "method": "GET"}, "Method", "ignores it"),
        ({"application_sid": APP, "status_callback_event": ["completed"]}, "StatusCallbackEvent",
         "ignores it"),
        ({"twiml": TWIML, "method": "GET"}, "Method", "with Url only"),
    ],
)  # fmt: skip
def test_a_broken_rule_names_the_field(given, field, reason):
    with pytest.raises(InvalidParameter, match=reason) as refused:
        CallParams(**BASE, **given)
    assert refused.value.field == field


def test_twiml_of_the_largest_size_is_taken():
    assert ("Twiml", "x" * 4000) in form(TWILIO, CallParams(**BASE, twiml="x" * 4000))


@pytest.mark.parametrize("profile", [Profile.api19(), Profile.restcomm("https://rc.example")])
def test_a_restcomm_family_profile_refuses_what_its_api_has_not(profile):
    api = CallsApi(account_sid="AC1", token="t", profile=profile)
    for given, field in (({"twiml": TWIML}, "Twiml"), ({"application_sid": APP}, "ApplicationSid")):
        with pytest.raises(InvalidParameter, match="is not a parameter of the") as refused:
            api.create_call(CallParams(**BASE, **given))
        assert refused.value.field == field
    with pytest.raises(InvalidParameter, match="Twiml"):
        api.redirect_call("CA1", twiml=TWIML)


def test_a_live_call_takes_new_twiml_on_twilio():
    redirect = TWILIO.redirect_call("CA1", twiml=TWIML)
    assert parse_qsl(redirect.request.body.decode()) == [("Twiml", TWIML)]
    for bad in ({}, {"url": URL, "twiml": TWIML}):
        with pytest.raises(InvalidParameter, match="exactly one of Url and Twiml"):
            TWILIO.redirect_call("CA1", **bad)
    with pytest.raises(InvalidParameter, match="Method"):
        TWILIO.redirect_call("CA1", twiml=TWIML, method="GET")
    with pytest.raises(InvalidParameter, match="longer than 4000"):
        TWILIO.redirect_call("CA1", twiml="x" * 4001)


def test_the_url_alone_still_places_a_call_on_every_profile():
    assert ("Url", URL) in form(API19, CallParams(**BASE, url=URL))
    # positional-free, as before: url stays a keyword
    assert CallParams(to="+1", from_="+2", url=URL).url == URL
