"""twilio-python's real ``Client`` drives the fake provider, and reads back what Twilio writes.

The client runs unchanged over a real socket: only its HTTP client's requests
are pointed from ``https://api.twilio.com`` at the fake's address. What it
reads (RFC 2822 times as datetimes, ``api_version``, error codes, a 204 on
delete) is what it reads from Twilio; on Restcomm's paths the fake answers as
Restcomm's source does.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import twilio.rest as twilio_rest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient

from callstate import CallStatus
from callstate.client import CallParams, Calls, CallsApi, InvalidParameter
from callstate.client.urllib import UrllibTransport
from callstate.testing.fake_provider import FakeProvider

TWILIO_ORIGIN = "https://api.twilio.com"
TO, FROM = "+15550001111", "+15550002222"
APP = "AP" + "0123456789abcdef" * 2
TWIML = "<Response><Say>Ahoy</Say></Response>"


class FakeTwilioHttp(TwilioHttpClient):
    """twilio-python's own HTTP client, its requests sent to the fake instead of Twilio."""

    def __init__(self, origin: str) -> None:
        super().__init__(timeout=10)
        self.origin = origin
        self.seen: list[tuple[str, str]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        assert url.startswith(TWILIO_ORIGIN), url
        self.seen.append((method, url))
        return super().request(method, self.origin + url[len(TWILIO_ORIGIN) :], *args, **kwargs)


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(pace=None, outcome="completed") as running:
        yield running


@pytest.fixture
def client(provider: FakeProvider) -> Any:
    http = FakeTwilioHttp(provider.url)
    return twilio_rest.Client(
        provider.account_sid, provider.token, account_sid=provider.account_sid, http_client=http
    )


def test_create_with_url_twiml_or_application_sid(client, provider):
    by_url = client.calls.create(to=TO, from_=FROM, url="https://app.example/answer")
    by_twiml = client.calls.create(to=TO, from_=FROM, twiml=TWIML)
    by_app = client.calls.create(
        to=TO, from_=FROM, application_sid=APP, status_callback="https://ignored.example/"
    )
    for created in (by_url, by_twiml, by_app):
        assert created.sid.startswith("CA")
        assert created.status == "queued"
        assert created.api_version == "2010-04-01"
        assert (
            created.uri == f"/2010-04-01/Accounts/{provider.account_sid}/Calls/{created.sid}.json"
        )
        assert created.to == TO
        assert created._from == FROM
        assert isinstance(created.date_created, datetime)
    assert provider.call(by_url.sid).url == "https://app.example/answer"
    assert provider.call(by_twiml.sid).twiml == TWIML
    kept = provider.call(by_app.sid)
    assert kept.application_sid == APP
    assert kept.status_callback is None  # Twilio ignores it with ApplicationSid


def test_create_without_instructions_is_twilio_error_21200(client):
    with pytest.raises(TwilioRestException) as refused:
        client.calls.create(to=TO, from_=FROM)
    assert (refused.value.status, refused.value.code) == (400, 21200)
    with pytest.raises(TwilioRestException) as no_to:
        client.calls.create(to="", from_=FROM, url="https://app.example/")
    assert (no_to.value.status, no_to.value.code) == (400, 21201)


def test_fetch_reads_every_time_as_a_datetime(client, provider):
    created = client.calls.create(to=TO, from_=FROM, url="https://app.example/answer")
    before = datetime.now(UTC) - timedelta(seconds=5)
    provider.finish(created.sid)
    fetched = client.calls(created.sid).fetch()
    assert fetched.status == "completed"
    for moment in (fetched.date_created, fetched.start_time, fetched.end_time):
        assert isinstance(moment, datetime), moment  # ISO 8601 read as None before
        assert moment >= before.replace(microsecond=0)
    assert fetched.end_time >= fetched.start_time
    assert fetched.duration == str(provider.call(created.sid).duration)


def test_an_unanswered_call_has_no_duration(client, provider):
    provider.queue_outcomes("busy")
    created = client.calls.create(to=TO, from_=FROM, twiml=TWIML)
    provider.finish(created.sid)
    fetched = client.calls(created.sid).fetch()
    assert (fetched.status, fetched.duration) == ("busy", None)


def test_list_walks_the_pages_by_next_page_uri(client, provider):
    sids = [client.calls.create(to=TO, from_=FROM, twiml=TWIML).sid for _ in range(5)]
    listed = client.calls.list(page_size=2)
    assert [c.sid for c in listed] == sids
    pages = [url for method, url in client.http_client.seen if method == "GET"]
    assert len(pages) == 3
    assert all(url.startswith(f"{TWILIO_ORIGIN}/2010-04-01/Accounts/") for url in pages)
    assert [c.sid for c in client.calls.list(limit=3, page_size=2)] == sids[:3]
    first = client.calls.page(page_size=2)
    assert first.next_page_url is not None
    assert first.next_page().next_page().next_page_url is None


def test_update_with_twiml_url_and_status(client, provider):
    created = client.calls.create(to=TO, from_=FROM, url="https://app.example/answer")
    for _ in range(3):
        provider.advance(created.sid)
    assert client.calls(created.sid).update(twiml=TWIML).status == "in-progress"
    assert provider.call(created.sid).twiml_updates == [TWIML]
    client.calls(created.sid).update(url="https://app.example/next", method="GET")
    assert provider.call(created.sid).redirects == [("https://app.example/next", "GET")]
    # canceled does nothing to a call in progress; completed hangs it up.
    assert client.calls(created.sid).update(status="canceled").status == "in-progress"
    assert client.calls(created.sid).update(status="completed").status == "completed"
    with pytest.raises(TwilioRestException) as over:
        client.calls(created.sid).update(twiml=TWIML)
    assert (over.value.status, over.value.code) == (400, 21220)
    assert over.value.uri.endswith(f"/Calls/{created.sid}.json")


def test_completed_hangs_up_a_ringing_call(client, provider):
    created = client.calls.create(to=TO, from_=FROM, twiml=TWIML)
    provider.advance(created.sid)
    provider.advance(created.sid)
    assert client.calls(created.sid).fetch().status == "ringing"
    assert client.calls(created.sid).update(status="completed").status == "canceled"
    assert provider.true_outcome(created.sid) == "canceled"


def test_delete_removes_a_past_call_only(client, provider):
    created = client.calls.create(to=TO, from_=FROM, twiml=TWIML)
    with pytest.raises(TwilioRestException) as live:
        client.calls(created.sid).delete()
    assert (live.value.status, live.value.code) == (400, 21220)
    provider.finish(created.sid)
    assert client.calls(created.sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        client.calls(created.sid).fetch()
    assert (gone.value.status, gone.value.code) == (404, 20404)
    assert created.sid not in [c.sid for c in client.calls.list()]


def test_errors_carry_twilios_codes_not_the_http_status(client, provider):
    with pytest.raises(TwilioRestException) as missing:
        client.calls("CA" + "0" * 32).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)
    wrong = twilio_rest.Client(
        provider.account_sid, "wrong", http_client=FakeTwilioHttp(provider.url)
    )
    with pytest.raises(TwilioRestException) as denied:
        wrong.calls("CA" + "0" * 32).fetch()
    assert (denied.value.status, denied.value.code) == (401, 20003)


def test_callstate_and_twilio_python_read_the_same_call(client, provider):
    api = CallsApi(
        account_sid=provider.account_sid, token=provider.token, profile=provider.profile("twilio")
    )
    with Calls(api, UrllibTransport(timeout=10)) as calls:
        (placed,) = calls.create(CallParams(to=TO, from_=FROM, twiml=TWIML))
        provider.finish(placed.sid)
        ours = calls.fetch(placed.sid)
        theirs = client.calls(placed.sid).fetch()
        assert ours.status is CallStatus(theirs.status)
        assert (ours.start_time, ours.end_time) == (theirs.start_time, theirs.end_time)
        (by_app,) = calls.create(CallParams(to=TO, from_=FROM, application_sid=APP))
        assert provider.call(by_app.sid).application_sid == APP


# Restcomm's paths answer as Restcomm's source (CallsEndpoint) does.


def _restcomm(provider: FakeProvider, method: str, path: str, form: str = "") -> tuple[int, bytes]:
    auth = base64.b64encode(f"{provider.account_sid}:{provider.token}".encode()).decode()
    url = f"{provider.profile('restcomm').base_url}/Accounts/{provider.account_sid}/{path}"
    request = urllib.request.Request(
        url,
        data=form.encode() or None,
        method=method,
        headers={"Authorization": f"Basic {auth}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def test_restcomm_keeps_its_own_shape(provider):
    status, body = _restcomm(provider, "POST", "Calls.json", f"To=%2B1&From=%2B2&Twiml={TWIML}")
    assert (status, json.loads(body)) == (400, {"message": "Url is required"})
    status, body = _restcomm(provider, "POST", "Calls.json", "To=%2B1&From=%2B2&Url=http://a.b/")
    assert status == 201
    resource = json.loads(body)
    assert resource["api_version"] == "2012-04-24"
    assert resource["uri"].startswith("/2012-04-24/Accounts/")
    provider.finish(resource["sid"])
    status, body = _restcomm(provider, "GET", f"Calls/{resource['sid']}.json")
    finished = json.loads(body)
    assert datetime.fromisoformat(finished["start_time"]) <= datetime.fromisoformat(
        finished["end_time"]
    )
    assert _restcomm(provider, "DELETE", f"Calls/{resource['sid']}.json")[0] == 405
    assert _restcomm(provider, "POST", f"Calls/{resource['sid']}.json", "Status=completed") == (
        410,
        json.dumps({"message": "Call is already completed."}).encode(),
    )
    assert _restcomm(provider, "POST", "Calls/CAnope.json", "Status=completed")[0] == 406


def test_callstate_refuses_twiml_where_the_profile_has_none(provider):
    api = CallsApi(
        account_sid=provider.account_sid, token=provider.token, profile=provider.profile("restcomm")
    )
    seen = provider.requests_seen
    with pytest.raises(InvalidParameter, match="Twiml: is not a parameter of the restcomm"):
        api.create_call(CallParams(to=TO, from_=FROM, twiml=TWIML))
    with pytest.raises(InvalidParameter, match="ApplicationSid"):
        api.create_call(CallParams(to=TO, from_=FROM, application_sid=APP))
    with pytest.raises(InvalidParameter, match="Twiml"):
        api.redirect_call("CA1", twiml=TWIML)
    assert provider.requests_seen == seen
