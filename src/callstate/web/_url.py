"""The URL a provider called: default-port variants, and rebuilding it behind a proxy.

Signatures cover the URL exactly as the provider wrote it, so nothing here
re-encodes a path or a query string: only the scheme and the authority are
ever replaced.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Final, Union

import attrs

from callstate._errors import InvalidInput, UsageError

__all__ = [
    "FORWARDED_HEADERS",
    "PublicUrl",
    "TrustedProxy",
    "check_host",
    "port_variants",
    "query_of",
    "split_url",
]

DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
#: The headers a proxy may be trusted for.
FORWARDED_HEADERS: Final = frozenset(
    {"forwarded", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port"}
)
_HOST: Final = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~\-]+)(?::([0-9]{1,5}))?", re.ASCII)
_PORT: Final = re.compile(r"[0-9]{1,5}", re.ASCII)


def check_host(value: str, where: str) -> re.Match[str]:
    """``value`` read as a host with an optional port; a 400 naming ``where`` if it is not one.

    A ``Host`` (or forwarded host) with a ``/``, ``?``, ``@`` or a space in it
    would move the signed URL's path: ``Host: other-app.example/tenant7``
    makes ``/callbacks`` read as ``other-app.example/tenant7/callbacks``.
    """
    matched = _HOST.fullmatch(value)
    if matched is None:
        raise InvalidInput(where, f"is not a host: {value[:60]!r}")
    return matched


def split_url(url: str) -> tuple[str, str, str, str]:
    """(scheme, host, port or "", rest): rest is the path, query and fragment as given."""
    scheme, sep, tail = url.partition("://")
    if not sep:
        raise InvalidInput("url", "is not an absolute URL")
    cut = len(tail)
    for mark in "/?#":
        found = tail.find(mark)
        if found != -1 and found < cut:
            cut = found
    authority, rest = tail[:cut], tail[cut:]
    authority = authority.rpartition("@")[2]  # credentials are never signed
    if authority.startswith("["):
        close = authority.find("]")
        host, port = authority[: close + 1], authority[close + 2 :]
    else:
        host, _, port = authority.partition(":")
    return scheme.lower(), host, port, rest


def _join(scheme: str, host: str, port: str, rest: str) -> str:
    return f"{scheme}://{host}:{port}{rest}" if port else f"{scheme}://{host}{rest}"


@functools.lru_cache(maxsize=256)
def port_variants(url: str) -> tuple[str, ...]:
    """``url`` as given, then its other form: with its port removed, or the default one added.

    Twilio's own validator (twilio-python's ``RequestValidator``) accepts a
    signature over the URL without any port, or with its port (the default
    one when it has none), because providers sign whichever form they were
    configured with: a receiver on ``https://host:8443/`` is called with
    signatures over ``https://host/`` too. Exactly these two forms are tried.
    """
    scheme, host, port, rest = split_url(url)
    default = DEFAULT_PORTS.get(scheme)
    if default is None:
        return (url,)
    if not port:
        return (url, _join(scheme, host, default, rest))
    return (url, _join(scheme, host, "", rest))


def query_of(url: str) -> str:
    """The raw query string of ``url`` (no fragment), or ""."""
    query = url.partition("?")[2]
    return query.partition("#")[0]


def _trusted(value: Iterable[str]) -> frozenset[str]:
    names = frozenset(name.lower() for name in value)
    unknown = names - FORWARDED_HEADERS
    if unknown:
        raise UsageError(
            f"cannot trust {sorted(unknown)}: only {sorted(FORWARDED_HEADERS)} rebuild a URL"
        )
    return names


Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def _networks(value: Iterable[str]) -> tuple[Network, ...]:
    if isinstance(value, str):
        value = [value]
    found = []
    for item in value:
        try:
            found.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise UsageError(
                f"a trusted proxy must be an IP address or network (10.0.0.0/8), not {item!r}"
            ) from None
    return tuple(found)


def _last(value: str) -> str:
    """The value the nearest proxy added: the last of a comma list."""
    return value.rpartition(",")[2].strip()


def _forwarded_element(value: str) -> dict[str, str]:
    pairs = {}
    for part in _last(value).split(";"):
        name, sep, item = part.partition("=")
        if sep:
            pairs[name.strip().lower()] = item.strip().strip('"')
    return pairs


@attrs.frozen(kw_only=True)
class TrustedProxy:
    """Rebuild the public URL from the forwarded headers you trust, and no others.

    ``trust`` names the headers your own proxy sets (and strips from what
    clients send): any of ``Forwarded``, ``X-Forwarded-Proto``,
    ``X-Forwarded-Host`` and ``X-Forwarded-Port``. Where a header holds a
    list, the last entry (the one your nearest proxy added) is used.
    ``Forwarded`` says first; the ``X-Forwarded-*`` headers fill the rest.
    A trusted header that cannot be read is a 400 naming it.

    ``proxies`` are your proxies' addresses or networks (``"10.0.0.2"``,
    ``"10.0.0.0/8"``, ``"::1"``): the headers are read only from a request
    whose peer (the address the connection came from, as the adapter reads
    it) is one of them, and ignored from any other (as if not sent). With
    none, they are read from every peer: only when nothing but your proxy can
    reach the server.
    """

    trust: frozenset[str] = attrs.field(converter=_trusted)
    proxies: tuple[Network, ...] = attrs.field(default=(), converter=_networks)

    def trusts(self, peer: str | None) -> bool:
        """Whether the forwarded headers of a request from ``peer`` are read."""
        if not self.proxies:
            return True
        if not peer:
            return False
        try:
            address = ipaddress.ip_address(peer.partition("%")[0])
        except ValueError:
            return False  # no IP address (a Unix socket): not a proxy named
        mapped = getattr(address, "ipv4_mapped", None)
        return any(
            address in network or (mapped is not None and mapped in network)
            for network in self.proxies
        )

    def public_url(self, url: str, headers: Mapping[str, str], peer: str | None = None) -> str:
        """``url`` as the server saw it, with the scheme and authority the proxy reports.

        ``peer`` is the address the request came from: with ``proxies``
        named, the headers of a request from anywhere else are ignored.
        """
        trust = self.trust
        if not trust or (self.proxies and not self.trusts(peer)):
            return url
        proto = host = port = None
        where = host_where = "Forwarded"
        if "forwarded" in trust and "forwarded" in headers:
            element = _forwarded_element(headers["forwarded"])
            proto = element.get("proto")
            host = element.get("host")
            where = "Forwarded"
        if proto is None and "x-forwarded-proto" in trust and "x-forwarded-proto" in headers:
            proto = _last(headers["x-forwarded-proto"])
            where = "X-Forwarded-Proto"
        if proto is not None and proto.lower() not in DEFAULT_PORTS:
            raise InvalidInput(where, f"has an unknown protocol {proto[:20]!r}")
        if host is None and "x-forwarded-host" in trust and "x-forwarded-host" in headers:
            host = _last(headers["x-forwarded-host"])
            host_where = "X-Forwarded-Host"
        if "x-forwarded-port" in trust and "x-forwarded-port" in headers:
            port = _last(headers["x-forwarded-port"])
            if _PORT.fullmatch(port) is None or not 0 < int(port) < 65536:
                raise InvalidInput("X-Forwarded-Port", "is not a port number")
        if proto is None and host is None and port is None:
            return url
        scheme, old_host, old_port, rest = split_url(url)
        new_port = old_port
        if proto is not None:
            scheme = proto.lower()
            new_port = ""
        if host is not None:
            matched = check_host(host, host_where)
            old_host, new_port = matched.group(1), matched.group(2) or ""
        if port is not None:
            new_port = port
        if new_port == DEFAULT_PORTS.get(scheme):
            new_port = ""
        return _join(scheme, old_host, new_port, rest)


@attrs.frozen
class PublicUrl:
    """The URL the provider was told to call, whatever the request's ``Host`` says.

    ``base`` is the callback URL as configured at the provider
    (``https://calls.example.com/callbacks``): its path replaces the
    request's. Or only its origin (``https://calls.example.com``): each
    request keeps its own path. The request's query string is kept either way.
    """

    base: str = attrs.field()
    _origin: str = attrs.field(init=False, repr=False, eq=False)
    _path: str = attrs.field(init=False, repr=False, eq=False)

    @base.validator
    def _check(self, attribute: object, value: str) -> None:
        if not isinstance(value, str):
            raise UsageError("public_url must be a string such as https://calls.example.com")
        scheme, sep, tail = value.partition("://")
        if not sep or scheme.lower() not in DEFAULT_PORTS:
            raise UsageError(f"public_url must be an http:// or https:// URL, not {value!r}")
        authority, slash, path = tail.partition("/")
        if "?" in tail or "#" in tail or "@" in authority:
            raise UsageError(
                f"public_url must have no query, fragment or credentials: {value!r} "
                "(the request's query string is the one signed)"
            )
        try:
            check_host(authority, "public_url")
        except InvalidInput:
            raise UsageError(f"public_url has no usable host: {value!r}") from None
        path = slash + path if path else ""
        object.__setattr__(self, "_origin", f"{scheme.lower()}://{authority}")
        object.__setattr__(self, "_path", path)

    def url_for(self, url: str) -> str:
        """The public URL of a request to ``url`` (as the server saw it)."""
        rest = split_url(url)[3]
        if not self._path:
            return self._origin + rest
        query = rest.find("?")
        return self._origin + self._path + (rest[query:] if query != -1 else "")
