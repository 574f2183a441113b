"""The testing kit plugs into hypothesis through its entry point."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callstate import CallResource, Delivery


@given(st.from_type(Delivery), st.from_type(CallResource))
def test_types_resolve_to_callstate_strategies(delivery, resource):
    assert delivery.call_sid.startswith("CA")
    assert resource.sid.startswith("CA")


def test_the_strategies_import_first_in_a_fresh_interpreter():
    # hypothesis runs callstate's entry-point hook while it is being imported;
    # importing the strategies first must not find them half-initialised.
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import callstate.testing.strategies as s; s.deliveries()"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
