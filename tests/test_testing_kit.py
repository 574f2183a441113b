"""The testing kit plugs into hypothesis through its entry point."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callstate import CallResource, Delivery


@given(st.from_type(Delivery), st.from_type(CallResource))
def test_types_resolve_to_callstate_strategies(delivery, resource):
    assert delivery.call_sid.startswith("CA")
    assert resource.sid.startswith("CA")
