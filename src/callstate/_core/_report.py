"""Call states as JSON-ready dicts: one shape for the CLI and the receiver (pure, like the core)."""

from __future__ import annotations

from typing import Any

from callstate._core._call import CallState

__all__ = ["state_json"]


def state_json(state: CallState) -> dict[str, Any]:
    """The JSON form of a call's state (``callstate replay`` prints one per call)."""
    return {
        "status": state.status.value,
        "final": state.final,
        "outcome_known": state.outcome_known,
        "deliveries": state.deliveries,
        "duplicates": state.duplicates,
        "anomalies": [a.as_dict() for a in state.anomalies],
        "timeline": {
            e.status.value: {
                "at": None if e.at is None else e.at.isoformat(),
                "received_at": None if e.received_at is None else e.received_at.isoformat(),
            }
            for e in state.timeline
        },
        "needs_reconciliation": state.needs_reconciliation,
    }
