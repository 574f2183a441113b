"""What the receiver runs with: flags and environment variables, and the store they name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta

import attrs

from callstate import _redact as redact
from callstate._core._values import Dialect
from callstate._errors import InvalidParameter, UsageError
from callstate.client._profile import check_http_url
from callstate.serve._auth import basic_credentials, check_api_keys
from callstate.serve._forward import check_targets
from callstate.serve._logging import LOG_FORMATS
from callstate.stores._open import DEFAULT_STORE, open_store
from callstate.web._url import PublicUrl

__all__ = ["ServeConfig", "open_store"]

_ENV = "CALLSTATE_"
#: Settings whose environment twin is a comma-separated list.
_LISTS = frozenset(
    {"trusted_proxy_headers", "trusted_proxy_ips", "api_keys", "basic_auth", "forward"}
)


def _port(value: object) -> int:
    try:
        port = int(str(value))
    except ValueError:
        raise UsageError(f"port must be a whole number, not {value!r}") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"port must be from 0 to 65535, not {port}")
    return port


def _seconds(value: object) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        raise UsageError(f"a timeout must be a number of seconds, not {value!r}") from None
    if not 0 < seconds <= 3600:
        raise UsageError(f"a timeout must be more than 0 and at most 3600 seconds, not {seconds}")
    return seconds


def _whole(name: str, value: object, most: int | None = None) -> int:
    """A setting that is a whole number from 1 (to ``most``), read from ``value``."""
    try:
        count = int(str(value))
    except ValueError:
        raise UsageError(f"{name} must be a whole number, not {value!r}") from None
    if most is None and count < 1:
        raise UsageError(f"{name} must be 1 or more, not {count}")
    if most is not None and not 1 <= count <= most:
        raise UsageError(f"{name} must be 1 to {most}, not {count}")
    return count


def _count(value: object) -> int:
    return _whole("max_connections", value)


#: At most this many worker processes (a receiver on a bigger box runs several services).
MAX_WORKERS = 64


def _workers(value: object) -> int:
    return _whole("workers", value, MAX_WORKERS)


def _insecure(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise UsageError(
        "--insecure-no-signatures (CALLSTATE_INSECURE_NO_SIGNATURES) must be"
        f" 1/true/yes/on or 0/false/no/off, not {value!r}"
    )


def _api_keys(value: Iterable[str]) -> tuple[str, ...]:
    try:
        return check_api_keys(value)
    except UsageError as exc:
        raise UsageError(f"--api-key (CALLSTATE_API_KEYS): {exc}") from None


def _basic_auth(value: Iterable[str]) -> tuple[str, ...]:
    try:
        return basic_credentials(value)
    except UsageError as exc:
        raise UsageError(f"--basic-auth (CALLSTATE_BASIC_AUTH): {exc}") from None


def _forward(value: Iterable[str]) -> tuple[str, ...]:
    return check_targets((value,) if isinstance(value, str) else value)


def _interval(value: object) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        raise UsageError(f"an interval must be a number of seconds, not {value!r}") from None
    if not 0 < seconds <= 86_400:
        raise UsageError(f"an interval must be more than 0 and at most 86400 s, not {seconds}")
    return seconds


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        seconds = float(str(value))
    except ValueError:
        raise UsageError(f"a duration must be a number of seconds, not {value!r}") from None
    if not 0 <= seconds <= 7 * 86_400:
        raise UsageError(f"a duration must be from 0 to 604800 seconds, not {seconds}")
    return timedelta(seconds=seconds)


def _concurrency(value: object) -> int:
    try:
        count = int(str(value))
    except ValueError:
        raise UsageError(f"reconcile_concurrency must be a whole number, not {value!r}") from None
    if not 1 <= count <= 256:
        raise UsageError(f"reconcile_concurrency must be from 1 to 256, not {count}")
    return count


def _keep_days(value: object) -> int | None:
    if value is None:
        return None
    try:
        days = int(str(value))
    except ValueError:
        raise UsageError(f"keep_days must be a whole number of days, not {value!r}") from None
    if not 0 <= days <= 36_500:
        raise UsageError(f"keep_days must be from 0 to 36500, not {days}")
    return days


def _profile(value: object) -> str:
    if value not in ("api19", "restcomm", "twilio"):
        raise UsageError(f"profile must be api19, restcomm or twilio, not {value!r}")
    return str(value)


def _provider(value: object) -> str:
    # Only the name is kept (the config stays a plain value); that it names a
    # provider is checked here, before anything is opened.
    from callstate import providers  # noqa: PLC0415 (the registry loads the bundled providers)

    return providers.get(str(value)).name


def _base_url(value: object) -> str | None:
    if value is None:
        return None
    try:
        check_http_url("api_base_url", str(value))
    except InvalidParameter as exc:
        raise UsageError(str(exc)) from None
    return str(value).rstrip("/")


@attrs.frozen(kw_only=True)
class ServeConfig:
    """The receiver's settings; each has a ``CALLSTATE_<NAME>`` environment twin."""

    host: str = "127.0.0.1"
    port: int = attrs.field(default=8000, converter=_port)
    store: str = attrs.field(default=DEFAULT_STORE, repr=redact.urls)
    auth_token: str | None = attrs.field(default=None, repr=redact.hidden)
    #: The secret the provider signs callbacks with when it is not the auth token
    #: (SignalWire's signing key, Telnyx's public key, Vonage's signature secret).
    signature_secret: str | None = attrs.field(default=None, repr=redact.hidden)
    dialect: Dialect = attrs.field(default=Dialect.AUTO, converter=Dialect)
    #: Whose callbacks ``/callbacks`` reads (``callstate.providers``): its dialect and signature.
    provider: str = attrs.field(default="twilio", converter=_provider)
    #: The callback URL as configured at the provider (or its origin): what signatures cover.
    public_url: str | None = attrs.field(default=None)
    #: Forwarded headers to trust for rebuilding the public URL (e.g. "x-forwarded-proto").
    trusted_proxy_headers: tuple[str, ...] = ()
    #: The proxies (addresses or networks) whose forwarded headers are read: loopback by default.
    trusted_proxy_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    log_level: str = "info"
    #: "json" (one object a line, the default) or "text"; controls escaped in both.
    log_format: str = attrs.field(default="json")

    @log_format.validator
    def _check_log_format(self, attribute: object, value: str) -> None:
        if value not in LOG_FORMATS:
            raise UsageError(f"log_format must be one of {', '.join(LOG_FORMATS)}, not {value!r}")

    #: Seconds a store operation may take; past it the request is answered 503.
    store_timeout: float = attrs.field(default=5.0, converter=_seconds)
    #: Seconds a connection may take to send a request's headers (from its
    #: opening, or from the previous answer); past it: 408 and closed.
    header_timeout: float = attrs.field(default=10.0, converter=_seconds)
    #: Seconds a request's body may take to arrive after its headers: 408, nothing stored.
    body_timeout: float = attrs.field(default=10.0, converter=_seconds)
    #: Connections open at once; past it requests are answered 503.
    max_connections: int = attrs.field(default=1000, converter=_count)
    #: Worker processes serving one listening socket over one store (PostgreSQL only).
    workers: int = attrs.field(default=1, converter=_workers)
    #: Bearer keys for every route but /callbacks and /healthz (several while rotating).
    api_keys: tuple[str, ...] = attrs.field(
        default=(),
        converter=_api_keys,
        repr=redact.hidden,
    )
    #: ``user:password`` entries that /callbacks accepts as Basic-auth credentials.
    basic_auth: tuple[str, ...] = attrs.field(
        default=(),
        converter=_basic_auth,
        repr=redact.hidden,
    )
    #: Accept callbacks unverified (loopback addresses only); logged as a warning.
    insecure_no_signatures: bool = attrs.field(default=False, converter=_insecure)
    #: The account whose calls are reconciled (with ``auth_token``); None: no reconciliation.
    account_sid: str | None = None
    #: Which Calls API: ``api19``, ``restcomm`` or ``twilio``.
    profile: str = attrs.field(default="twilio", converter=_profile)
    #: The Calls API's address before ``/Accounts`` (None: the profile's own).
    api_base_url: str | None = attrs.field(default=None, converter=_base_url, repr=redact.urls)
    #: Seconds between reconciliation passes (also the first pause of a call's backoff).
    reconcile_interval: float = attrs.field(default=30.0, converter=_interval)
    #: Fetches at once during a pass.
    reconcile_concurrency: int = attrs.field(default=4, converter=_concurrency)
    #: Seconds a Calls API request may take.
    api_timeout: float = attrs.field(default=10.0, converter=_seconds)
    #: A call's ring timeout when its own is unknown.
    ring_timeout: timedelta = attrs.field(default=timedelta(seconds=60), converter=_duration)
    #: How long after ringing a call may go on before it is overdue (the grace).
    max_call_length: timedelta = attrs.field(default=timedelta(hours=4), converter=_duration)
    #: URLs every status change is sent to, as a signed webhook (Standard Webhooks).
    forward: tuple[str, ...] = attrs.field(default=(), converter=_forward, repr=redact.urls)
    #: The forwards' signing secret, ``whsec_<base64>``.
    forward_secret: str | None = attrs.field(default=None, repr=redact.hidden)

    #: Remove the calls final for longer than this many days (None: keep everything).
    keep_days: int | None = attrs.field(default=None, converter=_keep_days)
    #: Seconds between retention passes (sooner while a pass is behind).
    retention_interval: float = attrs.field(default=600.0, converter=_interval)

    @public_url.validator
    def _check_public_url(self, attribute: object, value: str | None) -> None:
        if value is not None:
            PublicUrl(value)  # a UsageError, before the store is opened
            if self.trusted_proxy_headers:
                raise UsageError(
                    "give --public-url or --trust-proxy-header, not both: with the public "
                    "URL known, no forwarded header is needed to rebuild it"
                )

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **flags: object) -> ServeConfig:
        """Flags win over ``CALLSTATE_*`` variables, which win over the defaults."""
        values: dict[str, object] = {}
        for field in attrs.fields(cls):
            env = environ.get(_ENV + field.name.upper())
            if env is not None and env != "":
                values[field.name] = (
                    tuple(h.strip() for h in env.split(",") if h.strip())
                    if field.name in _LISTS
                    else env
                )
        values.update({k: v for k, v in flags.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
