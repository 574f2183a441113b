"""Dialects: how a provider's status callback reads as the core's ``Delivery``.

The handler reads a request's parameters once (``params_of``: the form body,
the query string of a GET, or the top level of a JSON body), checks the
verifier, then hands the same parts to the dialect's ``parse``. A dialect
raises ``InvalidCallback`` naming the field and the reason (the webhook is
answered 400 with it), or ``NotAStatusEvent`` for a provider's event that
says nothing of a call's status (answered 204 with ``Callstate-Result:
ignored``; nothing is stored), and nothing else.

``TWILIO`` is the default: the Twilio/Restcomm family's form fields
(``CallSid``, ``CallStatus``, ``SequenceNumber``, ...), read exactly as the
handler always read them (``parse_known`` of the pairs split once).
"""

from __future__ import annotations

from typing import Final, Protocol

from callstate._core._parse import Limits, parse_callback, parse_known
from callstate._core._values import Delivery
from callstate.web._request import Headers

__all__ = ["TWILIO", "CallbackReader", "TwilioDialect"]


class CallbackReader(Protocol):
    """Reads one status callback's request into a ``Delivery``: a provider's dialect.

    (Not ``callstate.Dialect``, the vocabulary a ``Decider`` reads
    ``CallStatus`` in.)

    ``parse`` is given the request's parts as the handler read them:
    ``method`` (GET or POST), the public ``url``, ``headers`` (names
    lower-cased), the raw ``body``, ``params`` (the pairs of the form body,
    of the query string for a GET, or of a JSON body's top level), ``form``
    (they came from a form body), ``by_name`` (the same pairs as a dict when
    no name repeats, else None) and the handler's ``limits``. It raises
    ``InvalidCallback`` naming the field at fault, or ``NotAStatusEvent``
    for one of the provider's other events (nothing is stored), and nothing
    else.
    """

    def parse(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes,
        params: tuple[tuple[str, str], ...],
        form: bool,
        by_name: dict[str, str] | None,
        limits: Limits,
    ) -> Delivery: ...


class TwilioDialect:
    """The Twilio/Restcomm family: ``CallSid``, ``CallStatus``, ``SequenceNumber``, ...

    Form bodies, GET query strings and JSON bodies of the same names.
    """

    __slots__ = ()

    def parse(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes,
        params: tuple[tuple[str, str], ...],
        form: bool,
        by_name: dict[str, str] | None,
        limits: Limits,
    ) -> Delivery:
        # The form (or query string) was split once: the signature and the
        # delivery read the same pairs. A JSON body's pairs get the full check.
        if form or method == "GET":
            return parse_known(params, by_name)
        return parse_callback(params, limits=limits)

    def __repr__(self) -> str:
        return "TwilioDialect()"


#: The default dialect of the webhook handlers.
TWILIO: Final = TwilioDialect()
