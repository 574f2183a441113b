"""The exceptions callstate raises, all below one root.

::

    CallstateError
    ├── InvalidInput (ValueError)        the other side sent nonsense
    │   ├── InvalidCallback              a status callback that cannot be used
    │   ├── InvalidResource              a Call resource that cannot be used
    │   ├── InvalidParameter             a Calls API parameter breaks its rule; nothing was sent
    │   ├── InvalidValue                 a value built by hand breaks its field's rule
    │   └── VerificationFailed           a webhook failed its signature or credentials check
    │       └── CredentialsRequired      credentials missing or unreadable (with a challenge)
    ├── NotAStatusEvent                  a provider's callback that says nothing of a call's status
    ├── UnknownCall (KeyError)           no such call is known here
    ├── StoreError                       an event store could not do what was asked
    │   ├── StoreUnavailable             it cannot be reached now; retrying may work
    │   │   └── StoreTimeout (TimeoutError)  it did not answer in time
    │   └── VersionConflict              another writer appended first (optimistic concurrency)
    ├── UsageError (TypeError)           you called the API in a way it does not allow
    └── ApiError                         the Calls API could not do what was asked
        ├── ApiTransportError            no complete answer: the effect is unknown (retryable)
        │   ├── ApiTimeout (TimeoutError)          the answer did not come in time
        │   └── ApiConnectionError (ConnectionError)  the connection failed or broke
        ├── ApiResponseError             the provider answered with an error (``.status``)
        │   ├── AuthenticationFailed     401/403: wrong AccountSid or token
        │   ├── CallNotFound             404: no such call at the provider
        │   ├── NothingToModify          409: the call is not in a state to be modified so
        │   ├── CallGone                 410: the call is already over
        │   ├── RequestRejected          any other 4xx, with the provider's message
        │   ├── ServerError              5xx: the provider failed (retryable)
        │   └── BadResponse              an answer that cannot be used (not JSON, too big...)
        └── ModificationRefused          refused before sending: the known state forbids it

Errors about input carry ``field`` (the parameter at fault, as the provider
spells it) and ``reason`` (what is wrong with it). They carry no HTTP status:
``callstate.web`` maps each kind to its answer in one place (400, 403 for a
failed check, 401 with the challenge for missing credentials, 503 for a
store that failed). ``InvalidInput.status_code`` still reads that status,
deprecated.
"""

from __future__ import annotations

import warnings

from callstate._redact import scrub

__all__ = [
    "ApiConnectionError",
    "ApiError",
    "ApiResponseError",
    "ApiTimeout",
    "ApiTransportError",
    "AuthenticationFailed",
    "BadResponse",
    "CallGone",
    "CallNotFound",
    "CallstateError",
    "CredentialsRequired",
    "InvalidCallback",
    "InvalidInput",
    "InvalidParameter",
    "InvalidResource",
    "InvalidValue",
    "ModificationRefused",
    "NotAStatusEvent",
    "NothingToModify",
    "RateLimited",
    "RequestRejected",
    "ServerError",
    "StoreError",
    "StoreTimeout",
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

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.field, self.reason))

    @property
    def status_code(self) -> int:
        """Deprecated: the HTTP status a webhook refused with this was answered with.

        The web layer maps errors to answers (``callstate.web``'s
        ``refusal_status``); this keeps the statuses the errors carried when
        they still did, for old readers, and a test holds the two equal.
        """
        warnings.warn(
            "InvalidInput.status_code is deprecated: callstate.web maps errors to HTTP answers",
            DeprecationWarning,
            stacklevel=2,
        )
        if isinstance(self, CredentialsRequired):
            return 401
        return 403 if isinstance(self, VerificationFailed) else 400


class InvalidCallback(InvalidInput):
    """A status-callback delivery that cannot be parsed or accepted."""


class InvalidResource(InvalidInput):
    """A Call resource (from the Calls API) that cannot be parsed."""


class InvalidValue(InvalidInput):
    """A value built by hand (a ``Delivery``, a command, an event) breaks its field's rule."""


class VerificationFailed(InvalidInput):
    """A webhook that failed its signature or credentials check."""


class NotAStatusEvent(CallstateError):
    """A provider's callback, well formed, that says nothing of a call's status.

    A dialect raises it for the provider's other events sent to the same URL
    (Telnyx's ``call.bridged``, Vonage's ``record``, Bandwidth's ``gather``):
    the webhook is answered 204 with ``Callstate-Result: ignored`` (so the
    provider neither retries nor fails over) and nothing is stored.
    ``field`` names the field that says which event it is, ``event`` what it
    said.
    """

    def __init__(self, field: str, event: str) -> None:
        self.field = field
        self.event = event
        super().__init__(f"{field}: {event!r} is not a call status event")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.field, self.event))


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


class StoreTimeout(StoreUnavailable, TimeoutError):
    """The store did not answer within its bound: what was asked may or may not be done.

    A write that timed out may still commit; a retry of the same delivery is
    then a duplicate, never a second copy.
    """


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


class InvalidParameter(InvalidInput):
    """A Calls API request parameter breaks its rule; nothing was sent."""


class ApiError(CallstateError):
    """The Calls API could not do what was asked."""

    #: Sending the same request again may work (for a request safe to repeat).
    retryable: bool = False


class ApiTransportError(ApiError):
    """No complete answer came back: whether the request took effect is unknown."""

    retryable = True

    def __init__(self, message: str) -> None:
        # A transport names the URL it tried, and a driver's own error may quote
        # it: never with the password of its user information. Scrubbed here,
        # once, for every transport (the error trackers keep the message).
        super().__init__(scrub(message))


class ApiTimeout(ApiTransportError, TimeoutError):
    """The provider did not answer (or finish answering) in time."""


class ApiConnectionError(ApiTransportError, ConnectionError):
    """The connection could not be made, or broke before the answer was complete."""


class ApiResponseError(ApiError):
    """The provider answered with an error: ``status``, its ``message`` and, if any, ``code``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        more_info: str | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.code = code
        self.more_info = more_info
        super().__init__(f"HTTP {status}: {message}" if status else message)

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt from status and message, then given every attribute (a subclass's too).
        return (type(self), (self.status, self.message), dict(self.__dict__))


class AuthenticationFailed(ApiResponseError):
    """401 or 403: the AccountSid and token were not accepted."""


class CallNotFound(ApiResponseError):
    """404: the provider knows no such call (or no such account)."""


class NothingToModify(ApiResponseError):
    """409: the call is not in a state that allows this modification."""


class CallGone(ApiResponseError):
    """410: the call is already over."""


class RequestRejected(ApiResponseError):
    """Any other 4xx: the provider refused the request; ``message`` says why."""


class RateLimited(RequestRejected):
    """429: too many requests; the provider did nothing, so any request may be sent again.

    ``retry_after`` is the pause in seconds its ``Retry-After`` header asked
    for (seconds, or an HTTP date read against the answer's ``Date``), None
    if it asked for none the client could read.
    """

    retryable = True

    def __init__(
        self, status: int, message: str, *, retry_after: float | None = None, **details: str | None
    ) -> None:
        """``details``: ``code`` and ``more_info``, as for every ``ApiResponseError``."""
        self.retry_after = retry_after
        super().__init__(status, message, **details)


class ServerError(ApiResponseError):
    """5xx: the provider failed; the same request may work later."""

    retryable = True


class BadResponse(ApiResponseError):
    """An answer that cannot be used: not JSON, not a Call resource, too big..."""


class ModificationRefused(ApiError):
    """Refused before sending: the call's known status does not allow ``action``."""

    def __init__(self, call_sid: str, action: str, status: str, reason: str) -> None:
        self.call_sid = call_sid
        self.action = action
        self.status = status
        self.reason = reason
        super().__init__(f"cannot {action} call {call_sid!r}: it is {status}; {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.call_sid, self.action, self.status, self.reason))


class CredentialsRequired(VerificationFailed):
    """A webhook came without usable credentials: ask for them with ``challenge``.

    ``challenge`` is the ``WWW-Authenticate`` value that asks for them (a
    provider such as Twilio sends Basic credentials only after this answer).
    """

    def __init__(self, field: str, reason: str, challenge: str = "Basic") -> None:
        self.challenge = challenge
        super().__init__(field, reason)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.field, self.reason, self.challenge))
