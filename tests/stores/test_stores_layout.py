"""The stores' public surface, and psycopg kept to one module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import callstate
import callstate.stores

SRC = Path(callstate.__file__).parent


def test_the_public_names_are_exactly_these() -> None:
    assert sorted(callstate.stores.__all__) == [
        "Append",
        "AsyncRunner",
        "EventStore",
        "MemoryStore",
        "Runner",
        "SQLiteStore",
        "StoreError",
        "StoreTimeout",
        "StoreUnavailable",
        "StoredEvent",
        "VersionConflict",
    ]
    for name in callstate.stores.__all__:
        assert getattr(callstate.stores, name).__module__.startswith("callstate.")


def test_only_the_postgres_module_imports_psycopg() -> None:
    importers = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("psycopg", "psycopg_pool") for n in names):
                importers.add(path.relative_to(SRC).as_posix())
    assert importers == {"stores/postgres.py"}


def test_the_stores_load_without_psycopg() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None; sys.modules['psycopg_pool'] = None\n"
        "import callstate.stores, callstate.testing.store_contract\n"
        "assert 'psycopg' not in [m for m in sys.modules if sys.modules[m] is not None]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_store_here_satisfies_the_protocol(tmp_path: Path) -> None:
    sqlite = callstate.stores.SQLiteStore(tmp_path / "x.sqlite3")
    try:
        for store in (callstate.stores.MemoryStore(), sqlite):
            assert isinstance(store, callstate.stores.EventStore)
    finally:
        sqlite.close()
