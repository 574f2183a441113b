"""Positional constructors for frozen attrs values that hot paths build per request.

attrs gives a frozen slotted class an ``__init__`` that matches keywords and
stores each field through ``object.__setattr__`` (a bound-method call and an
attribute lookup per field). When no field has a validator or a converter,
every field is set by ``__init__``, and the class has no ``__attrs_pre_init__``
or ``__attrs_post_init__``, that ``__init__`` does nothing but store its
arguments. ``maker(cls)`` then returns a function that takes every field
positionally, in the class's order, and stores each straight into its slot:
the same value, for about 30% fewer instructions (18 fields, CallResource).
It refuses any class for which it would skip something ``__init__`` does,
unless told with ``checked=True`` that its caller (a parser) checks and
converts every value itself: then only validators and converters are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MemberDescriptorType
from typing import Any, TypeVar

import attrs

__all__ = ["maker", "slot_setters"]

T = TypeVar("T")


def slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of ``cls``'s slots ``names``, for a frozen class's fast constructor.

    Each is what ``object.__setattr__(obj, name, value)`` finds and calls,
    found once: setting a slot through it costs about half as much. A name
    that is no plain slot of ``cls`` or a base is a ``TypeError``.
    """
    setters = []
    for name in names:
        slot = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
        if not isinstance(slot, MemberDescriptorType):
            raise TypeError(f"{cls.__name__}.{name} is not a plain slot")
        setters.append(slot.__set__)
    return tuple(setters)


def maker(cls: type[T], *, checked: bool = False) -> Callable[..., T]:
    """A function taking every field of ``cls`` positionally that builds what ``cls(...)`` does.

    ``checked``: the caller hands only values that pass the fields' validators
    as they are and need no converting (it checked them itself).
    """
    if not attrs.has(cls) or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a slotted attrs class")
    fields = attrs.fields(cls)
    names = tuple(field.name for field in fields)
    for field in fields:
        skipped = field.validator is not None or field.converter is not None
        if (skipped and not checked) or not field.init:
            raise TypeError(f"{cls.__name__}.{field.name} is checked, converted or derived")
    for hook in ("__attrs_pre_init__", "__attrs_post_init__"):
        if hasattr(cls, hook):
            raise TypeError(f"{cls.__name__} has {hook}")
    # A slot that is no field (a cached hash...) would be left unset.
    slots = {name for klass in cls.__mro__ for name in klass.__dict__.get("__slots__", ())}
    if slots - {"__weakref__"} != set(names):
        raise TypeError(f"{cls.__name__} has slots that are not fields")
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def make({', '.join(f'v{i}' for i in range(len(names)))}):", "    self = _new(_cls)"]
    for i, setter in enumerate(slot_setters(cls, *names)):
        namespace[f"_set{i}"] = setter  # the slot's own setter: no __setattr__
        lines.append(f"    _set{i}(self, v{i})")
    lines.append("    return self")
    exec(compile("\n".join(lines), f"<callstate maker for {cls.__qualname__}>", "exec"), namespace)
    make: Callable[..., T] = namespace["make"]
    make.__qualname__ = f"maker({cls.__qualname__})"
    make.__doc__ = f"{cls.__qualname__}({', '.join(names)}), all positional."
    return make
