"""The compiled table and a live ``transitions.Machine`` agree everywhere."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from callstate import CallStatus
from callstate._core import _state


def live_result(source: CallStatus, trigger: str, supersedes: bool) -> str:
    model = SimpleNamespace(supersedes=lambda event: supersedes)
    machine = _state.build_machine(model, ignore_invalid_triggers=True, send_event=True)
    machine.set_state(source.value)
    getattr(model, trigger, lambda: None)()
    return str(model.state)


@pytest.mark.parametrize("source", list(CallStatus))
@pytest.mark.parametrize("trigger", list(enumerate(_state.TRIGGERS)))
def test_table_agrees_with_a_live_machine(source, trigger):
    code, name = trigger
    entry = _state.NEXT[_state.STATUSES.index(source) * 10 + code]
    if entry < 0:  # a correction: only when the new evidence outranks the old
        assert live_result(source, name, supersedes=True) == _state.STATUSES[-1 - entry].value
        assert live_result(source, name, supersedes=False) == source.value
    else:
        assert live_result(source, name, supersedes=True) == _state.STATUSES[entry].value
        assert live_result(source, name, supersedes=False) == _state.STATUSES[entry].value


def test_final_states_never_lead_to_live_ones():
    for source in CallStatus:
        if not source.is_final:
            continue
        for code in range(len(_state.TRIGGERS)):
            entry = _state.NEXT[_state.STATUSES.index(source) * 10 + code]
            dest = _state.STATUSES[entry if entry >= 0 else -1 - entry]
            assert dest.is_final


def test_live_states_only_move_up():
    for source in CallStatus:
        for code in range(len(_state.TRIGGERS)):
            entry = _state.NEXT[_state.STATUSES.index(source) * 10 + code]
            dest = _state.STATUSES[entry if entry >= 0 else -1 - entry]
            assert dest.rank >= source.rank


def test_ranks_and_finals():
    assert [s.rank for s in CallStatus] == [0, 1, 2, 3, 4, 4, 4, 4, 4, 4]
    assert {s for s in CallStatus if s.is_final} == {
        CallStatus.ENDED,
        CallStatus.COMPLETED,
        CallStatus.BUSY,
        CallStatus.FAILED,
        CallStatus.NO_ANSWER,
        CallStatus.CANCELED,
    }
    assert str(CallStatus.NO_ANSWER) == "no-answer"
