"""``maker``: a positional constructor builds exactly what the attrs ``__init__`` builds.

It is callstate's one fast way to build values, used on the hot paths of a
delivery (the parser's ``Delivery``, the handler's ``RecordDelivery``, the
decider's events): the fast path equals the plain path. Unless told that its
caller checks, converts and derives, it refuses any class whose ``__init__``
does more than store its arguments.
"""

from __future__ import annotations

import copy
import math
import pickle
import weakref
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate._core._decider import _delivery_events
from callstate._core._make import maker
from callstate._core._state import CallStatus
from callstate._core._values import (
    CallbackStatus,
    CallResource,
    Delivery,
    DeliveryAccepted,
    DuplicateIgnored,
    RecordDelivery,
)
from callstate.client._api import Operation
from callstate.client._http import Request
from callstate.testing.strategies import call_resources, deliveries, timestamps


def _same(a: object, b: object) -> None:
    assert type(a) is type(b)
    for field in attrs.fields(type(a)):
        assert getattr(a, field.name) is getattr(b, field.name), field.name
    assert a == b
    assert hash(a) == hash(b)
    assert repr(a) == repr(b)


def _positional(value: Any) -> tuple[object, ...]:
    return tuple(getattr(value, field.name) for field in attrs.fields(type(value)))


@given(call_resources())
def test_a_made_call_resource_is_the_one_init_builds(resource):
    made = maker(CallResource, checked=True)(*_positional(resource))
    _same(made, resource)
    assert made.raw is resource.raw
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.sid = "CAx"  # type: ignore[misc]


@given(
    st.sampled_from(["GET", "POST"]),
    st.text(max_size=20),
    st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=3).map(tuple),
    st.binary(max_size=10),
    st.integers(0, 2**24),
    st.integers(100, 599),
)
def test_made_requests_and_operations_are_the_ones_init_builds(
    method, url, headers, body, limit, status
):
    request = Request(method=method, url=url, headers=headers, body=body, max_response_bytes=limit)
    _same(maker(Request)(method, url, headers, body, limit), request)
    _same(
        maker(Operation)(request, len, True), Operation(request=request, read=len, repeatable=True)
    )


def test_every_field_is_positional_in_the_class_order():
    make = maker(CallResource, checked=True)
    names = [field.name for field in attrs.fields(CallResource)]
    with pytest.raises(TypeError):
        make(*names[:-1])
    made = make(*names)
    assert [getattr(made, name) for name in names] == names


def _refused(cls: type) -> None:
    with pytest.raises(TypeError):
        maker(cls)


def test_a_class_whose_init_checks_converts_or_derives_is_refused():
    @attrs.frozen
    class Checked:
        x: int = attrs.field(validator=attrs.validators.ge(0))

    @attrs.frozen
    class Converted:
        x: int = attrs.field(converter=int)

    @attrs.frozen
    class Derived:
        x: int
        y: int = attrs.field(init=False)

        def __attrs_post_init__(self) -> None:
            object.__setattr__(self, "y", self.x)

    @attrs.frozen
    class Prepared:
        x: int

        def __attrs_pre_init__(self) -> None:
            pass

    @attrs.frozen(cache_hash=True)
    class CachedHash:
        x: int

    for cls in (Checked, Converted, Derived, Prepared, CachedHash):
        _refused(cls)
    _refused(CallResource)  # its status is converted, its dates checked
    _refused(Delivery)  # checked, converted, and ``_hot`` derived after init
    # Told that the caller checks, converts and derives, it skips all that:
    # a derived field is taken in its place, no hook runs.
    assert maker(Checked, checked=True)(-1).x == -1
    assert maker(Converted, checked=True)("1").x == "1"
    assert attrs.astuple(maker(Derived, checked=True)(1, 7)) == (1, 7)
    assert maker(Prepared, checked=True)(1).x == 1
    # A slot that is no field would be left unset, whatever it is told.
    with pytest.raises(TypeError):
        maker(CachedHash, checked=True)


def test_a_class_without_slots_or_attrs_is_refused():
    @attrs.frozen(slots=False)
    class Unslotted:
        x: int

    class Plain:
        __slots__ = ("x",)

    class Extra:
        __slots__ = ("extra",)  # a slot no field sets

    @attrs.frozen
    class OnExtra(Extra):
        x: int

    _refused(Unslotted)
    _refused(Plain)
    _refused(OnExtra)


def test_a_slotted_subclass_sets_its_base_fields_too():
    @attrs.frozen
    class Base:
        x: int

    @attrs.frozen
    class Child(Base):
        y: int

    _same(maker(Child)(1, 2), Child(x=1, y=2))


def test_a_made_value_is_of_the_class_itself_and_behaves_as_one():
    make = maker(CallResource, checked=True)
    resource = CallResource(sid="CA1", status=CallStatus.QUEUED, to="+1555")
    made = make(*_positional(resource))
    assert type(made) is CallResource
    assert weakref.ref(made)() is made
    assert copy.copy(made) == resource
    assert pickle.loads(pickle.dumps(made)) == resource
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del made.sid
    assert attrs.evolve(made, to="+1666") == attrs.evolve(resource, to="+1666")


def test_a_class_that_cannot_be_staged_is_refused():
    class Meta(type):
        pass

    @attrs.frozen
    class WithMeta(metaclass=Meta):
        x: int
        y: str

    @attrs.frozen
    class WithHook:
        x: int
        y: str

        def __init_subclass__(cls) -> None:
            raise AssertionError("no subclass may be made")

    for cls in (WithMeta, WithHook):
        _refused(cls)
        assert cls.__subclasses__() == []


def test_the_hot_path_classes_are_made_through_a_staging_subclass():
    # Generic's __init_subclass__ (Operation) only notes type parameters and
    # does not stop it. The staging class never leaks.
    for cls in (Delivery, RecordDelivery, DeliveryAccepted, DuplicateIgnored, Operation):
        make = maker(cls, checked=True)
        staged = [k for k in cls.__subclasses__() if k.__name__ == f"_Making{cls.__name__}"]
        assert staged, cls
        assert "_staging" in make.__globals__ and make.__globals__["_staging"] in staged
        made = make(*range(len(attrs.fields(cls))))
        assert type(made) is cls


_CODES = {status: code for code, status in enumerate(CallbackStatus)}


@given(deliveries(), st.none() | timestamps())
def test_the_parser_and_handler_constructors_build_what_init_builds(delivery, received_at):
    at = math.nan if delivery.timestamp is None else delivery.timestamp.timestamp()
    made = Delivery._make(
        delivery.call_sid,
        delivery.sequence_number,
        _CODES[delivery.call_status],
        delivery.timestamp,
        at,
        delivery.call_duration,
        delivery.account_sid,
        delivery.params,
    )
    assert type(made) is Delivery
    for field in attrs.fields(Delivery)[:-1]:
        assert getattr(made, field.name) is getattr(delivery, field.name), field.name
    assert made == delivery and hash(made) == hash(delivery) and repr(made) == repr(delivery)
    assert made._hot[:3] == delivery._hot[:3]  # the derived field too (NaN is not itself)
    assert made.key == delivery.key and made.fingerprint == delivery.fingerprint
    plain = RecordDelivery(delivery=delivery, received_at=received_at)
    _same(RecordDelivery._make(delivery, received_at), plain)
    # The decider's events of a delivery, made positionally, are the plain ones.
    for duplicate in (False, True):
        (event,) = _delivery_events(plain, duplicate)
        expected = (
            DuplicateIgnored(
                call_sid=delivery.call_sid,
                sequence_number=delivery.sequence_number,
                received_at=received_at,
            )
            if duplicate
            else DeliveryAccepted(delivery=delivery, received_at=received_at)
        )
        _same(event, expected)
