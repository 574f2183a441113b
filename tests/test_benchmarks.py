"""Every benchmark script still runs and reports what its issue asks for.

Tiny sizes, no timing checked: the figures themselves are for a person to
read (``python benchmarks/<name>.py --json``); these tests keep the scripts
from rotting and check the accounting that is not a speed (nothing lost).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--json", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_core() -> None:
    result = run("core.py", "--calls", "300")
    for key in (
        "apply_in_order_eps",
        "apply_shuffled_eps",
        "parse_apply_eps",
        "bytes_per_call",
        "dict_fsm_in_order_eps",
        "dict_fsm_shuffled_eps",
        "transitions_per_call_eps",
        "stdlib_parse_apply_eps",
    ):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert result["events"] == 1200


def test_stores() -> None:
    from tests._store_fixtures import postgres_dsn_or_skip

    dsn = postgres_dsn_or_skip()
    result = run("stores.py", "--calls", "50", "--pg-calls", "5", "--dsn", dsn)
    for key in (
        "sqlite_append_eps",
        "sqlite_raw_insert_eps",
        "sqlite_import_eps",
        "postgres_8w_append_eps",
        "postgres_8w_raw_insert_eps",
        "memory_append_eps",
    ):
        assert isinstance(result[key], float) and result[key] > 0, key


def test_serve_loses_nothing() -> None:
    result = run("serve.py", "--requests", "150", "--rounds", "2", "--connections", "4")
    assert result["sent"] == result["answered_2xx"] == result["stored"] == 300
    assert result["lost"] == 0 and result["failures"] == 0
    assert isinstance(result["ratio"], float) and result["ratio"] > 0


def test_client() -> None:
    result = run("client.py", "--rounds", "1", "--requests", "5")
    adapters = result["adapters"]
    assert isinstance(adapters, dict)
    assert set(adapters) == {"urllib", "requests", "httpx", "httpx-async", "aiohttp"}
    for figures in adapters.values():
        assert figures["callstate_rps"] > 0 and figures["raw_rps"] > 0


def test_webhooks() -> None:
    result = run("webhooks.py", "--rounds", "1", "--seconds", "0.3")
    adapters = result["adapters"]
    assert isinstance(adapters, dict)
    assert set(adapters) == {"wsgi", "flask", "django", "asgi", "starlette", "aiohttp"}
    for figures in adapters.values():
        # Every answer was a 2xx (the client stops at any other), in every round.
        for kind in ("callstate", "bare", "naive"):
            assert figures[f"{kind}_rps"] > 0
            if sys.platform == "linux":  # the server's CPU per request, read from /proc
                assert figures[f"{kind}_cpu_us"] > 0


def test_webhooks_with_basic_auth_into_a_call_book() -> None:
    result = run(
        "webhooks.py",
        *("--rounds", "1", "--seconds", "0.2", "--adapters", "wsgi,asgi"),
        *("--verifier", "basic", "--sink", "book"),
    )
    adapters = result["adapters"]
    assert isinstance(adapters, dict)
    assert set(adapters) == {"wsgi", "asgi"}
    for figures in adapters.values():
        assert figures["callstate_rps"] > 0
