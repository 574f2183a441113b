"""The one fast way to build a value: a positional constructor for a frozen attrs class.

attrs gives a frozen slotted class an ``__init__`` that matches keywords, runs
each field's validator and converter, and stores each field through
``object.__setattr__``. Where a hot path builds a value from parts it has
checked itself (the callback parser a ``Delivery``, the decider the event of
a delivery), ``maker(cls)`` returns a function that takes every field
positionally, in the class's order, and stores each straight into its slot:
the same value, for less work. It is the only such technique in callstate,
and this is its only module; everything else is built by attrs.

Without ``checked=True`` it refuses any class for which it would skip
something ``__init__`` does. ``checked=True`` says its caller hands values
that are already checked, converted and derived: validators, converters and
``__attrs_post_init__`` are skipped, and a field that ``__init__`` derives
(``init=False``) is taken positionally too, in its place.

The slots are written through a private subclass that adds no slot and
keeps ``object``'s ``__setattr__`` (one plain store per field), and the made
instance is then switched to ``cls`` itself, which CPython allows between
classes of one layout. Measured for the callback parser (callgrind,
PYTHONHASHSEED=0, ``parse_form`` of 1,000 bodies of ``benchmarks/core.py``):
85.6k instructions a body with ``Delivery._make`` made by ``maker``, 111.6k
with the same ``Delivery`` built by its attrs ``__init__`` (which checks
again what the parser checked): 23% of the parse, which
``parse_apply_eps`` feels. ``tests/core/test_make.py`` holds that the made value
is the one ``__init__`` builds. The subclass shows in
``cls.__subclasses__()``; no instance of it is ever handed out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import attrs

__all__ = ["maker"]

T = TypeVar("T")


def _staging_class(cls: type) -> type:
    """A private subclass of ``cls`` that adds no slot and lets its instances be written.

    Its ``__setattr__`` and ``__delattr__`` are ``object``'s, so CPython stores
    an attribute straight into the slot, and since it adds nothing to
    ``cls``'s layout, CPython lets an instance's ``__class__`` be set to
    ``cls``. A ``TypeError`` where that would not hold: a metaclass or an
    ``__init_subclass__`` (other than ``Generic``'s, which only notes type
    parameters), or a class that refuses the switch.
    """
    hooked = (k for k in cls.__mro__[:-1] if k is not Generic and "__init_subclass__" in k.__dict__)
    if type(cls) is not type or any(hooked):
        raise TypeError(f"{cls.__name__} has a metaclass or an __init_subclass__")
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
    probe: object = object.__new__(staging)
    probe.__class__ = cls  # a TypeError if CPython refuses the switch
    return staging


def maker(cls: type[T], *, checked: bool = False) -> Callable[..., T]:
    """A function taking every field of ``cls`` positionally that builds what ``cls(...)`` does.

    ``checked``: the caller hands only values that pass the fields' validators
    as they are, need no converting, and derives the fields ``__init__``
    would (``init=False``, ``__attrs_post_init__``) itself.
    """
    if not attrs.has(cls) or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a slotted attrs class")
    fields = attrs.fields(cls)
    names = tuple(field.name for field in fields)
    if not checked:
        for field in fields:
            if field.validator is not None or field.converter is not None or not field.init:
                raise TypeError(f"{cls.__name__}.{field.name} is checked, converted or derived")
        for hook in ("__attrs_pre_init__", "__attrs_post_init__"):
            if hasattr(cls, hook):
                raise TypeError(f"{cls.__name__} has {hook}")
    # A slot that is no field (a cached hash...) would be left unset.
    slots = {name for klass in cls.__mro__ for name in klass.__dict__.get("__slots__", ())}
    if slots - {"__weakref__"} != set(names):
        raise TypeError(f"{cls.__name__} has slots that are not fields")
    args = ", ".join(f"v{i}" for i in range(len(names)))
    staging = _staging_class(cls)
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_staging": staging}
    # Plain attribute stores into the staging class's (inherited) slots, then
    # the instance becomes a ``cls``: same memory, same slots, its own class.
    lines = [f"def make({args}):", "    self = _new(_staging)"]
    lines += [f"    self.{name} = v{i}" for i, name in enumerate(names)]
    lines += ["    self.__class__ = _cls", "    return self"]
    exec(compile("\n".join(lines), f"<callstate maker for {cls.__qualname__}>", "exec"), namespace)
    make: Callable[..., T] = namespace["make"]
    make.__qualname__ = f"maker({cls.__qualname__})"
    make.__doc__ = f"{cls.__qualname__}({', '.join(names)}), all positional."
    return make
