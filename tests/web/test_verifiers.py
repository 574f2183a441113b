"""Every branch of the verifiers, with twilio-python's own validator as the oracle.

Each check is run two ways: ``verify(request)`` (the parameters as a tuple of
pairs) and a ``WebhookHandler`` answering the raw request (it hands the
verifier the form's fields as a dict when no name repeats).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from callstate import CallBook, UsageError, VerificationFailed
from callstate.web import (
    AllOf,
    AnyOf,
    BasicAuth,
    CredentialsRequired,
    TwilioSignature,
    Unverified,
    WebhookHandler,
    WebhookRequest,
)
from callstate.web._signature import keyed, sign, signed_fields, signed_params, twilio_signature

AT = datetime(2026, 11, 24, 10, 15, 33, tzinfo=UTC)
URL = "https://calls.example.com/status?tenant=7"
SID = "CA" + "2" * 32
ACCOUNT = "AC" + "3" * 32
CALLBACK = [("CallSid", SID), ("CallStatus", "ringing"), ("SequenceNumber", "1")]
FORM_TYPE = "application/x-www-form-urlencoded"


def oracle_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """twilio-python's signature of a form POST (repeated names: every value)."""

    class Multi(dict[str, list[str]]):
        def getall(self, name: str) -> list[str]:
            return self[name]

    grouped = Multi()
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    return str(RequestValidator(token).compute_signature(url, grouped))


def request(
    headers: dict[str, str],
    params: list[tuple[str, str]] = CALLBACK,
    *,
    url: str = URL,
    method: str = "POST",
    form: bool = True,
    body: bytes | None = None,
) -> WebhookRequest:
    return WebhookRequest(
        method=method,
        url=url,
        headers={name.lower(): value for name, value in headers.items()},
        body=urlencode(params).encode() if body is None else body,
        params=tuple(params),
        form=form,
        received_at=AT,
    )


def answer(
    verifier: object,
    headers: dict[str, str],
    params: list[tuple[str, str]] = CALLBACK,
    *,
    url: str = URL,
) -> tuple[int, str]:
    """What a handler answers the form POST: status and body text."""
    handler = WebhookHandler(CallBook(), verifier=verifier)  # type: ignore[arg-type]
    got = handler(
        "POST", url, {"Content-Type": FORM_TYPE, **headers}, urlencode(params).encode(), AT
    )
    return got.status, got.body.decode().rstrip("\n")


def refused(
    verifier: object,
    headers: dict[str, str],
    params: list[tuple[str, str]] = CALLBACK,
    **kw: object,
) -> VerificationFailed:
    with pytest.raises(VerificationFailed) as caught:
        verifier.verify(request(headers, params, **kw))  # type: ignore[attr-defined, arg-type]
    return caught.value


# TwilioSignature.

tokens = st.text(min_size=1, max_size=100)
names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)
values = st.text(st.characters(codec="utf-8"), max_size=12)
form_params = st.lists(st.tuples(names, values), max_size=6)
urls = st.sampled_from(
    [
        "https://calls.example.com/status",
        "https://calls.example.com:443/status?x=1",
        "http://calls.example.com/s?a=b&c=%20",
        "http://calls.example.com:80/s",
        "https://calls.example.com:8443/s",
    ]
)


@given(tokens, urls, form_params)
def test_what_twilio_signs_is_accepted(token, url, params):
    signature = oracle_signature(token, url, params)
    assert twilio_signature(token, url, params) == signature
    assert signed_params(params) == signed_params(
        params, distinct=len(set(params)) == len(params)
    ) or (len(set(params)) != len(params))
    verifier = TwilioSignature(secrets=[token])
    verifier.verify(request({"X-Twilio-Signature": signature}, params, url=url))


@given(tokens, urls, form_params, st.text(max_size=30))
def test_a_signature_is_accepted_exactly_when_twilio_accepts_it(token, url, params, forged):
    grouped: dict[str, str] = {}
    for name, value in params:
        grouped.setdefault(name, value)
    # One value per name, so twilio-python reads the same parameters we do.
    params = list(grouped.items())
    verifier = TwilioSignature(secrets=[token])
    for signature in (
        forged,
        oracle_signature(token + "x", url, params),
        oracle_signature(token, url, params),
    ):
        expected = RequestValidator(token).validate(url, grouped, signature)
        try:
            verifier.verify(request({"X-Twilio-Signature": signature}, params, url=url))
        except VerificationFailed:
            accepted = False
        else:
            accepted = True
        assert accepted is expected


@given(st.dictionaries(names, values, max_size=8))
def test_signed_fields_is_signed_params_of_the_dict(by_name):
    assert signed_fields(by_name) == signed_params(by_name.items())
    assert signed_fields(by_name) == signed_params(by_name.items(), distinct=True)


def test_signed_fields_for_many_orders_of_names_and_long_names():
    for i in range(70):  # more orders than the template table keeps
        by_name = {f"N{i}": "a", "B%s": "b", f"M{i}": "%d"}
        assert signed_fields(by_name) == signed_params(by_name.items())
    long = {"x" * 3000: "1", "y": "2"}
    assert signed_fields(long) == "x" * 3000 + "1y2"
    assert signed_fields(long) == "x" * 3000 + "1y2"
    assert signed_fields({"only": "v"}) == "onlyv"
    assert signed_fields({}) == ""


@given(st.binary(max_size=200), st.binary(max_size=100))
def test_sign_is_hmac_sha1(key, message):
    token = key.decode("latin-1")
    expected = base64.b64encode(hmac.new(token.encode(), message, hashlib.sha1).digest())
    assert sign(token, message) == expected
    assert keyed(token).digest_size == 20
    assert sign(token, message) == expected  # and again, from the kept keyed HMAC


def test_a_signature_checks_its_header_first():
    verifier = TwilioSignature(secrets=["t"])
    assert refused(verifier, {}).args == ("X-Twilio-Signature: is missing",)
    assert answer(verifier, {}) == (403, "X-Twilio-Signature: is missing")
    good = twilio_signature("t", URL, CALLBACK)
    for bad in (good[:-1], good + "=", good[:-1] + "!", "=" + good[1:], good.replace("=", "A")):
        error = refused(verifier, {"X-Twilio-Signature": bad})
        assert error.field == "X-Twilio-Signature"
        assert error.reason == "is not a base64 HMAC-SHA1 (28 characters)"
    verifier.verify(request({"X-Twilio-Signature": good}))
    assert answer(verifier, {"X-Twilio-Signature": good})[0] == 204


def test_another_header_name():
    verifier = TwilioSignature(secrets=["t"], header="X-Signed-By")
    good = twilio_signature("t", URL, CALLBACK)
    verifier.verify(request({"X-Signed-By": good}))
    assert answer(verifier, {"X-Signed-By": good})[0] == 204
    assert refused(verifier, {"X-Twilio-Signature": good}).args == ("X-Signed-By: is missing",)


def test_a_changed_parameter_url_or_token_fails():
    verifier = TwilioSignature(secrets=["t"])
    good = twilio_signature("t", URL, CALLBACK)
    changed = [*CALLBACK[:-1], ("SequenceNumber", "2")]
    for headers, params, url in (
        ({"X-Twilio-Signature": good}, changed, URL),
        ({"X-Twilio-Signature": good}, CALLBACK, URL + "8"),
        ({"X-Twilio-Signature": twilio_signature("u", URL, CALLBACK)}, CALLBACK, URL),
        ({"X-Twilio-Signature": twilio_signature("t", URL)}, CALLBACK, URL),
    ):
        error = refused(verifier, headers, params, url=url)
        assert error.args == ("X-Twilio-Signature: does not match the request",)
        assert answer(verifier, headers, params, url=url) == (
            403,
            "X-Twilio-Signature: does not match the request",
        )


def test_rotated_tokens_each_pass():
    verifier = TwilioSignature(secrets=["new", "old"])
    for token in ("new", "old"):
        verifier.verify(request({"X-Twilio-Signature": twilio_signature(token, URL, CALLBACK)}))
    with pytest.raises(VerificationFailed):
        verifier.verify(request({"X-Twilio-Signature": twilio_signature("other", URL, CALLBACK)}))


def test_a_get_is_signed_over_the_url_alone():
    verifier = TwilioSignature(secrets=["t"])
    url = URL + "&" + urlencode(CALLBACK)
    verifier.verify(
        request(
            {"X-Twilio-Signature": twilio_signature("t", url)},
            url=url,
            method="GET",
            form=False,
            body=b"",
        )
    )
    refused(
        verifier,
        {"X-Twilio-Signature": twilio_signature("t", url, CALLBACK)},
        url=url,
        method="GET",
        form=False,
        body=b"",
    )


def test_a_json_body_is_covered_by_body_sha256():
    verifier = TwilioSignature(secrets=["t"])
    body = b'{"CallSid": "x"}'
    digest = hashlib.sha256(body).hexdigest()

    def check(url: str, payload: bytes = body) -> None:
        headers = {"X-Twilio-Signature": twilio_signature("t", url)}
        verifier.verify(request(headers, [], url=url, form=False, body=payload))

    check(f"{URL}&bodySHA256={digest}")
    check(f"https://a.example/x?bodySHA256={digest}#frag")
    # The URL signed, but the body is not what the hash says.
    for url, payload, reason in (
        (f"{URL}&bodySHA256={digest}", body + b" ", "does not match the body"),
        (URL, body, "is missing: it must cover a non-form body"),
        (f"{URL}&bodySHA256={digest}&bodySHA256={digest}", body, "is repeated"),
        (f"{URL}&bodySHA256={digest[:-1]}", body, "is not a lower-case hex SHA-256"),
        (f"{URL}&bodySHA256={digest}0", body, "is not a lower-case hex SHA-256"),
        (f"{URL}&bodySHA256={digest[:-1]}g", body, "is not a lower-case hex SHA-256"),
        (f"{URL}&bodySHA256={digest.upper()}", body, "is not a lower-case hex SHA-256"),
        (f"{URL}&xbodySHA256={digest}", body, "is missing: it must cover a non-form body"),
        # The first "=" ends the name: what follows, "=" and all, is the value claimed.
        (f"{URL}&bodySHA256={digest}=", body, "is not a lower-case hex SHA-256"),
        (f"{URL}&bodySHA256={digest}&bodySHA256={digest}=x", body, "is repeated"),
    ):
        with pytest.raises(VerificationFailed) as caught:
            check(url, payload)
        assert (caught.value.field, caught.value.reason) == ("bodySHA256", reason)
    # A form body needs no bodySHA256; nor does a GET.
    verifier.verify(request({"X-Twilio-Signature": twilio_signature("t", URL, CALLBACK)}))


def test_secrets_per_account():
    verifier = TwilioSignature(secrets={ACCOUNT: "a-token", "AC2": ["b1", "b2"]})
    with_account = [*CALLBACK, ("AccountSid", ACCOUNT)]
    for token, params, ok in (
        ("a-token", with_account, True),
        ("b1", with_account, False),
        ("b2", [*CALLBACK, ("AccountSid", "AC2")], True),
        ("b1", [*CALLBACK, ("AccountSid", "AC2")], True),
    ):
        headers = {"X-Twilio-Signature": twilio_signature(token, URL, params)}
        status, _ = answer(verifier, headers, params)
        assert status == (204 if ok else 403)
        if ok:
            verifier.verify(request(headers, params))
        else:
            refused(verifier, headers, params)
    # No secret for the account, or no account at all: refused, naming AccountSid.
    for params in ([*CALLBACK, ("AccountSid", "AC9")], CALLBACK):
        headers = {"X-Twilio-Signature": twilio_signature("a-token", URL, params)}
        error = refused(verifier, headers, params)
        assert error.args == ("AccountSid: has no secret configured",)
        assert answer(verifier, headers, params) == (403, "AccountSid: has no secret configured")


def test_secrets_from_a_function_of_the_account():
    asked: list[str | None] = []

    def lookup(account: str | None) -> list[str]:
        asked.append(account)
        return ["f-token"] if account == ACCOUNT else []

    verifier = TwilioSignature(secrets=lookup)
    params = [*CALLBACK, ("AccountSid", ACCOUNT)]
    headers = {"X-Twilio-Signature": twilio_signature("f-token", URL, params)}
    verifier.verify(request(headers, params))
    assert answer(verifier, headers, params)[0] == 204
    assert asked == [ACCOUNT, ACCOUNT]
    refused(verifier, {"X-Twilio-Signature": twilio_signature("f-token", URL)}, CALLBACK)
    assert asked[-1] is None


@pytest.mark.parametrize("secrets", [["t"], {ACCOUNT: "t"}, lambda account: ["t"]])
def test_a_repeated_account_sid_is_refused_whatever_the_secrets(secrets):
    verifier = TwilioSignature(secrets=secrets)
    params = [*CALLBACK, ("AccountSid", ACCOUNT), ("AccountSid", ACCOUNT)]
    headers = {"X-Twilio-Signature": twilio_signature("t", URL, params)}
    assert refused(verifier, headers, params).args == ("AccountSid: is repeated",)
    assert answer(verifier, headers, params) == (403, "AccountSid: is repeated")


def test_repeated_names_are_signed_with_each_value():
    verifier = TwilioSignature(secrets=["t"])
    params = [*CALLBACK, ("Extra", "b"), ("Extra", "a"), ("Extra", "b")]
    signature = oracle_signature("t", URL, params)
    verifier.verify(request({"X-Twilio-Signature": signature}, params))
    # The signature holds; the parser refuses the name no provider repeats (issue 22.7).
    assert answer(verifier, {"X-Twilio-Signature": signature}, params) == (
        400,
        "Extra: is repeated",
    )


@pytest.mark.parametrize(
    "secrets", [[], [""], "", ["ok", ""], [None], {ACCOUNT: ""}, {ACCOUNT: [""]}, {ACCOUNT: [1]}]
)
def test_unusable_secrets_are_a_usage_error(secrets):
    with pytest.raises(UsageError, match="secret"):
        TwilioSignature(secrets=secrets)


def test_a_single_string_is_one_secret():
    TwilioSignature(secrets="t").verify(
        request({"X-Twilio-Signature": twilio_signature("t", URL, CALLBACK)})
    )
    TwilioSignature(secrets={ACCOUNT: "t"}).verify(
        request(
            {
                "X-Twilio-Signature": twilio_signature(
                    "t", URL, [*CALLBACK, ("AccountSid", ACCOUNT)]
                )
            },
            [*CALLBACK, ("AccountSid", ACCOUNT)],
        )
    )


# BasicAuth.


def basic(user: str | bytes, password: str | bytes, scheme: str = "Basic") -> dict[str, str]:
    raw = (user if isinstance(user, bytes) else user.encode()) + b":"
    raw += password if isinstance(password, bytes) else password.encode()
    return {"Authorization": f"{scheme} {base64.b64encode(raw).decode()}"}


def test_basic_auth_accepts_each_configured_password():
    verifier = BasicAuth(credentials={"twilio": ["new", "old"], "other": "pass:with:colons"})
    for user, password in (("twilio", "new"), ("twilio", "old"), ("other", "pass:with:colons")):
        verifier.verify(request(basic(user, password)))
        assert answer(verifier, basic(user, password))[0] == 204
    verifier.verify(request(basic("twilio", "new", scheme="basic")))
    verifier.verify(request(basic("twilio", "new", scheme="BASIC")))
    spaced = {"Authorization": "  " + basic("twilio", "new")["Authorization"] + "  "}
    verifier.verify(request(spaced))
    # RFC 9110 (11.4): one or more spaces between the scheme and the credentials.
    apart = {"Authorization": basic("twilio", "new")["Authorization"].replace(" ", "   ")}
    verifier.verify(request(apart))
    assert answer(verifier, apart)[0] == 204


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("twilio", "wrong"),
        ("wrong", "new"),  # a known password under another user
        ("other", "new"),  # another user's password
        ("twilio", ""),
        ("", "new"),
        ("twilio", "new "),
        ("twilio", "ne"),
        ("twilio", "new:"),
    ],
)
def test_basic_auth_refuses_wrong_credentials_with_403(user, password):
    verifier = BasicAuth(credentials={"twilio": ["new", "old"], "other": "o"})
    error = refused(verifier, basic(user, password))
    assert type(error) is VerificationFailed
    assert error.args == ("Authorization: credentials are not accepted",)
    assert answer(verifier, basic(user, password)) == (
        403,
        "Authorization: credentials are not accepted",
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "is missing"),
        ({"Authorization": "Bearer abc"}, "must use the Basic scheme"),
        ({"Authorization": "Basicdwfg"}, "must use the Basic scheme"),
        ({"Authorization": "Basic !!!!"}, "is not base64 credentials"),
        ({"Authorization": "Basic dHdpbGl"}, "is not base64 credentials"),
        (
            {"Authorization": "Basic " + base64.b64encode(b"twilio").decode()},
            "has no ':' after the user",
        ),
    ],
)
def test_basic_auth_without_usable_credentials_asks_for_them(headers, reason):
    verifier = BasicAuth(credentials={"twilio": "new"}, realm="calls")
    error = refused(verifier, headers)
    assert type(error) is CredentialsRequired
    assert (error.field, error.reason) == ("Authorization", reason)
    assert error.challenge == 'Basic realm="calls"'
    handler = WebhookHandler(CallBook(), verifier=verifier)
    got = handler(
        "POST", URL, {"Content-Type": FORM_TYPE, **headers}, urlencode(CALLBACK).encode(), AT
    )
    assert got.status == 401
    assert ("WWW-Authenticate", 'Basic realm="calls"') in got.headers
    assert BasicAuth(credentials={"u": "p"}).realm == "callstate"


@pytest.mark.parametrize(
    "credentials",
    [{}, {"": "p"}, {"a:b": "p"}, {"u": ""}, {"u": []}, {"u": [""]}, {1: "p"}, {"u": [None]}],
)
def test_unusable_basic_credentials_are_a_usage_error(credentials):
    with pytest.raises(UsageError):
        BasicAuth(credentials=credentials)


# Combinations.


def test_all_of_and_any_of():
    auth = BasicAuth(credentials={"u": "p"})
    signature = TwilioSignature(secrets=["t"])
    both = {**basic("u", "p"), "X-Twilio-Signature": twilio_signature("t", URL, CALLBACK)}
    only_auth = basic("u", "p")
    neither = basic("u", "x")
    AllOf([auth, signature]).verify(request(both))
    with pytest.raises(VerificationFailed, match="X-Twilio-Signature: is missing"):
        AllOf([auth, signature]).verify(request(only_auth))
    with pytest.raises(VerificationFailed, match="credentials are not accepted"):
        AllOf([auth, signature]).verify(request({**neither, **both, **neither}))
    AnyOf([auth, signature]).verify(request(only_auth))
    AnyOf([signature, auth]).verify(request(only_auth))
    with pytest.raises(VerificationFailed) as caught:
        AnyOf([signature, auth]).verify(request(neither))
    assert caught.value.args == ("X-Twilio-Signature: is missing",)  # the first one's failure
    with pytest.raises(VerificationFailed) as caught:
        AnyOf([auth, signature]).verify(request(neither))
    assert caught.value.args == ("Authorization: credentials are not accepted",)
    assert answer(AnyOf([signature, auth]), only_auth)[0] == 204
    assert answer(AllOf([signature, auth]), only_auth)[0] == 403
    for combine in (AllOf, AnyOf):
        with pytest.raises(UsageError, match="at least one verifier"):
            combine([])
        assert combine(iter([auth])).verifiers == (auth,)


def test_unverified_accepts_anything():
    Unverified().verify(request({}))
    assert answer(Unverified(), {})[0] == 204


# Signing equals the reference HMAC computation (from test_web_fast_paths.py).


def _reference_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    signed = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@given(st.text(max_size=100), st.binary(max_size=300))
def test_the_keyed_hmac_is_hmac_sha1(token, message):
    # Tokens longer than SHA-1's 64-byte block are hashed first, as RFC 2104 says.
    expected = base64.b64encode(hmac.new(token.encode(), message, hashlib.sha1).digest())
    assert sign(token, message) == expected
    assert sign(token, message) == expected  # and again, from the kept key states


@given(
    st.text(min_size=1, max_size=80),
    st.text(max_size=40),
    st.lists(st.tuples(st.text(max_size=8), st.text(max_size=12)), max_size=8),
)
def test_the_signature_is_the_reference_computation(token, url, params):
    assert twilio_signature(token, url, params) == _reference_signature(token, url, params)
    assert signed_params(params) == "".join(n + v for n, v in sorted(set(params)))


@given(
    st.lists(
        st.tuples(st.text(max_size=4), st.text(max_size=4)), max_size=8, unique_by=lambda p: p[0]
    )
)
def test_signing_pairs_known_distinct_is_signing_them(pairs):
    assert signed_params(tuple(pairs), distinct=True) == signed_params(pairs)
    # The template made for this order of names, then the one remembered.
    assert signed_fields(dict(pairs)) == signed_params(pairs)
    assert signed_fields(dict(pairs)) == signed_params(pairs)


# What the mutation run of web/_verify.py showed unpinned.


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        ({}, "BasicAuth needs at least one user and password"),
        ({"u": []}, "BasicAuth needs at least one user and password"),
        ({"": "p"}, "a Basic-auth user name must be non-empty, without ':'"),
        ({"a:b": "p"}, "a Basic-auth user name must be non-empty, without ':'"),
        ({1: "p"}, "a Basic-auth user name must be non-empty, without ':'"),
        ({"u": ""}, "Basic-auth passwords must be non-empty strings"),
        ({"u": ["p", None]}, "Basic-auth passwords must be non-empty strings"),
    ],
)
def test_unusable_basic_credentials_are_named_in_the_message(credentials, message):
    with pytest.raises(UsageError) as caught:
        BasicAuth(credentials=credentials)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        ([], "secrets must hold at least one secret"),
        (["ok", ""], "secrets must be non-empty strings"),
        ({ACCOUNT: [""]}, "secrets must be non-empty strings"),
    ],
)
def test_unusable_secrets_are_named_in_the_message(secrets, message):
    with pytest.raises(UsageError) as caught:
        TwilioSignature(secrets=secrets)
    assert str(caught.value) == message


def test_combining_no_verifier_says_so():
    for combine in (AllOf, AnyOf):
        with pytest.raises(UsageError) as caught:
            combine([])
        assert str(caught.value) == "combine at least one verifier"


@pytest.mark.parametrize("account", [None, ACCOUNT, "AC9"])
def test_secrets_read_back_as_a_function_of_the_account(account):
    # The converted field is the function the docstring names, whatever was given.
    assert list(TwilioSignature(secrets=["new", "old"]).secrets(account)) == ["new", "old"]
    assert list(TwilioSignature(secrets="one").secrets(account)) == ["one"]
    per_account = TwilioSignature(secrets={ACCOUNT: ["a1", "a2"]}).secrets
    assert list(per_account(account)) == (["a1", "a2"] if account == ACCOUNT else [])


def test_a_verifier_whose_verify_is_its_own_attribute_is_called():
    # Any object with a verify method is a Verifier, even one set on the object itself.
    from types import SimpleNamespace

    seen: list[WebhookRequest] = []
    verifier = SimpleNamespace(verify=seen.append)
    handler = WebhookHandler(CallBook(), verifier=verifier)  # type: ignore[arg-type]
    got = handler("POST", URL, {"Content-Type": FORM_TYPE}, urlencode(CALLBACK).encode(), AT)
    assert got.status == 204
    assert [(r.url, r.params) for r in seen] == [(URL, tuple(CALLBACK))]
