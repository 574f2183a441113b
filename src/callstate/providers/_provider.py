"""``Provider``: a voice platform as callstate speaks it; and the registry of them."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Final

import attrs

from callstate._core._state import Dialect as Vocabulary
from callstate._errors import UsageError
from callstate.client._profile import Profile
from callstate.providers._speak import Speaker
from callstate.web._dialect import CallbackReader
from callstate.web._verify import Verifier

__all__ = ["ENTRY_POINTS", "Provider", "get", "names", "register"]

#: The entry-point group a package names its providers in (``name = "module:PROVIDER"``).
ENTRY_POINTS: Final = "callstate.providers"
_NAME: Final = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*", re.ASCII)


def _name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or _NAME.fullmatch(value) is None:
        raise UsageError(f"a provider's name must be lower-case words joined by - or _: {value!r}")


def _dialect(
    instance: object, attribute: attrs.Attribute[CallbackReader], value: CallbackReader
) -> None:
    if not callable(getattr(value, "parse", None)):
        raise UsageError(f"a provider's dialect must have a parse method, not {value!r}")


@attrs.frozen(kw_only=True)
class Provider:
    """A voice platform: how its callbacks read, and how to check and reach it.

    ``dialect`` reads its status callbacks into deliveries (a
    ``callstate.providers.CallbackReader``). ``vocabulary``, when set, is the
    ``callstate.Dialect`` its deliveries must be decided in (``Decider(dialect=
    ...)``; ``callstate serve --provider`` and ``callstate demo --provider``
    use it, whatever ``--dialect`` says): a provider whose ``completed`` is
    the end of every call, answered or not, pins ``RESTCOMM``, so that only a
    reported answer makes a call answered. None: any vocabulary reads it
    right (the decider's own, ``AUTO`` by default). ``verifier``, given the configured
    secrets (its auth tokens or signing keys, as the provider's page says),
    makes the verifier of its signature; None when it signs nothing
    callstate checks (yet): Basic-auth credentials in the callback URL
    (``BasicAuth``) work with every provider. ``profile``, given a base URL or
    None, is its Calls API for placing and fetching calls (the Twilio
    family's ``Profile``); None when callstate cannot place calls there.
    ``speak`` turns what happened to a call into the callbacks the provider
    would send (``callstate.testing.fake_provider`` and ``callstate demo
    --provider`` use it). ``summary`` is one line for listings.
    """

    name: str = attrs.field(validator=_name)
    dialect: CallbackReader = attrs.field(validator=_dialect)
    verifier: Callable[[Sequence[str]], Verifier] | None = None
    profile: Callable[[str | None], Profile] | None = None
    #: What a fake provider needs to speak this dialect (``ProviderEvent`` in, callbacks
    #: out); None: the Twilio family's own callbacks, as the fake provider sends them.
    speak: Speaker | None = None
    summary: str = ""
    vocabulary: Vocabulary | None = attrs.field(
        default=None, converter=attrs.converters.optional(Vocabulary)
    )

    def vocabulary_or(self, chosen: Vocabulary | str) -> Vocabulary:
        """The vocabulary to decide this provider's deliveries in: its own, else ``chosen``."""
        return Vocabulary(chosen) if self.vocabulary is None else self.vocabulary

    def verifier_for(self, secrets: Sequence[str]) -> Verifier:
        """This provider's verifier over ``secrets``; ``UsageError`` when it has none."""
        if self.verifier is None:
            raise UsageError(
                f"callstate checks no signature of {self.name}'s: use Basic-auth "
                "credentials in the callback URL, or accept callbacks unverified on purpose"
            )
        if isinstance(secrets, str) or not secrets:
            raise UsageError(f"{self.name}'s verifier needs one or more secrets (a sequence)")
        return self.verifier(tuple(secrets))


_REGISTRY: dict[str, Provider] = {}


def register(provider: Provider, *, replace: bool = False) -> Provider:
    """Make ``provider`` known by its name (``get`` finds it); returns it.

    A name already registered is a ``UsageError`` unless ``replace``.
    """
    if not isinstance(provider, Provider):
        raise UsageError(f"register takes a Provider, not {type(provider).__name__}")
    if provider.name in _REGISTRY and not replace and _REGISTRY[provider.name] != provider:
        raise UsageError(f"a provider named {provider.name!r} is registered already")
    _REGISTRY[provider.name] = provider
    return provider


def _from_entry_points(name: str) -> Provider | None:
    for point in entry_points(group=ENTRY_POINTS, name=name):
        found = point.load()
        if not isinstance(found, Provider) or found.name != name:
            raise UsageError(
                f"entry point {point.value!r} ({ENTRY_POINTS}) is not a Provider named {name!r}"
            )
        return register(found)
    return None


def get(name: str) -> Provider:
    """The provider registered as ``name`` (or named by an installed package's entry point)."""
    found = _REGISTRY.get(name)
    if found is None:
        found = _from_entry_points(name)
    if found is None:
        known = ", ".join(names())
        raise UsageError(f"no provider is named {name!r} (known: {known})")
    return found


def names() -> tuple[str, ...]:
    """The names of the registered providers and of those installed packages name in the
    ``callstate.providers`` entry-point group (loaded only by ``get``), sorted."""
    return tuple(sorted({*_REGISTRY, *(point.name for point in entry_points(group=ENTRY_POINTS))}))
