"""The diagram is drawn from the one definition and shows exactly the machine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "callstate", "diagram", *args], capture_output=True, check=False
    )


def test_cli_prints_mermaid_by_default():
    result = cli()
    assert result.returncode == 0
    assert result.stdout.decode() == str(state_diagram("mermaid"))


def test_cli_writes_dot_with_every_state(tmp_path):
    out = tmp_path / "machine.dot"
    assert cli("--format", "dot", "-o", str(out)).returncode == 0
    text = out.read_text()
    assert text.startswith("digraph")
    for status in CallStatus:
        assert status.value in text


NEED_DOT = pytest.mark.skipif(
    shutil.which("dot") is None and not os.environ.get("CALLSTATE_REQUIRE_ALL_TESTS"),
    reason="Graphviz's dot program is not installed (apt install graphviz)",
)


@NEED_DOT
@pytest.mark.parametrize(("fmt", "magic"), [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_cli_renders_images(tmp_path, fmt, magic):
    out = tmp_path / f"machine.{fmt}"
    result = cli("--format", fmt, "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(magic)


def test_cli_refuses_an_unwritable_output(tmp_path):
    result = cli("-o", str(tmp_path / "missing" / "x.mmd"))
    assert result.returncode == 2
    assert b"cannot write" in result.stderr
