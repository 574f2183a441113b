"""Registers callstate's strategies with hypothesis (its ``hypothesis`` entry point).

With callstate installed, ``st.from_type(Delivery)`` and friends just work.
The strategies module is imported only when a type is first resolved:
hypothesis runs this hook while it is itself being imported, and the
strategies module imports hypothesis.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

__all__ = ["_hypothesis_setup_hook"]


def _strategies() -> ModuleType:
    from callstate.testing import strategies  # noqa: PLC0415 (see the module docstring)

    return strategies


def _hypothesis_setup_hook() -> None:
    from hypothesis import strategies as st  # noqa: PLC0415

    from callstate._core._state import CallStatus  # noqa: PLC0415
    from callstate._core._values import (  # noqa: PLC0415
        CallbackStatus,
        CallResource,
        Delivery,
        Dialect,
    )

    def lazily(name: str) -> Any:
        return lambda _type: getattr(_strategies(), name)()

    st.register_type_strategy(Delivery, lazily("deliveries"))
    st.register_type_strategy(CallResource, lazily("call_resources"))
    st.register_type_strategy(CallbackStatus, lazily("callback_statuses"))
    st.register_type_strategy(Dialect, lazily("dialects"))
    st.register_type_strategy(CallStatus, st.sampled_from(CallStatus))
