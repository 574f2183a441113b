"""Verifiers: is this webhook from the provider? One method, ``verify``.

A verifier raises ``VerificationFailed`` (or ``CredentialsRequired``) naming
the header or parameter at fault, and returns None when the request passes.
Every comparison of a secret goes through ``hmac.compare_digest``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from binascii import b2a_base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol, Union

import attrs

from callstate import _redact as redact
from callstate._errors import CredentialsRequired, UsageError, VerificationFailed
from callstate.web._request import Headers, WebhookRequest
from callstate.web._signature import body_sha256, keyed, signed_fields, signed_params
from callstate.web._url import port_variants, query_of

__all__ = [
    "AllOf",
    "AnyOf",
    "BasicAuth",
    "Check",
    "Secrets",
    "TwilioSignature",
    "Unverified",
    "Verifier",
    "check_body_sha256",
    "check_of",
    "hmac_keys",
    "matches_any",
]

#: base64 of a 20-byte HMAC-SHA1: 27 characters and one "=".
_SIGNATURE: Final = re.compile(r"[A-Za-z0-9+/]{27}=", re.ASCII)
#: ``bodySHA256`` as Twilio writes it and its validator compares it: lower-case hex.
_HEX64: Final = re.compile(r"[0-9a-f]{64}", re.ASCII)


class Verifier(Protocol):
    """Checks that a webhook comes from the provider; raises ``VerificationFailed``."""

    def verify(self, request: WebhookRequest) -> None: ...


#: ``verify`` given the request's parts: method, url, headers, body, params,
#: form, and the params as a dict when it is known that no name repeats (else None).
Check = Callable[
    [str, str, Headers, bytes, "tuple[tuple[str, str], ...]", bool, "dict[str, str] | None"],
    None,
]


class _ByParts:
    """A verifier that reads the request's parts: the handler hands them over as they are.

    ``verify(request)`` is ``_check`` of the request's fields; a handler that
    has the fields at hand calls ``_check`` without building the request.
    """

    __slots__ = ()

    def verify(self, request: WebhookRequest) -> None:
        self._check(
            request.method,
            request.url,
            request.headers,
            request.body,
            request.params,
            request.form,
            None,
        )

    def _check(self, *parts: Any, **named: Any) -> None:
        """The check of a request's parts, in ``Check``'s order."""
        raise NotImplementedError


def check_of(verifier: Verifier) -> Check | None:
    """``verifier``'s check by parts, when its ``verify`` is just that check; else None."""
    if getattr(type(verifier), "verify", None) is _ByParts.verify:
        check: Check = verifier._check  # type: ignore[attr-defined]
        return check
    return None


#: Secrets for every account (a sequence: several while rotating), per
#: AccountSid (a mapping), or looked up by a function of the AccountSid.
Secrets = Union[
    Sequence[str],
    Mapping[str, Union[str, Sequence[str]]],
    Callable[[Union[str, None]], Iterable[str]],
]
"""Auth tokens: one sequence for every account, a mapping per AccountSid, or a function."""


def _as_list(value: str | Sequence[str], what: str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    for item in items:
        if not isinstance(item, str) or not item:
            raise UsageError(f"{what} must be non-empty strings")
    return items


class _Shared:
    """The same secrets for every account: a function of the AccountSid that ignores it.

    ``keys`` are the secrets' keyed HMACs (see ``keyed``), made once.
    """

    __slots__ = ("keys", "tokens")

    def __init__(self, tokens: tuple[str, ...]) -> None:
        self.tokens = tokens
        self.keys = tuple(map(keyed, tokens))

    def __call__(self, account_sid: str | None) -> Iterable[str]:
        return self.tokens


def _lookup(secrets: Secrets) -> Callable[[str | None], Iterable[str]]:
    if callable(secrets):
        return secrets
    if isinstance(secrets, Mapping):
        table = {account: _as_list(value, "secrets") for account, value in secrets.items()}

        def per_account(account_sid: str | None) -> Iterable[str]:
            return (
                ()  # pragma: no mutate (the keys are AccountSids: table.get(None, ()) is () too)
                if account_sid is None
                else table.get(account_sid, ())
            )

        return per_account
    shared = _as_list(secrets, "secrets")
    if not shared:
        raise UsageError("secrets must hold at least one secret")
    return _Shared(shared)


def _single(params: tuple[tuple[str, str], ...], name: str) -> str | None:
    found = None
    for key, value in params:
        if key == name:
            if found is not None:
                raise VerificationFailed(name, "is repeated")
            found = value
    return found


@attrs.frozen(kw_only=True)
class TwilioSignature(_ByParts):
    """``X-Twilio-Signature``: HMAC-SHA1 of the URL (and form parameters).

    ``secrets`` are the auth tokens: one sequence for every account (list
    the new and the old token while rotating), a mapping from AccountSid to
    its tokens, or a function of the AccountSid (None when the request has
    none) returning them. A form POST is signed over the URL and its
    parameters; a GET over the URL alone; any other body over the URL, which
    must carry the body's hex SHA-256 as ``bodySHA256``. The URL is tried as
    given and in its other form (its port removed, or the default one added),
    exactly as Twilio's own validator tries it.
    """

    secrets: Callable[[str | None], Iterable[str]] = attrs.field(
        converter=_lookup, repr=redact.hidden
    )
    header: str = "X-Twilio-Signature"
    _key: str = attrs.field(init=False, repr=False, eq=False)

    @_key.default
    def _lower_header(self) -> str:
        return self.header.lower()

    def _check(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes,
        params: tuple[tuple[str, str], ...],
        form: bool,
        by_name: dict[str, str] | None,
    ) -> None:
        signature = headers.get(self._key)
        if signature is None:
            raise VerificationFailed(self.header, "is missing")
        if _SIGNATURE.fullmatch(signature) is None:
            raise VerificationFailed(self.header, "is not a base64 HMAC-SHA1 (28 characters)")
        if method != "GET" and not form:
            check_body_sha256(url, body)
        # Not mutated: given None for by_name, hmac_keys reads the same AccountSid from the pairs.
        keys = hmac_keys(self.secrets, params, by_name)  # pragma: no mutate
        tail = ""
        if form:
            # The choice of way is not mutated (the marked line): signed_fields(by_name) is
            # signed_params(params) when no name repeats (a property in test_verifiers.py).
            tail = (
                signed_params(params)  # pragma: no mutate (see above)
                if by_name is None
                else signed_fields(by_name)
            )
        expected = signature.encode("ascii")  # pragma: no mutate ("ASCII": the same codec)
        if not matches_any(keys, port_variants(url), (tail,), expected):
            raise VerificationFailed(self.header, "does not match the request")


def hmac_keys(
    secrets: Callable[[str | None], Iterable[str]],
    params: tuple[tuple[str, str], ...],
    by_name: dict[str, str] | None,
) -> tuple[hmac.HMAC, ...]:
    """The keyed HMAC-SHA1s of the secrets for this request's AccountSid.

    A repeated AccountSid is refused, whatever the secrets; an account with no
    secret configured is refused naming AccountSid.
    """
    # Not mutated: the code after the branch gives shared secrets the same keys, keyed anew.
    if type(secrets) is _Shared:  # pragma: no mutate
        if by_name is None:
            _single(params, "AccountSid")  # refused when repeated, whatever the secrets
        return secrets.keys
    # The choice of way is not mutated (the marked line): by_name is the params by name,
    # no name repeated, so the pairs give the same AccountSid; the dict is faster.
    account = (
        _single(params, "AccountSid")  # pragma: no mutate (see above)
        if by_name is None
        else by_name.get("AccountSid")
    )
    keys = tuple(map(keyed, secrets(account)))
    if not keys:
        raise VerificationFailed("AccountSid", "has no secret configured")
    return keys


def matches_any(
    keys: tuple[hmac.HMAC, ...], urls: Iterable[str], tails: Iterable[str], expected: bytes
) -> bool:
    """Whether base64(HMAC(key, url + tail)) is ``expected`` for some key, URL and tail.

    ``sign``, here: each secret's keyed HMAC, copied for each message.
    """
    tails = tuple(tails)
    # Each comparison is constant-time; stopping at a match tells only
    # which URL form or which rotated token matched, nothing of a secret.
    for variant in urls:
        for tail in tails:
            message = (variant + tail).encode()
            for key in keys:
                mac = key.copy()
                mac.update(message)
                if hmac.compare_digest(b2a_base64(mac.digest(), newline=False), expected):
                    return True
    return False


def check_body_sha256(url: str, body: bytes) -> None:
    """Refuse a non-form body unless the URL's ``bodySHA256`` is its hex SHA-256."""
    claimed = None
    for part in query_of(url).split("&"):
        name, _, value = part.partition("=")
        if name == "bodySHA256":
            if claimed is not None:
                raise VerificationFailed("bodySHA256", "is repeated")
            claimed = value
    if claimed is None:
        raise VerificationFailed("bodySHA256", "is missing: it must cover a non-form body")
    if _HEX64.fullmatch(claimed) is None:
        raise VerificationFailed("bodySHA256", "is not a lower-case hex SHA-256")
    if not hmac.compare_digest(claimed.encode(), body_sha256(body).encode()):
        raise VerificationFailed("bodySHA256", "does not match the body")


def _credentials(value: Mapping[str, str | Sequence[str]]) -> tuple[tuple[bytes, bytes], ...]:
    pairs: list[tuple[bytes, bytes]] = []
    for user, passwords in value.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise UsageError("a Basic-auth user name must be non-empty, without ':'")
        pairs.extend(
            (user.encode(), password.encode())
            for password in _as_list(passwords, "Basic-auth passwords")
        )
    if not pairs:
        raise UsageError("BasicAuth needs at least one user and password")
    return tuple(pairs)


@attrs.frozen(kw_only=True)
class BasicAuth(_ByParts):
    """Credentials in the callback URL (``https://user:password@host/...``).

    ``credentials`` maps each user name to its password, or to several
    while rotating. Missing or unreadable credentials answer 401 with a
    challenge (providers send them only then); wrong ones answer 403.
    """

    credentials: tuple[tuple[bytes, bytes], ...] = attrs.field(
        converter=_credentials, repr=redact.hidden
    )
    realm: str = "callstate"

    def _check(self, method: str, url: str, headers: Headers, *rest: object) -> None:
        # Only the headers count: the body and its parameters are not looked at.
        challenge = f'Basic realm="{self.realm}"'
        header = headers.get("authorization")
        if header is None:
            raise CredentialsRequired("Authorization", "is missing", challenge)
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "basic":
            raise CredentialsRequired("Authorization", "must use the Basic scheme", challenge)
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CredentialsRequired(
                "Authorization", "is not base64 credentials", challenge
            ) from None
        user, sep, password = decoded.partition(b":")
        if not sep:
            raise CredentialsRequired("Authorization", "has no ':' after the user", challenge)
        matched = False
        for known_user, known_password in self.credentials:
            same_user = hmac.compare_digest(user, known_user)
            matched |= hmac.compare_digest(password, known_password) and same_user
        if not matched:
            raise VerificationFailed("Authorization", "credentials are not accepted")


def _verifiers(value: Iterable[Verifier]) -> tuple[Verifier, ...]:
    items = tuple(value)
    if not items:
        raise UsageError("combine at least one verifier")
    return items


@attrs.frozen
class AllOf:
    """Every verifier must pass (say, Basic auth and a signature)."""

    verifiers: tuple[Verifier, ...] = attrs.field(converter=_verifiers)

    def verify(self, request: WebhookRequest) -> None:
        for verifier in self.verifiers:
            verifier.verify(request)


@attrs.frozen
class AnyOf:
    """One verifier passing is enough (say, while moving from one to another).

    When all fail, the first one's failure is raised.
    """

    verifiers: tuple[Verifier, ...] = attrs.field(converter=_verifiers)

    def verify(self, request: WebhookRequest) -> None:
        first: VerificationFailed | None = None
        for verifier in self.verifiers:
            try:
                verifier.verify(request)
            except VerificationFailed as exc:
                first = exc if first is None else first
            else:
                return
        assert first is not None
        raise first


@attrs.frozen
class Unverified(_ByParts):
    """Accept every webhook unchecked: an explicit choice, for tests or a private network."""

    def _check(self, *parts: object) -> None:
        return None  # every webhook passes
