"""Positional constructors for frozen attrs values that hot paths build per request.

attrs gives a frozen slotted class an ``__init__`` that matches keywords and
stores each field through ``object.__setattr__`` (a bound-method call and an
attribute lookup per field). When no field has a validator or a converter,
every field is set by ``__init__``, and the class has no ``__attrs_pre_init__``
or ``__attrs_post_init__``, that ``__init__`` does nothing but store its
arguments. ``maker(cls)`` then returns a function that takes every field
positionally, in the class's order, and stores each straight into its slot:
the same value, for fewer instructions. It refuses any class for which it
would skip something ``__init__`` does, unless told with ``checked=True``
that its caller (a parser) checks and converts every value itself: then only
validators and converters are skipped.

The slots are written through a private subclass that adds no slot and
keeps ``object``'s ``__setattr__`` (one plain store per field, where calling
each slot's setter costs a call through a method wrapper), and the made
instance is then switched to ``cls`` itself, which CPython allows between
classes of one layout: 14.3k -> 4.3k instructions per CallResource (18
fields). Where that subclass cannot be made, each slot's setter is called.
The subclass shows in ``cls.__subclasses__()``; no instance of it is ever
handed out.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MemberDescriptorType
from typing import Any, Generic, TypeVar

import attrs

__all__ = ["maker", "slot_setters", "staging_class"]

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


def staging_class(cls: type) -> type | None:
    """A private subclass of ``cls`` that adds no slot and lets its instances be written.

    Its ``__setattr__`` and ``__delattr__`` are ``object``'s, so CPython stores
    an attribute straight into the slot (a specialised instruction), and since
    it adds nothing to ``cls``'s layout, CPython lets an instance's
    ``__class__`` be set to ``cls``. None where that would not hold: a
    metaclass or an ``__init_subclass__`` (other than ``Generic``'s, which only
    notes type parameters), or a class that refuses the switch.
    """
    hooked = (k for k in cls.__mro__[:-1] if k is not Generic and "__init_subclass__" in k.__dict__)
    if type(cls) is not type or any(hooked):
        return None
    staging = type(
        f"_Making{cls.__name__}",
        (cls,),
        {
            "__slots__": (),
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__module__": cls.__module__,
            "__qualname__": f"_Making{cls.__qualname__}",
        },
    )
    try:
        probe: object = object.__new__(staging)
        probe.__class__ = cls
    except TypeError:
        return None
    return staging


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
    staging = staging_class(cls)
    args = ", ".join(f"v{i}" for i in range(len(names)))
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_staging": staging}
    if staging is not None:
        # Plain attribute stores into the staging class's (inherited) slots, then
        # the instance becomes a ``cls``: same memory, same slots, its own class.
        lines = [f"def make({args}):", "    self = _new(_staging)"]
        lines += [f"    self.{name} = v{i}" for i, name in enumerate(names)]
        lines.append("    self.__class__ = _cls")
    else:
        lines = [f"def make({args}):", "    self = _new(_cls)"]
        for i, setter in enumerate(slot_setters(cls, *names)):
            namespace[f"_set{i}"] = setter  # the slot's own setter: no __setattr__
            lines.append(f"    _set{i}(self, v{i})")
    lines.append("    return self")
    exec(compile("\n".join(lines), f"<callstate maker for {cls.__qualname__}>", "exec"), namespace)
    make: Callable[..., T] = namespace["make"]
    make.__qualname__ = f"maker({cls.__qualname__})"
    make.__doc__ = f"{cls.__qualname__}({', '.join(names)}), all positional."
    return make
