"""Who gets in: API keys for the read routes, a verifier for the callbacks.

Every route but ``/callbacks`` (which checks the provider's signature or
Basic-auth credentials), ``/healthz`` and ``/metrics`` (which say nothing
private) needs ``Authorization: Bearer <key>`` with one of the configured
API keys: a route added later is closed until it is opened here on purpose. Answers (RFC 6750):

- no key configured at all: 403 to everyone (no credential could help, so
  none is asked for: the reads are off, not merely locked);
- no ``Authorization: Bearer`` header: 401 with ``WWW-Authenticate: Bearer``;
- a key that is not configured: 401 with ``error="invalid_token"``.

The key presented is hashed once and compared, in constant time, with the
hash of every configured key, without stopping at a match: how long the
check takes says nothing about which key matched or how long any key is.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable
from typing import Final

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from callstate._errors import UsageError
from callstate.providers import Provider
from callstate.web import AllOf, BasicAuth, TwilioSignature, Unverified, Verifier

__all__ = [
    "ApiKeyGuard",
    "basic_credentials",
    "callback_verifier",
    "check_api_keys",
    "is_loopback",
]

#: The routes that do not take an API key: each checks its callers its own way or says nothing.
OPEN_PATHS: Final = frozenset({"/callbacks", "/healthz", "/metrics"})
#: RFC 6750's b64token, at least 16 characters: a key must be long enough not to be guessed.
_KEY: Final = re.compile(r"[A-Za-z0-9\-._~+/]{16,}=*", re.ASCII)
_REALM: Final = 'Bearer realm="callstate"'


def check_api_keys(value: Iterable[str]) -> tuple[str, ...]:
    """The API keys, checked: each at least 16 characters of RFC 6750's token alphabet."""
    if isinstance(value, str):
        value = (value,)
    keys = tuple(value)
    for key in keys:
        if not isinstance(key, str) or _KEY.fullmatch(key) is None:
            raise UsageError(
                "an API key must be at least 16 characters of A-Z a-z 0-9 - . _ ~ + / "
                "(then any '='), with no spaces or commas"
            )
    return keys


def basic_credentials(value: Iterable[str]) -> tuple[str, ...]:
    """``user:password`` entries, checked: a user name and a password each."""
    if isinstance(value, str):
        value = (value,)
    entries = tuple(value)
    for entry in entries:
        user, sep, password = entry.partition(":")
        if not (isinstance(entry, str) and user and sep and password):
            raise UsageError("Basic-auth credentials must be user:password, both non-empty")
    return entries


def callback_verifier(
    *,
    auth_token: str | None,
    basic_auth: Iterable[str],
    insecure: bool,
    provider: Provider | None = None,
) -> Verifier:
    """How ``/callbacks`` checks its callers; ``UsageError`` when nothing would check them.

    The provider's signature (``auth_token`` as its secret: Twilio's
    ``X-Twilio-Signature`` by default), Basic-auth credentials, or both: then
    a callback must pass both (a provider that signs sends the credentials in
    its URL too). A provider callstate checks no signature of (the Restcomm
    family, Bandwidth, ...) is checked by its Basic-auth credentials; its
    ``auth_token`` is then only the Calls API's. ``insecure``
    (``--insecure-no-signatures``) is the only way to accept callbacks
    unchecked, and it cannot be mixed with a check.
    """
    checks: list[Verifier] = []
    if auth_token:
        if provider is None:
            checks.append(TwilioSignature(secrets=[auth_token]))
        elif provider.verifier is not None:
            checks.append(provider.verifier_for([auth_token]))
    credentials: dict[str, list[str]] = {}
    for entry in basic_credentials(basic_auth):
        user, _, password = entry.partition(":")
        credentials.setdefault(user, []).append(password)
    if credentials:
        checks.append(BasicAuth(credentials=credentials))
    if insecure:
        if checks:
            raise UsageError(
                "--insecure-no-signatures contradicts --auth-token/--basic-auth: drop one"
            )
        return Unverified()
    if not checks:
        unsigned = provider is not None and provider.verifier is None
        raise UsageError(
            "callbacks would be accepted from anyone: give "
            + (
                f"--basic-auth user:password (CALLSTATE_BASIC_AUTH): callstate checks no "
                f"signature of {provider.name}'s"
                if unsigned and provider is not None
                else "--auth-token (CALLSTATE_AUTH_TOKEN) "
                "or --basic-auth user:password (CALLSTATE_BASIC_AUTH)"
            )
            + ", or say --insecure-no-signatures (CALLSTATE_INSECURE_NO_SIGNATURES=1) to mean it"
        )
    return checks[0] if len(checks) == 1 else AllOf(checks)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (``localhost``, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve anywhere


class ApiKeyGuard:
    """ASGI middleware: every HTTP route outside ``OPEN_PATHS`` needs a configured API key."""

    def __init__(self, app: ASGIApp, *, keys: Iterable[str]) -> None:
        self._app = app
        self._digests = tuple(hashlib.sha256(k.encode()).digest() for k in check_api_keys(keys))

    def refusal(self, authorization: tuple[str, ...]) -> JSONResponse | None:
        """The answer refusing a request with these Authorization headers, or None to let it in."""
        if not self._digests:
            return _refuse(
                403, "reads are off: no API key is configured (--api-key, CALLSTATE_API_KEYS)"
            )
        # Two Authorization headers: neither is trusted.
        header = authorization[0] if len(authorization) == 1 else ""
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _refuse(401, "Authorization: needs 'Bearer <API key>'", _REALM)
        presented = hashlib.sha256(token.encode("latin-1")).digest()
        matched = False
        for digest in self._digests:  # every key, no early exit
            matched |= hmac.compare_digest(digest, presented)
        if not matched:
            return _refuse(
                401,
                "Authorization: the API key is not accepted",
                _REALM + ', error="invalid_token"',
            )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _route_path(scope) in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        # Header values as the server read them: bytes taken as latin-1, one to one.
        found = tuple(
            v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"authorization"
        )
        answer = self.refusal(found)
        if answer is None:
            await self._app(scope, receive, send)
        else:
            await answer(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the app routes on: without the ``root_path`` it is mounted under, as Starlette."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _refuse(status: int, message: str, challenge: str | None = None) -> JSONResponse:
    headers = {} if challenge is None else {"WWW-Authenticate": challenge}
    return JSONResponse({"error": message}, status_code=status, headers=headers)
