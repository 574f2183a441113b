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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, Protocol, Union

import attrs

from callstate._errors import CredentialsRequired, UsageError, VerificationFailed
from callstate._signature import body_sha256, sign, signed_params
from callstate.web._request import WebhookRequest
from callstate.web._url import port_variants, query_of

__all__ = ["AllOf", "AnyOf", "BasicAuth", "Secrets", "TwilioSignature", "Unverified", "Verifier"]

#: base64 of a 20-byte HMAC-SHA1: 27 characters and one "=".
_SIGNATURE: Final = re.compile(r"[A-Za-z0-9+/]{27}=", re.ASCII)
_HEX64: Final = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)


class Verifier(Protocol):
    """Checks that a webhook comes from the provider; raises ``VerificationFailed``."""

    def verify(self, request: WebhookRequest) -> None: ...


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


def _lookup(secrets: Secrets) -> Callable[[str | None], Iterable[str]]:
    if callable(secrets):
        return secrets
    if isinstance(secrets, Mapping):
        table = {account: _as_list(value, "secrets") for account, value in secrets.items()}

        def per_account(account_sid: str | None) -> Iterable[str]:
            return () if account_sid is None else table.get(account_sid, ())

        return per_account
    shared = _as_list(secrets, "secrets")
    if not shared:
        raise UsageError("secrets must hold at least one secret")
    return lambda account_sid: shared


def _single(request: WebhookRequest, name: str) -> str | None:
    found = None
    for key, value in request.params:
        if key == name:
            if found is not None:
                raise VerificationFailed(name, "is repeated")
            found = value
    return found


@attrs.frozen(kw_only=True)
class TwilioSignature:
    """``X-Twilio-Signature``: HMAC-SHA1 of the URL (and form parameters).

    ``secrets`` are the auth tokens: one sequence for every account (list
    the new and the old token while rotating), a mapping from AccountSid to
    its tokens, or a function of the AccountSid (None when the request has
    none) returning them. A form POST is signed over the URL and its
    parameters; a GET over the URL alone; any other body over the URL, which
    must carry the body's hex SHA-256 as ``bodySHA256``. The URL is tried as
    given and with its default port toggled.
    """

    secrets: Callable[[str | None], Iterable[str]] = attrs.field(converter=_lookup)
    header: str = "X-Twilio-Signature"

    def verify(self, request: WebhookRequest) -> None:
        header = self.header
        signature = request.headers.get(header.lower())
        if signature is None:
            raise VerificationFailed(header, "is missing")
        if _SIGNATURE.fullmatch(signature) is None:
            raise VerificationFailed(header, "is not a base64 HMAC-SHA1 (28 characters)")
        if request.method != "GET" and not request.form:
            self._check_body(request)
        tokens = tuple(self.secrets(_single(request, "AccountSid")))
        if not tokens:
            raise VerificationFailed("AccountSid", "has no secret configured")
        tail = signed_params(request.params) if request.form else ""
        expected = signature.encode("ascii")
        # Each comparison is constant-time; stopping at a match tells only
        # which URL form or which rotated token matched, nothing of a secret.
        for url in port_variants(request.url):
            message = (url + tail).encode()
            for token in tokens:
                if hmac.compare_digest(sign(token, message), expected):
                    return
        raise VerificationFailed(header, "does not match the request")

    @staticmethod
    def _check_body(request: WebhookRequest) -> None:
        claimed = None
        for part in query_of(request.url).split("&"):
            name, _, value = part.partition("=")
            if name == "bodySHA256":
                if claimed is not None:
                    raise VerificationFailed("bodySHA256", "is repeated")
                claimed = value
        if claimed is None:
            raise VerificationFailed("bodySHA256", "is missing: it must cover a non-form body")
        if _HEX64.fullmatch(claimed) is None:
            raise VerificationFailed("bodySHA256", "is not a hex SHA-256")
        if not hmac.compare_digest(claimed.lower().encode(), body_sha256(request.body).encode()):
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
class BasicAuth:
    """Credentials in the callback URL (``https://user:password@host/...``).

    ``credentials`` maps each user name to its password, or to several
    while rotating. Missing or unreadable credentials answer 401 with a
    challenge (providers send them only then); wrong ones answer 403.
    """

    credentials: tuple[tuple[bytes, bytes], ...] = attrs.field(converter=_credentials)
    realm: str = "callstate"

    def verify(self, request: WebhookRequest) -> None:
        challenge = f'Basic realm="{self.realm}"'
        header = request.headers.get("authorization")
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
class Unverified:
    """Accept every webhook unchecked: an explicit choice, for tests or a private network."""

    def verify(self, request: WebhookRequest) -> None:
        return None
