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

ROOT = Path(__file__).resolve().parent.parent.parent


def assert_ratio(figures: dict[str, Any], name: str) -> None:
    """``<name>_ratio`` is a median of per-round ratios: inside its ``_ratio_spread``."""
    median, (low, high) = figures[f"{name}_ratio"], figures[f"{name}_ratio_spread"]
    assert isinstance(median, float) and median > 0, name
    assert low <= median <= high, (name, low, median, high)


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
    result = run("core.py", "--calls", "300", "--rounds", "2")
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
    for name in ("apply_in_order", "apply_shuffled", "parse_apply", "over_machine"):
        assert_ratio(result, name)
    assert set(result["targets"]) == {
        "apply_in_order_ge_0_75x_dict_fsm",
        "apply_shuffled_ge_0_6x_dict_fsm",
        "parse_apply_ge_2_5x_stdlib",
        "apply_ge_100x_machine_per_call",
        "bytes_per_call_le_1KB",
    }


def test_stores() -> None:
    from tests.stores._store_fixtures import postgres_dsn_or_skip

    dsn = postgres_dsn_or_skip()
    result = run("stores.py", "--calls", "50", "--pg-calls", "5", "--dsn", dsn, "--rounds", "2")
    for key in (
        "sqlite_append_eps",
        "sqlite_raw_insert_eps",
        "sqlite_import_eps",
        "postgres_8w_append_eps",
        "postgres_8w_raw_insert_eps",
        "memory_append_eps",
    ):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert_ratio(result, "sqlite_append")
    assert_ratio(result, "postgres_8w_append")


def test_store_pages() -> None:
    from tests.stores._store_fixtures import postgres_dsn_or_skip

    dsn = postgres_dsn_or_skip()
    args = ("--pages", "--page-calls", "1000,3000", "--rounds", "2", "--page-reps", "10")
    result = run("stores.py", *args, "--dsn", dsn)
    for kind in ("sqlite", "postgres"):
        for size in ("1000", "3000"):
            figures = result[kind][size]
            assert set(figures) == {
                f"{query}_{where}_us"
                for query in ("live", "completed", "every")
                for where in ("first", "further")
            } | {"numbered_page_us"}
            assert all(isinstance(v, float) and v > 0 for v in figures.values()), figures
        for key in figures:
            low, high = result[f"{kind}_{key}_ratio_spread"]
            assert low <= result[f"{kind}_{key}_ratio"] <= high, key
        assert result[f"{kind}_page_ratio_max"] > 0


def test_serve_loses_nothing() -> None:
    result = run("serve.py", "--requests", "150", "--rounds", "2", "--connections", "4")
    assert result["sent"] == result["answered_2xx"] == result["stored"] == 300
    assert result["lost"] == 0 and result["failures"] == 0
    assert isinstance(result["ratio"], float) and result["ratio"] > 0
    assert result["ratio_spread"] == [min(result["ratios"]), max(result["ratios"])]
    assert result["bare_p99_ms"] > 0 and result["p99_ms"] > 0


def test_serve_workers_on_postgresql_lose_nothing() -> None:
    from tests.stores._store_fixtures import postgres_dsn_or_skip

    dsn = postgres_dsn_or_skip()
    result = run(
        "serve.py", "--requests", "100", "--rounds", "2", "--connections", "4",
        "--store", dsn, "--workers", "2",
    )  # fmt: skip
    assert result["store"] == "postgresql" and result["workers"] == 2
    assert result["sent"] == result["answered_2xx"] == result["stored"] == 200
    assert result["lost"] == 0 and result["failures"] == 0
    low, high = result["workers_ratio_spread"]
    assert low <= result["workers_ratio"] <= high and result["one_worker_rps"] > 0


def test_client() -> None:
    result = run("client.py", "--rounds", "1", "--requests", "5")
    adapters = result["adapters"]
    assert isinstance(adapters, dict)
    assert set(adapters) == {"urllib", "requests", "httpx", "httpx-async", "aiohttp"}
    for name, figures in adapters.items():
        assert figures["callstate_rps"] > 0 and figures["raw_rps"] > 0
        assert_ratio(result, name)
        assert figures["ratio"] == result[f"{name}_ratio"]


def test_webhooks() -> None:
    result = run("webhooks.py", "--rounds", "1", "--seconds", "0.3")
    adapters = result["adapters"]
    assert isinstance(adapters, dict)
    assert set(adapters) == {"wsgi", "flask", "django", "asgi", "starlette", "aiohttp"}
    cpu = []
    for figures in adapters.values():
        # Every answer was a 2xx (the client stops at any other), in every round.
        for kind in ("callstate", "bare", "naive"):
            assert figures[f"{kind}_rps"] > 0
            # The server's CPU per request, read from /proc in clock ticks (10 ms): a
            # short round on a busy machine may be under a tick, and then has no figure.
            if f"{kind}_cpu_us" in figures:
                cpu.append(figures[f"{kind}_cpu_us"])
        for name in ("callstate", "naive", "callstate_to_naive"):
            assert_ratio(figures, name)
    if sys.platform == "linux":
        assert cpu and all(us > 0 for us in cpu)


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


def test_rounds_alternate_every_side_in_a_rotating_order() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import _rounds
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    calls: list[str] = []

    def side(name: str, figure: float) -> Any:
        def run() -> float:
            calls.append(name)
            return figure

        return run

    rounds = _rounds.alternate({"a": side("a", 2.0), "b": side("b", 1.0), "c": side("c", 4.0)}, 3)
    # One warm-up of each, unrecorded; then each round starts one place later.
    assert calls == ["a", "b", "c", "a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert rounds == {"a": [2.0] * 3, "b": [1.0] * 3, "c": [4.0] * 3}
    assert _rounds.ratio("x", [1.0, 3.0, 2.0], [1.0, 1.0, 1.0]) == {
        "x_ratio": 2.0,
        "x_ratio_spread": [1.0, 3.0],
    }
    # A round whose baseline measured nothing has no ratio (it raised ZeroDivisionError).
    assert _rounds.ratio("x", [1.0, 5.0], [1.0, 0.0])["x_ratio"] == 1.0
