"""Registers callstate's strategies with hypothesis (its ``hypothesis`` entry point).

With callstate installed, ``st.from_type(Delivery)`` and friends just work.
"""

from __future__ import annotations

from hypothesis import strategies as st

from callstate._core._state import CallStatus
from callstate._core._values import CallbackStatus, CallResource, Delivery, Dialect
from callstate.testing import strategies

__all__ = ["_hypothesis_setup_hook"]


def _hypothesis_setup_hook() -> None:
    st.register_type_strategy(Delivery, strategies.deliveries())
    st.register_type_strategy(CallResource, strategies.call_resources())
    st.register_type_strategy(CallStatus, st.sampled_from(CallStatus))
    st.register_type_strategy(CallbackStatus, strategies.callback_statuses())
    st.register_type_strategy(Dialect, strategies.dialects())
