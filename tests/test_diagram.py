"""The diagram is drawn from the one definition and shows exactly the machine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callstate import CallStatus, UsageError, state_diagram
from callstate._core._state import TRANSITIONS

DOC = Path(__file__).resolve().parent.parent / "docs" / "state-machine.md"


def declared() -> set[tuple[str, str, str]]:
    out = set()
    for t in TRANSITIONS:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        for source in sources:
            out.add((str(source), str(t["trigger"]), str(t["dest"])))
    return out


def drawn(mermaid: str) -> tuple[set[str], set[tuple[str, str, str]]]:
    states = set(re.findall(r'^\s*state "([^"]+)"', mermaid, re.M))
    edges = set()
    for source, dest, label in re.findall(r"^\s*(\S+) --> (\S+): (.*)$", mermaid, re.M):
        for trigger in label.split(" | "):
            edges.add((source, trigger.split(" [")[0].strip(), dest))
    return states, edges


def test_the_drawing_lists_exactly_the_states_and_transitions():
    states, edges = drawn(str(state_diagram("mermaid")))
    assert states == {s.value for s in CallStatus}
    assert edges == declared()


def test_the_docs_embed_the_current_drawing():
    text = DOC.read_text(encoding="utf-8")
    block = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block.strip() == str(state_diagram("mermaid")).strip()


def test_unknown_formats_are_refused():
    with pytest.raises(UsageError, match="format"):
        state_diagram("jpeg")
