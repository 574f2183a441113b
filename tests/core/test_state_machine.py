"""The compiled table and a live ``transitions.Machine`` agree everywhere."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstate import CallStatus
from callstate._core import _state


def live_result(source: CallStatus, trigger: str, supersedes: bool) -> str:
    model = SimpleNamespace(supersedes=lambda event: supersedes)
    machine = _state.build_machine(model, ignore_invalid_triggers=True, send_event=True)
    machine.set_state(source.value)
    getattr(model, trigger, lambda: None)()
    return str(model.state)


def table_result(source: CallStatus, code: int, superseded: bool) -> str:
    table = _state.NEXT_SUPERSEDING if superseded else _state.NEXT
    dest = table[_state.STATUSES.index(source)][code]
    return _state.STATUSES[dest].value


@pytest.mark.parametrize("source", list(CallStatus))
@pytest.mark.parametrize("trigger", list(enumerate(_state.TRIGGERS)))
def test_table_agrees_with_a_live_machine(source, trigger):
    code, name = trigger
    for superseded in (True, False):
        assert table_result(source, code, superseded) == live_result(source, name, superseded)


def test_final_states_never_lead_to_live_ones():
    for source in CallStatus:
        if not source.is_final:
            continue
        for code in range(len(_state.TRIGGERS)):
            for superseded in (True, False):
                assert CallStatus(table_result(source, code, superseded)).is_final


def test_live_states_only_move_up():
    for source in CallStatus:
        for code in range(len(_state.TRIGGERS)):
            for superseded in (True, False):
                assert CallStatus(table_result(source, code, superseded)).rank >= source.rank


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


def test_triggers_are_named_and_lead_to_the_status_of_their_code():
    assert [t.name.lower() for t in _state.Trigger][:10] == list(_state.TRIGGERS)
    assert len(_state.Trigger) == 11  # and the unread "completed" event
    for code, name in enumerate(_state.TRIGGERS):
        sources = [row[1] for row in _state.TRANSITIONS if row[0] == name]
        dests = {row[2] for row in _state.TRANSITIONS if row[0] == name}
        if name == "answer":  # the one exception: ended, answered after all
            assert dests == {"in-progress", "completed"}
        else:
            assert dests <= {_state.STATUSES[code].value}
        assert all(sources)


_CLAIMS = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from([4, 5, 6, 7, 8, 9, 10])), max_size=5
)
_RESOURCES = st.lists(
    st.tuples(st.floats(-1e3, 1e3) | st.just(-math.inf), st.sampled_from([5, 6, 7, 8, 9])),
    max_size=3,
)


@given(st.integers(0, 2**11 - 1), _CLAIMS, _RESOURCES, st.randoms(use_true_random=False))
def test_resolve_picks_the_claim_that_supersedes_all_others_in_any_order(
    marks, finals, resources, rng
):
    status = _state.resolve(marks, finals, resources)
    shuffled_finals, shuffled_resources = finals[:], resources[:]
    rng.shuffle(shuffled_finals)
    rng.shuffle(shuffled_resources)
    assert _state.resolve(marks, shuffled_finals, shuffled_resources) == status
    answered = bool(marks & 1 << _state.Trigger.ANSWER)
    claims = [(True, at, code) for at, code in resources] + [
        (False, seq, _state.claimed_status(kind, answered)) for seq, kind in finals
    ]
    known = [c for c in claims if c[2] != _state.Trigger.END]
    if known:
        (winner,) = [c for c in known if not any(_state.supersedes(o, c) for o in known)][:1]
        assert status == winner[2]
    else:
        assert _state.STATUSES[status].rank < 4 or status == _state.Trigger.END
