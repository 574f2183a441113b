"""The exceptions callstate raises, all below one root.

::

    CallstateError
    ├── InvalidInput (ValueError)        the other side sent nonsense: 4xx
    │   ├── InvalidCallback              a status callback that cannot be used
    │   ├── InvalidResource              a Call resource that cannot be used
    │   └── VerificationFailed           a webhook failed its signature or credentials check: 403
    │       └── CredentialsRequired      credentials missing or unreadable: 401 with a challenge
    ├── UnknownCall (KeyError)           no such call is known here
    ├── StoreError                       an event store could not do what was asked
    │   ├── StoreUnavailable             it cannot be reached now; retrying may work: 503
    │   └── VersionConflict              another writer appended first (optimistic concurrency)
    └── UsageError (TypeError)           you called the API in a way it does not allow

Errors about input carry ``field`` (the parameter at fault, as the provider
spells it) and ``reason`` (what is wrong with it), and ``status_code``: the
HTTP status a webhook should answer with.
"""

from __future__ import annotations

__all__ = [
    "CallstateError",
    "CredentialsRequired",
    "InvalidCallback",
    "InvalidInput",
    "InvalidResource",
    "StoreError",
    "StoreUnavailable",
    "UnknownCall",
    "UsageError",
    "VerificationFailed",
    "VersionConflict",
]


class CallstateError(Exception):
    """The root of every error callstate raises on purpose."""


class InvalidInput(CallstateError, ValueError):
    """Input from the other side is unusable: names the field and the reason."""

    status_code: int = 400

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.field, self.reason))


class InvalidCallback(InvalidInput):
    """A status-callback delivery that cannot be parsed or accepted."""


class InvalidResource(InvalidInput):
    """A Call resource (from the Calls API) that cannot be parsed."""


class VerificationFailed(InvalidInput):
    """A webhook that failed its signature or credentials check."""

    status_code = 403


class UnknownCall(CallstateError, KeyError):
    """No call with this CallSid is known here."""

    def __init__(self, call_sid: str) -> None:
        self.call_sid = call_sid
        super().__init__(call_sid)

    def __str__(self) -> str:
        return f"no call {self.call_sid!r} is known here"


class StoreError(CallstateError):
    """An event store could not do what was asked."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or used now; the same request may work later."""


class VersionConflict(StoreError):
    """Another writer appended to the call first: reload and decide again."""

    def __init__(self, call_sid: str, expected: int, actual: int) -> None:
        self.call_sid = call_sid
        self.expected = expected
        self.actual = actual
        super().__init__(f"call {call_sid!r} is at version {actual}, not {expected}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.call_sid, self.expected, self.actual))


class UsageError(CallstateError, TypeError):
    """The library was called in a way it does not allow."""


class CredentialsRequired(VerificationFailed):
    """A webhook came without usable credentials: answer 401 with ``challenge``.

    ``challenge`` is the ``WWW-Authenticate`` value that asks for them (a
    provider such as Twilio sends Basic credentials only after this answer).
    """

    status_code = 401

    def __init__(self, field: str, reason: str, challenge: str = "Basic") -> None:
        self.challenge = challenge
        super().__init__(field, reason)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.field, self.reason, self.challenge))
