"""The core never does I/O, reads a clock, the environment or a random source."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import callstate._core

CORE = Path(callstate._core.__file__).parent
ALLOWED_THIRD_PARTY = {"attrs", "transitions"}
FORBIDDEN_MODULES = {
    "os",
    "io",
    "sys",
    "time",
    "random",
    "secrets",
    "socket",
    "select",
    "selectors",
    "asyncio",
    "threading",
    "multiprocessing",
    "subprocess",
    "pathlib",
    "shutil",
    "tempfile",
    "sqlite3",
    "urllib.request",
    "http",
    "logging",
    "uuid",
    "glob",
}
FORBIDDEN_CALLS = {
    "now",
    "utcnow",
    "today",
    "time",
    "monotonic",
    "perf_counter",
    "open",
    "getenv",
    "urandom",
    "random",
    "uuid4",
    "print",
    "input",
}


def core_modules():
    return sorted(CORE.glob("*.py"))


def imported(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_there_are_core_modules():
    assert len(core_modules()) >= 6


def test_core_imports_only_the_standard_library_attrs_and_transitions():
    for path in core_modules():
        for name in imported(ast.parse(path.read_text())):
            top = name.split(".")[0]
            if top in ("callstate", "__future__"):
                assert not name.startswith("callstate.") or name.startswith(
                    ("callstate._core", "callstate._errors")
                ), f"{path.name} imports {name}"
                continue
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
                f"{path.name} imports {name}"
            )
            assert name not in FORBIDDEN_MODULES and top not in FORBIDDEN_MODULES, (
                f"{path.name} imports {name}"
            )


def test_core_calls_no_clock_no_environment_no_randomness():
    for path in core_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                assert name not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno} calls {name}()"
