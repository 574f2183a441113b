"""``callstate calls`` reads the store serve writes, and never invents an empty one; the demo's
counts are the same for a seed, and docs/serve.md shows a real run's. Real processes, real files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE = ROOT / "examples" / "calls.jsonl"


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "CALLSTATE_STORE"}
    return subprocess.run(
        [sys.executable, "-m", "callstate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env={**environ, **(env or {})},
    )


def test_a_store_file_that_is_not_there_is_refused_not_created(tmp_path):
    result = cli("calls", "--store", "typo.sqlite", cwd=tmp_path)
    assert result.returncode == 2
    assert "--store: no SQLite store at 'typo.sqlite'" in result.stderr
    assert "total" not in result.stdout
    assert not (tmp_path / "typo.sqlite").exists()
    assert cli("calls", "--store", "typo.sqlite", "CA1", cwd=tmp_path).returncode == 2
    assert not (tmp_path / "typo.sqlite").exists()


def test_the_store_comes_from_the_flag_then_callstate_store_then_serves_default(tmp_path):
    named = tmp_path / "named.sqlite"
    assert cli("replay", str(EXAMPLE), "--store", str(named), cwd=tmp_path).returncode == 0
    by_flag = json.loads(cli("calls", "--store", str(named), cwd=tmp_path).stdout)
    assert by_flag["total"] == 4

    by_env = cli("calls", cwd=tmp_path, env={"CALLSTATE_STORE": str(named)})
    assert by_env.returncode == 0, by_env.stderr
    assert json.loads(by_env.stdout) == by_flag

    missing = cli("calls", cwd=tmp_path, env={"CALLSTATE_STORE": str(tmp_path / "nope.sqlite")})
    assert missing.returncode == 2
    assert missing.stderr.startswith("callstate: CALLSTATE_STORE: no SQLite store at")

    nothing = cli("calls", cwd=tmp_path)
    assert nothing.returncode == 2
    assert "the default store" in nothing.stderr
    assert "'callstate.sqlite'" in nothing.stderr
    assert not (tmp_path / "callstate.sqlite").exists()

    # serve's default, in the folder serve ran in
    replayed = cli("replay", str(EXAMPLE), "--store", "callstate.sqlite", cwd=tmp_path)
    assert replayed.returncode == 0
    by_default = cli("calls", "--status", "busy", cwd=tmp_path)
    assert by_default.returncode == 0, by_default.stderr
    assert [c["status"] for c in json.loads(by_default.stdout)["calls"]] == ["busy"]


# The demo: the same counts for one seed, and the docs show a real run's.

VARIES = ("arrived out of order", "took")


def counts(output: str) -> list[str]:
    """The lines of the demo's table that must not vary under one seed."""
    lines = output.split("varies from run to run", maxsplit=1)[0].strip().splitlines()
    return [re.sub(r"\s+", " ", line).strip() for line in lines if line.strip()]


def demo(tmp_path: Path, name: str, *args: str) -> str:
    result = cli("demo", "--store", str(tmp_path / f"{name}.sqlite"), *args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(f"\n{label} " in result.stdout for label in VARIES)
    return result.stdout


@pytest.mark.parametrize("vocabulary", ["twilio", "restcomm"])
def test_the_demo_counts_are_the_same_for_a_seed(tmp_path, vocabulary):
    args = ("--calls", "40", "--seed", "7", "--vocabulary", vocabulary)
    first, second = demo(tmp_path, "a", *args), demo(tmp_path, "b", *args)
    assert counts(first) == counts(second)
    assert "delayed to be overtaken" in first
    other = demo(tmp_path, "c", "--calls", "40", "--seed", "8", "--vocabulary", vocabulary)
    assert counts(other) != counts(first)


def test_the_docs_figures_are_a_real_run(tmp_path):
    page = (ROOT / "docs" / "serve.md").read_text(encoding="utf-8")
    block = page.split("$ callstate demo --calls 200\n", 1)[1].split("```", 1)[0]
    shown = (ROOT / "examples" / "demo-output.txt").read_text(encoding="utf-8")  # docs/index.md
    real = counts(demo(tmp_path, "docs", "--calls", "200"))  # 200 is the default
    assert real == counts(block)
    assert real == counts(shown)
