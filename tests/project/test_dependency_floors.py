"""The dependency floors are past the known advisories, and CI runs the versions it pins.

pyproject.toml holds floors (lower bounds); constraints/ci.txt the exact
versions the suite last passed with, which .ci/run installs under
(PIP_CONSTRAINT). docs/security.md lists, per package, the floor the known
advisories call for: pyproject must be at or above it, and every pin must
satisfy every requirement that names its package (issue 22, item 8).
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent.parent
CONSTRAINTS = ROOT / "constraints" / "ci.txt"


def requirements() -> dict[str, list[Requirement]]:
    """Every requirement of the project and its extras, by extra ("" for the core)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"": project["dependencies"], **project["optional-dependencies"]}
    return {
        extra: [r for r in map(Requirement, lines) if r.name != "callstate"]
        for extra, lines in groups.items()
    }


def pins() -> dict[str, Version]:
    """constraints/ci.txt: one ``name==version`` a line, each name once."""
    found: dict[str, Version] = {}
    for number, line in enumerate(CONSTRAINTS.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        req = Requirement(text)
        (spec,) = req.specifier
        assert spec.operator == "==", f"ci.txt line {number}: pin an exact version: {line}"
        name = canonicalize_name(req.name)
        assert name not in found, f"ci.txt line {number}: {name} is pinned twice"
        found[name] = Version(spec.version)
    return found


def floor(req: Requirement) -> Version | None:
    lows = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=")]
    return max(lows) if lows else None


def documented_floors() -> dict[str, Version]:
    """The table in docs/security.md, "Auditing the dependencies": package, floor, why."""
    page = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    section = page.split("## Auditing the dependencies", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Za-z0-9_.\-]+)` \| ([0-9][0-9.]*) \|", section, re.M)
    assert rows, "docs/security.md has no table of floors under 'Auditing the dependencies'"
    return {canonicalize_name(name): Version(version) for name, version in rows}


def test_every_requirement_has_a_floor_and_a_pin_that_satisfies_it():
    pinned = pins()
    for extra, reqs in requirements().items():
        for req in reqs:
            name = canonicalize_name(req.name)
            assert floor(req) is not None, f"[{extra}] {req}: give it a floor"
            assert name in pinned, f"[{extra}] {req}: constraints/ci.txt does not pin it"
            assert floor(req) <= pinned[name], f"[{extra}] {req}: the floor is above its pin"
            assert req.specifier.contains(pinned[name], prereleases=True), (
                f"[{extra}] {req}: the pin {pinned[name]} does not satisfy it"
            )


def test_floors_are_past_the_known_advisories():
    declared: dict[str, list[Requirement]] = {}
    for reqs in requirements().values():
        for req in reqs:
            declared.setdefault(canonicalize_name(req.name), []).append(req)
    for name, needed in documented_floors().items():
        assert name in declared, f"{name}: docs/security.md gives it a floor; declare it"
        for req in declared[name]:
            assert floor(req) is not None and floor(req) >= needed, (
                f"{req}: the known advisories call for {name}>={needed}"
            )
    serve = {canonicalize_name(r.name) for r in requirements()["serve"]}
    assert "h11" in serve, "callstate serve parses HTTP with h11 (through uvicorn): declare it"


def test_ci_installs_under_the_constraints():
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    setting = 'export PIP_CONSTRAINT="$PWD/constraints/ci.txt"'
    assert setting in run, ".ci/run must install under constraints/ci.txt"
    assert run.index(setting) < run.index("-m pip install"), "set PIP_CONSTRAINT before installing"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for extra in ("serve", "test"):
        command = f"python3.11 -m venv .venv && .venv/bin/python -m pip install -q -e '.[{extra}]'"
        assert command in readme, f"the README's quick start changed: {command}"
        assert command in run, f".ci/run no longer runs the README's command: {command}"
    # Under .ci/run, what is installed is what ci.txt pins.
    if Path(os.environ.get("PIP_CONSTRAINT", "")).resolve() == CONSTRAINTS.resolve():
        for name, version in pins().items():
            try:
                installed = Version(metadata.version(name))
            except metadata.PackageNotFoundError:
                continue
            assert installed == version, f"{name} {installed} is installed, ci.txt pins {version}"
