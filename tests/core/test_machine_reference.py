"""The state machine against the rules written out by hand, for every move.

The module builds its machine and compiles its table when imported. The
same check runs on the module as imported and on a fresh execution of its
source, so that the code which builds the tables at import time is run (and,
under mutation testing, mutated) inside a test too.
"""

from __future__ import annotations

import runpy
from types import SimpleNamespace
from typing import Any

import pytest

from callstate import CallStatus
from callstate._core import _state

LIVE = ["queued", "initiated", "ringing", "in-progress"]
KNOWN_FINAL = ["completed", "busy", "failed", "no-answer", "canceled"]
# Trigger i leads to status i; the statuses in their documented order.
ORDER = [*LIVE, "ended", *KNOWN_FINAL]
TRIGGERS = [
    "queue",
    "initiate",
    "ring",
    "answer",
    "end",
    "complete",
    "busy",
    "fail",
    "no_answer",
    "cancel",
]


def rank(status: str) -> int:
    return LIVE.index(status) if status in LIVE else 4


def expected(source: str, trigger: str, supersedes: bool) -> str:
    """Where ``trigger`` takes a call in ``source``, by the rules of docs/state-machine.md."""
    dest = ORDER[TRIGGERS.index(trigger)]
    if source in LIVE:
        return dest if rank(dest) > rank(source) else source  # only ever forwards
    if source == "ended":
        if dest in KNOWN_FINAL:
            return dest  # the outcome became known
        return "completed" if trigger == "answer" else source
    if dest in KNOWN_FINAL and dest != source and supersedes:
        return dest  # better evidence corrects a known final status
    return source


def fresh() -> dict[str, Any]:
    return runpy.run_path(_state.__file__, run_name=_state.__name__)


# Per test, not per module: each test reruns the module, so the table it checks is
# compiled in that test (a mutation tool maps a function to the tests that call it).
@pytest.fixture(params=["imported", "fresh"])
def machine_module(request: pytest.FixtureRequest) -> dict[str, Any]:
    return vars(_state) if request.param == "imported" else fresh()


def live(module: dict[str, Any], source: str, trigger: str, supersedes: bool) -> str:
    model = SimpleNamespace(supersedes=lambda event: supersedes)
    machine = module["build_machine"](model, ignore_invalid_triggers=True, send_event=True)
    machine.set_state(source)
    getattr(model, trigger, lambda: None)()
    return str(model.state)


def test_the_statuses_and_triggers(machine_module):
    assert [s.value for s in machine_module["STATUSES"]] == ORDER
    assert list(machine_module["TRIGGERS"]) == TRIGGERS
    assert [s.value for s in CallStatus] == ORDER


def test_every_move_of_a_live_machine_is_the_rule(machine_module):
    for source in ORDER:
        for trigger in TRIGGERS:
            for supersedes in (False, True):
                got = live(machine_module, source, trigger, supersedes)
                assert got == expected(source, trigger, supersedes), (source, trigger, supersedes)


def test_every_entry_of_the_compiled_table_is_the_rule(machine_module):
    # NEXT[status][trigger]; a correction is taken only where the evidence
    # outranks the old, which is NEXT_SUPERSEDING's entry.
    table, superseding = machine_module["NEXT"], machine_module["NEXT_SUPERSEDING"]
    assert len(table) == len(superseding) == len(ORDER)
    assert all(len(row) == len(TRIGGERS) for row in (*table, *superseding))
    for s, source in enumerate(ORDER):
        for t, trigger in enumerate(TRIGGERS):
            plain, corrected = expected(source, trigger, False), expected(source, trigger, True)
            assert table[s][t] == ORDER.index(plain), (source, trigger)
            assert superseding[s][t] == ORDER.index(corrected), (source, trigger)


def test_the_machine_has_only_the_declared_triggers(machine_module):
    model = SimpleNamespace(supersedes=lambda event: True)
    machine = machine_module["build_machine"](model)
    moving = {t for t in TRIGGERS for s in ORDER if expected(s, t, True) != s}
    assert moving == set(TRIGGERS) - {"queue"}  # nothing moves back to queued
    assert set(machine.events) == moving
    assert machine.initial == "queued"
    assert model.state == "queued"
    assert not any(name.startswith("to_") for name in vars(model))
    machine.set_state("completed")
    with pytest.raises(Exception, match="Can't trigger event ring"):
        model.ring()  # invalid triggers are refused unless the caller asks otherwise
