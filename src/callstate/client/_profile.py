"""Provider profiles: where the Calls API lives and how it spells a request."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

import attrs

from callstate import _redact as redact
from callstate._errors import InvalidParameter

__all__ = ["Profile"]


def check_http_url(field: str, value: str) -> None:
    """Raise ``InvalidParameter`` unless ``value`` is an absolute http(s) URL."""
    if not isinstance(value, str):
        raise InvalidParameter(field, f"must be a URL in text, not {type(value).__name__}")
    try:
        parts = urlsplit(value)
    except ValueError:
        # Not urlsplit's message: it quotes the netloc, and with it any password.
        raise InvalidParameter(field, "is not a URL (its host part cannot be read)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameter(field, "must be an absolute http(s) URL")
    if any(c.isspace() or ord(c) < 32 for c in value):
        raise InvalidParameter(field, "must not contain spaces or control characters")


def _base_url(value: str) -> str:
    check_http_url("base_url", value)
    return value.rstrip("/")


@attrs.frozen(kw_only=True)
class Profile:
    """A member of the Calls API family.

    ``base_url`` is the part before ``/Accounts/{AccountSid}/Calls.json`` and
    is always yours to override (a regional host, a test server).
    ``repeat_events`` sends ``StatusCallbackEvent`` as repeated parameters
    (Twilio) instead of one comma-separated value (the Restcomm family).
    ``follow_next_page_uri`` walks the list by the page's ``next_page_uri``
    (Twilio pages by token) instead of asking for ``Page`` + 1.
    ``takes_twiml`` and ``takes_application_sid``: the API takes ``Twiml``
    (creating and updating a call) and ``ApplicationSid`` (creating one) in
    place of ``Url``, as Twilio's does; Restcomm's requires ``Url``.
    """

    API19_BASE: ClassVar[str] = "https://v1.api19.com/call/2012-04-24"
    TWILIO_BASE: ClassVar[str] = "https://api.twilio.com/2010-04-01"

    name: str
    base_url: str = attrs.field(converter=_base_url, repr=redact.urls)
    repeat_events: bool = False
    follow_next_page_uri: bool = False
    takes_twiml: bool = False
    takes_application_sid: bool = False

    @classmethod
    def api19(cls, base_url: str | None = None) -> Profile:
        """CallAPI / api19 (the default), or any Restcomm 2012-04-24 host at ``base_url``."""
        return cls(name="api19", base_url=base_url or cls.API19_BASE)

    @classmethod
    def restcomm(cls, host: str) -> Profile:
        """Restcomm Connect at ``host`` (``https://cloud.example.com``), path ``/restcomm/...``."""
        return cls(name="restcomm", base_url=f"{host.rstrip('/')}/restcomm/2012-04-24")

    @classmethod
    def twilio(cls, base_url: str | None = None) -> Profile:
        """Twilio's ``/2010-04-01`` API."""
        return cls(
            name="twilio",
            base_url=base_url or cls.TWILIO_BASE,
            repeat_events=True,
            follow_next_page_uri=True,
            takes_twiml=True,
            takes_application_sid=True,
        )

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the base URL: what a ``next_page_uri`` is relative to."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    def with_base_url(self, base_url: str) -> Profile:
        """The same profile at another address."""
        return attrs.evolve(self, base_url=base_url)
