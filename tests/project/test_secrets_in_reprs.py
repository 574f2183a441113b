"""No repr or str of a public class shows a secret it holds (issue 22, item 4).

Error trackers record the reprs of a failing frame's locals, and log lines
hold reprs: an auth token, a Basic-auth password, an API key or a DSN's
password must never be in one. The test walks every class in the ``__all__``
of every public module. A class whose constructor takes anything that can
carry a secret (a token, a password, credentials, a DSN, a key, headers, a
URL, or an object that holds one) must have a builder here that puts a known
secret into it, or an entry in ``HOLDS_NO_SECRET`` saying why it cannot hold
one; a new such class fails the test until it has one of them. Each built
object must really hold the secret (found by walking its attributes), and no
form of it (plain, percent-encoded once or twice, base64 alone or in a Basic
``user:secret``) may appear in its repr() or str().
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import inspect
import pkgutil
import re
import types
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import pytest

import callstate

#: Holds each character a URL, a form or base64 writes differently.
SECRET = "Zq9-p@ss/w0rd:K7"
USER = "restcomm"
SID = "AC" + "1" * 32
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def forms(secret: str) -> set[str]:
    """Every way the secret may be written in a repr."""
    once = quote(secret, safe="")
    found = {secret, once, quote(secret), quote_plus(secret), quote_plus(once), quote(once)}
    for text in (secret, f"{USER}:{secret}", f"{SID}:{secret}"):
        found.add(base64.b64encode(text.encode()).decode("ascii"))
    return found


FORMS = forms(SECRET)


def in_url(secret: str = SECRET, host: str = "app.example/callbacks") -> str:
    return f"https://{USER}:{quote(secret, safe='')}@{host}"


def basic(user: str, secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")


def _public_modules() -> list[types.ModuleType]:
    names = ["callstate"] + [
        info.name
        for info in pkgutil.walk_packages(callstate.__path__, "callstate.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    return [importlib.import_module(name) for name in names]


def _public_classes() -> list[type]:
    seen: dict[type, None] = {}
    for module in _public_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj) and not getattr(obj, "_is_protocol", False):
                seen.setdefault(obj, None)
    return list(seen)


#: A constructor parameter with one of these in its name may carry a secret.
CARRIES = re.compile(
    r"token|secret|password|credential|dsn|key|auth|header|url|callback|api|verifier"
    r"|handler|store|runner|profile|session|client|opener|pool|request",
    re.I,
)


def may_hold_a_secret(cls: type) -> bool:
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # a builtin's signature: an exception's message
        return False
    return any(CARRIES.search(name) for name in parameters)


#: Classes with such a parameter that cannot hold a secret, and why.
HOLDS_NO_SECRET: dict[str, str] = {
    "callstate.web.WebhookResponse": "the receiver's own answer: a status, a reason, its headers",
    "callstate.client.Response": "the provider's answer: it carries no credential of ours",
    "callstate.testing.fake_provider.Fault": "the fake provider's canned answer (status, "
    "body, headers such as Retry-After): what a provider sends back, no credential of ours",
    "callstate.testing.web_contract.Answer": "the receiver's answer, as the contract reads it",
    "callstate.providers.Provider": "a provider's name, dialect and factories: its verifier and "
    "profile are functions of secrets given later, never the secrets",
    "callstate.web.TelnyxSignature": "Telnyx's public key (Ed25519): public by design, "
    "what the portal shows to anyone who may configure a receiver",
}


Builder = Callable[[contextlib.ExitStack], list[object]]
BUILDERS: dict[str, Builder] = {}


def builds(*names: str) -> Callable[[Builder], Builder]:
    def register(function: Builder) -> Builder:
        for name in names:
            BUILDERS[name] = function
        return function

    return register


def _qualname(cls: type) -> str:
    for module in _public_modules():
        for name in getattr(module, "__all__", ()):
            if getattr(module, name) is cls:
                return f"{module.__name__}.{name}"
    raise AssertionError(cls)


# The builders: each returns objects of its classes holding SECRET.


def _verifiers() -> list[object]:
    from callstate.web import (
        AllOf,
        AnyOf,
        BasicAuth,
        PlivoSignature,
        SignalWireSignature,
        TwilioSignature,
        VonageSignature,
    )

    basic_auth = BasicAuth(credentials={USER: ["old-password", SECRET]})
    shared = TwilioSignature(secrets=["old-token", SECRET])
    per_account = TwilioSignature(secrets={SID: SECRET})
    signalwire = SignalWireSignature(secrets=["old-key", SECRET])
    per_project = SignalWireSignature(secrets={SID: [SECRET]})
    plivo = PlivoSignature(secrets=["old-token", SECRET])
    vonage = VonageSignature(secrets=[SECRET])
    return [
        plivo,
        vonage,
        basic_auth,
        shared,
        per_account,
        signalwire,
        per_project,
        AllOf([basic_auth, shared]),
        AnyOf([per_account]),
    ]


@builds(
    "callstate.web.BasicAuth",
    "callstate.web.TwilioSignature",
    "callstate.web.SignalWireSignature",
    "callstate.web.PlivoSignature",
    "callstate.web.VonageSignature",
    "callstate.web.AllOf",
    "callstate.web.AnyOf",
)
def _build_verifiers(stack: contextlib.ExitStack) -> list[object]:
    return _verifiers()


@builds(
    "callstate.web.WebhookHandler",
    "callstate.web.AsyncWebhookHandler",
    "callstate.web.asgi.WebhookApp",
)
def _build_handlers(stack: contextlib.ExitStack) -> list[object]:
    from callstate import CallBook
    from callstate.web import AsyncWebhookHandler, WebhookHandler
    from callstate.web.asgi import WebhookApp

    made: list[object] = []
    for verifier in _verifiers():
        handler = WebhookHandler(CallBook(), verifier=verifier)
        made += [handler, AsyncWebhookHandler(CallBook(), verifier=verifier), WebhookApp(handler)]
    return made


@builds("callstate.web.WebhookRequest")
def _build_webhook_request(stack: contextlib.ExitStack) -> list[object]:
    from callstate.web import WebhookRequest

    return [
        WebhookRequest(
            method="POST",
            url=in_url(),
            headers={"authorization": basic(USER), "content-type": "text/plain"},
            body=b"CallSid=CA1",
            params=(("CallSid", "CA1"),),
            form=True,
            received_at=NOW,
        )
    ]


def _api() -> list[object]:
    from callstate.client import CallsApi, Profile

    return [
        CallsApi(account_sid=SID, token=SECRET),
        CallsApi(
            account_sid=SID,
            token="another-token",
            profile=Profile.twilio(in_url(host="api.example/2010-04-01")),
        ),
    ]


def _params() -> object:
    from callstate.client import CallParams

    return CallParams(
        to="+15550001111",
        from_="+15550002222",
        url=in_url(host="app.example/twiml"),
        fallback_url=in_url(host="app.example/fallback"),
        status_callback=in_url(),
        extra=(("Note", in_url(host="app.example/other")),),
    )


@builds("callstate.client.CallsApi", "callstate.client.Profile", "callstate.client.CallParams")
def _build_api(stack: contextlib.ExitStack) -> list[object]:
    from callstate.client import Profile

    return [*_api(), Profile.api19(in_url(host="api.example/v1")), _params()]


@builds("callstate.client.Operation", "callstate.client.Request")
def _build_operations(stack: contextlib.ExitStack) -> list[object]:
    from callstate.client import CallFilter, CallParams, Request

    made: list[object] = []
    for api in _api():
        operations = [
            api.create_call(_params()),
            api.create_call(CallParams(to="+1555", from_="+1666", url="https://app.example/x")),
            api.fetch_call("CA1"),
            api.list_calls(CallFilter()),
            api.redirect_call("CA1", url=in_url()),
            api.hang_up_call("CA1"),
        ]
        made += operations
        made += [operation.request for operation in operations]
    made.append(
        Request(
            method="POST",
            url=in_url(host="api.example/Calls.json?Next=" + quote(in_url(), safe="")),
            headers=(("authorization", basic(SID)), ("Cookie", f"session={SECRET}")),
            body=urlencode([("StatusCallback", in_url())]).encode(),
        )
    )
    return made


@builds(
    "callstate.client.Calls",
    "callstate.client.AsyncCalls",
    "callstate.client.urllib.UrllibTransport",
    "callstate.client.requests.RequestsTransport",
    "callstate.client.httpx.HttpxTransport",
    "callstate.client.httpx.HttpxAsyncTransport",
    "callstate.client.aiohttp.AiohttpTransport",
)
def _build_transports(stack: contextlib.ExitStack) -> list[object]:
    import urllib.request

    import aiohttp
    import httpx
    import requests

    from callstate.client import AsyncCalls, Calls
    from callstate.client.aiohttp import AiohttpTransport
    from callstate.client.httpx import HttpxAsyncTransport, HttpxTransport
    from callstate.client.requests import RequestsTransport
    from callstate.client.urllib import UrllibTransport

    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    passwords.add_password(None, "https://api.example/", USER, SECRET)
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(passwords))
    session = requests.Session()
    session.auth = (USER, SECRET)
    stack.callback(session.close)
    client = httpx.Client(auth=(USER, SECRET))
    stack.callback(client.close)
    async_client = httpx.AsyncClient(auth=(USER, SECRET))
    loop = asyncio.new_event_loop()
    stack.callback(loop.close)
    stack.callback(loop.run_until_complete, async_client.aclose())

    async def open_session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(headers={"Authorization": basic(USER)})

    aio_session = loop.run_until_complete(open_session())
    stack.callback(loop.run_until_complete, aio_session.close())
    transports = [
        UrllibTransport(opener=opener),
        RequestsTransport(session=session),
        HttpxTransport(client=client),
    ]
    async_transports = [
        HttpxAsyncTransport(client=async_client),
        AiohttpTransport(session=aio_session),
    ]
    made: list[object] = [*transports, *async_transports]
    for api in _api():
        made += [Calls(api, transports[0]), AsyncCalls(api, async_transports[0])]
    return made


def _dsns() -> list[str]:
    # Nothing listens on port 1: the pools never connect, and are closed at once.
    return [
        f"postgresql://callstate:{quote(SECRET, safe='')}@127.0.0.1:1/callstate",
        f"host=127.0.0.1 port=1 user=callstate password={SECRET} dbname=callstate",
    ]


@builds(
    "callstate.stores.postgres.PostgresStore",
    "callstate.stores.Runner",
    "callstate.stores.AsyncRunner",
)
def _build_stores(stack: contextlib.ExitStack) -> list[object]:
    from callstate.stores import AsyncRunner, Runner
    from callstate.stores.postgres import PostgresStore

    made: list[object] = []
    for dsn in _dsns():
        store = PostgresStore(dsn, timeout=0.1)
        stack.callback(store.close)
        runner = Runner(store)
        made += [store, runner, AsyncRunner(runner)]
    return made


@builds("callstate.serve.ServeConfig")
def _build_serve_config(stack: contextlib.ExitStack) -> list[object]:
    from callstate.serve import ServeConfig

    dsn = _dsns()[0]
    return [
        ServeConfig(auth_token=SECRET, store=dsn),
        ServeConfig.from_env({"CALLSTATE_AUTH_TOKEN": SECRET, "CALLSTATE_STORE": dsn}),
        ServeConfig(basic_auth=[f"{USER}:{SECRET}"]),
        ServeConfig(signature_secret=SECRET),
        ServeConfig.from_env({"CALLSTATE_SIGNATURE_SECRET": SECRET}),
        ServeConfig.from_env({"CALLSTATE_BASIC_AUTH": f"other:x,{USER}:{SECRET}"}),
        ServeConfig(forward_secret=SECRET, forward=[f"https://{USER}:{SECRET}@app.example/h"]),
        # An API key cannot hold SECRET's characters ('@', ':'); its own test is in
        # tests/serve/test_serve_auth.py.
    ]


@builds("callstate.testing.fake_provider.FakeProvider")
def _build_fake_provider(stack: contextlib.ExitStack) -> list[object]:
    from callstate.testing.fake_provider import FakeProvider

    return [FakeProvider(account_sid=SID, token=SECRET)]


@builds(
    "callstate.testing.fake_provider.FakeCall",
    "callstate.testing.fake_provider.SentCallback",
    "callstate.testing.SignedWebhook",
    "callstate.testing.provider_contract.ProviderRequest",
    "callstate.testing.provider_contract.Story",
)
def _build_kit_records(stack: contextlib.ExitStack) -> list[object]:
    from callstate.testing import SignedWebhook, sign_webhook
    from callstate.testing.fake_provider import FakeCall, SentCallback

    call = FakeCall(
        sid="CA1",
        account_sid=SID,
        to="+1555",
        from_="+1666",
        url=in_url(host="app.example/twiml"),
        method="POST",
        status_callback=in_url(),
        status_callback_method="POST",
        events=(),
        vocabulary="twilio",
        outcome="completed",
        created_at=NOW,
        duration=0,
        redirects=[("POST", in_url(host="app.example/next"))],
    )
    sent = SentCallback(
        call_sid="CA1",
        method="POST",
        url=in_url(),
        params=(("CallSid", "CA1"),),
        headers=(("Authorization", basic(USER)),),
        answer=204,
    )
    signed = sign_webhook(in_url(), [("CallSid", "CA1")], "a-token")
    with_auth = SignedWebhook(
        method=signed.method,
        url=signed.url,
        headers=(*signed.headers, ("Authorization", basic(USER))),
        body=signed.body,
    )
    from callstate.testing.provider_contract import ProviderRequest, Story

    request = ProviderRequest(
        url=in_url(), headers=(("Authorization", basic(USER)),), body=signed.body
    )
    story = Story(requests=[request], status="completed", answered=True)
    return [call, sent, signed, with_auth, request, story]


def holds(
    value: object, secret_forms: set[str], depth: int = 0, seen: set[int] | None = None
) -> bool:
    """Whether ``value`` holds a form of the secret, somewhere in its attributes."""
    seen = set() if seen is None else seen
    if depth > 8 or id(value) in seen:
        return False
    seen.add(id(value))
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        return any(form in value for form in secret_forms)
    if isinstance(value, (int, float, bool, type(None), type)):
        return False
    children: list[object] = []
    if isinstance(value, Mapping):
        children += [*value.keys(), *value.values()]
    elif isinstance(value, (tuple, list, set, frozenset)):
        children += list(value)
    if isinstance(value, types.FunctionType):
        children += [cell.cell_contents for cell in value.__closure__ or ()]
    with contextlib.suppress(TypeError):
        children += list(vars(value).values())
    for klass in type(value).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            with contextlib.suppress(AttributeError):
                children.append(getattr(value, slot))
    return any(holds(child, secret_forms, depth + 1, seen) for child in children)


PUBLIC = _public_classes()


@pytest.mark.parametrize("cls", PUBLIC, ids=_qualname)
def test_no_repr_shows_a_secret(cls: type) -> None:
    name = _qualname(cls)
    if not may_hold_a_secret(cls):
        assert name not in BUILDERS, f"{name} takes no secret: its builder is not needed"
        return
    if name in HOLDS_NO_SECRET:
        assert name not in BUILDERS
        return
    assert name in BUILDERS, (
        f"{name} may hold a secret: add a builder here that gives it one, "
        "or say in HOLDS_NO_SECRET why it cannot hold one"
    )
    with contextlib.ExitStack() as stack:
        made = [obj for obj in BUILDERS[name](stack) if type(obj) is cls]
        assert made, f"the builder for {name} made none"
        for obj in made:
            assert holds(obj, FORMS), f"the builder gave {name} no secret to hide"
            for text in (repr(obj), str(obj)):
                leaked = sorted(form for form in FORMS if form in text)
                assert not leaked, f"{name}'s repr shows the secret as {leaked}: {text}"


@pytest.mark.parametrize(
    "value",
    [
        "https://app.example:8443/callbacks?to=me@example.com",
        "https://user@app.example/callbacks",
        ("Url", "https%3A%2F%2Fapp.example%3A8443%2Fx%3Fa%3Db%40c"),
        b"To=%2B1555&From=me%40example.com",
    ],
)
def test_what_holds_no_password_is_shown_as_it_is(value: object) -> None:
    from callstate import _redact

    assert _redact.urls(value) == repr(value)
    assert _redact.headers((("Accept", value),)) == repr((("Accept", value),))


def test_the_docs_give_secrets_in_the_environment() -> None:
    """No command in the docs puts a secret on the command line, where ``ps`` shows it."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent.parent
    block = re.compile(r"^```console\n(.*?)^```", re.S | re.M)
    password_in_url = re.compile(r"://[^/@\s:]+:[^/@\s]+@")
    for page in sorted([root / "README.md", *(root / "docs").rglob("*.md")]):
        if page.name == "changelog.md":
            continue
        for commands in block.findall(page.read_text(encoding="utf-8")):
            for flag, variable in (
                ("--auth-token", "CALLSTATE_AUTH_TOKEN"),
                ("--api-key", "CALLSTATE_API_KEYS"),
                ("--basic-auth", "CALLSTATE_BASIC_AUTH"),
                ("--forward-secret", "CALLSTATE_FORWARD_SECRET"),
            ):
                assert flag not in commands, f"{page.name}: use {variable}"
            assert not password_in_url.search(commands), f"{page.name}: a password in a URL"
    serve = (root / "docs" / "serve.md").read_text(encoding="utf-8")
    for flag, variable in (
        ("--auth-token", "CALLSTATE_AUTH_TOKEN"),
        ("--api-key", "CALLSTATE_API_KEYS"),
        ("--basic-auth", "CALLSTATE_BASIC_AUTH"),
    ):
        assert serve.index(variable) < serve.index(flag), variable


@pytest.mark.parametrize(
    "url",
    [
        "https://user:s3cret\uff03@host/",  # NFKC turns the full-width # into a delimiter
        "https://user:s3cret@[::1/",  # an IPv6 host left open
    ],
)
def test_a_refused_url_is_not_quoted_with_its_password(url: str) -> None:
    from callstate import InvalidParameter
    from callstate.client import Profile

    with pytest.raises(InvalidParameter) as raised:
        Profile.api19(url)
    assert raised.value.field == "base_url"
    assert "s3cret" not in str(raised.value) and "s3cret" not in repr(raised.value)


def _calls_through(name: str) -> Any:
    """A client of an account whose base URL carries a password, on a port nothing serves."""
    from callstate.client import AsyncCalls, Calls, CallsApi, Profile
    from callstate.client.aiohttp import AiohttpTransport
    from callstate.client.httpx import HttpxAsyncTransport, HttpxTransport
    from callstate.client.requests import RequestsTransport
    from callstate.client.urllib import UrllibTransport

    # Port 9 on loopback: nothing listens, the connection is refused at once.
    base = f"http://proxyuser:{quote(SECRET, safe='')}@127.0.0.1:9/call/2012-04-24"
    api = CallsApi(account_sid="AC" + "0" * 32, token="t", profile=Profile.api19(base))
    return {
        "urllib": lambda: Calls(api, UrllibTransport(timeout=5)),
        "requests": lambda: Calls(api, RequestsTransport(timeout=5)),
        "httpx": lambda: Calls(api, HttpxTransport(timeout=5)),
        "httpx-async": lambda: AsyncCalls(api, HttpxAsyncTransport(timeout=5)),
        "aiohttp": lambda: AsyncCalls(api, AiohttpTransport(timeout=5)),
    }[name]()


@pytest.mark.parametrize("name", ["urllib", "requests", "httpx", "httpx-async", "aiohttp"])
def test_a_transport_error_never_quotes_a_url_password(name: str) -> None:
    from callstate import ApiTransportError, InvalidParameter

    sid = "CA" + "1" * 32

    async def fetch_async() -> None:
        async with _calls_through(name) as calls:
            await calls.fetch(sid)

    def fetch() -> None:
        if name in ("httpx-async", "aiohttp"):
            asyncio.run(fetch_async())
            return
        with _calls_through(name) as calls:
            calls.fetch(sid)

    # aiohttp will not send a URL's user information beside an Authorization
    # header: it refuses before connecting (a bare ValueError, before).
    refused = InvalidParameter if name == "aiohttp" else ApiTransportError
    with pytest.raises(refused) as raised:
        fetch()
    message = f"{raised.value} {raised.value!r} {raised.value.args!r}"
    if name != "aiohttp":
        assert "127.0.0.1:9" in message  # it names where it went...
    for form in (SECRET, quote(SECRET, safe=""), quote_plus(SECRET)):
        assert form not in message  # ...never with the password
