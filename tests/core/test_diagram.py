"""The diagram is drawn from the one definition and shows exactly the machine."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from callstate import CallStatus, UsageError, state_diagram
from callstate._core._state import TRANSITIONS

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "state-machine.md"


def declared() -> set[tuple[str, str, str]]:
    out = set()
    for trigger, sources, dest, *_condition in TRANSITIONS:
        for source in sources:
            out.add((source, trigger, dest))
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


#: What each trigger names, written out here as an oracle independent of the code.
LEADS_TO = {
    "end": "ended",
    "complete": "completed",
    "busy": "busy",
    "fail": "failed",
    "no_answer": "no-answer",
    "cancel": "canceled",
}
LIVE = ("queued", "initiated", "ringing", "in-progress")
KNOWN_FINAL = ("completed", "busy", "failed", "no-answer", "canceled")


def read_summary(dot: str) -> set[tuple[str, str, str]]:
    """The transitions a reader of the summary drawing takes it to show."""
    shown = set()
    for source, dest, label, rest in re.findall(
        r'^\s*"([^"]+)" -> "([^"]+)" \[label="([^"]*)"(.*)\];$', dot, re.M
    ):
        if "ltail=cluster_live" in rest:  # from any live status, to what each trigger names
            for trigger in label.rsplit(":\\n", 1)[1].split(", "):
                shown |= {(live, trigger, LEADS_TO[trigger]) for live in LIVE}
            continue
        for trigger in label.split(" | "):
            shown.add((source, trigger.removesuffix(" [supersedes]"), dest))
    if re.search(r"^\s*corrections \[", dot, re.M):  # any known final to any other
        reverse = {status: trigger for trigger, status in LEADS_TO.items()}
        shown |= {(a, reverse[b], b) for a in KNOWN_FINAL for b in KNOWN_FINAL if a != b}
    return shown


def test_the_summary_shows_exactly_the_machines_transitions():
    dot = str(state_diagram("dot", summary=True))
    assert read_summary(dot) == declared()
    for status in CallStatus:
        assert f'"{status.value}"' in dot
    # It is a summary: far fewer arrows than the machine has transitions.
    assert dot.count(" -> ") < len(declared()) // 2


def test_the_docs_embed_the_drawings_generated_at_build_time():
    text = DOC.read_text(encoding="utf-8")
    assert "](assets/state-machine.svg)" in text
    assert "](assets/state-machine-full.svg)" in text
    assert "```mermaid" not in text  # raw source, never rendered offline


def test_a_summary_is_not_mermaid():
    with pytest.raises(UsageError, match="summary"):
        state_diagram("mermaid", summary=True)


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
@pytest.mark.parametrize("summary", [False, True])
@pytest.mark.parametrize(("fmt", "magic"), [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_cli_renders_images(tmp_path, fmt, magic, summary):
    out = tmp_path / f"machine.{fmt}"
    result = cli("--format", fmt, "-o", str(out), *(["--summary"] if summary else []))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(magic)
    if fmt == "svg":  # every status is drawn, in either drawing
        text = html.unescape(out.read_text())  # dot writes "in&#45;progress"
        for status in CallStatus:
            assert f">{status.value}<" in text, status


def test_cli_refuses_an_unwritable_output(tmp_path):
    result = cli("-o", str(tmp_path / "missing" / "x.mmd"))
    assert result.returncode == 2
    assert b"cannot write" in result.stderr
