"""What the stores keep beside the log: idempotency keys and forward cursors (stores/_side.py).

Every store callstate ships, over a real SQLite file and the real PostgreSQL server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callstate import UsageError
from callstate.stores import MemoryStore, SQLiteStore
from callstate.stores._side import ForwardCursors, IdempotencyKeys, KeyClaim
from tests.stores._store_fixtures import fresh_postgres_store


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        with SQLiteStore(tmp_path / "calls.sqlite") as opened:
            yield opened
    else:
        with fresh_postgres_store(max_size=8) as opened:
            yield opened


def test_every_store_keeps_keys_and_cursors(store: Any) -> None:
    assert isinstance(store, IdempotencyKeys)
    assert isinstance(store, ForwardCursors)


def test_a_key_is_claimed_once_then_settled(store: Any) -> None:
    assert store.claim_key("key-1", "print-a") is None
    assert store.claim_key("key-1", "print-b") == KeyClaim(fingerprint="print-a", call_sid=None)
    store.settle_key("key-1", "CA1")
    assert store.claim_key("key-1", "print-a") == KeyClaim(fingerprint="print-a", call_sid="CA1")
    store.release_key("key-1")  # settled: kept
    assert store.claim_key("key-1", "print-a") == KeyClaim(fingerprint="print-a", call_sid="CA1")
    assert store.claim_key("key-2", "print-a") is None  # another key is another claim


def test_a_released_key_can_be_claimed_again(store: Any) -> None:
    assert store.claim_key("key-1", "print-a") is None
    store.release_key("key-1")
    assert store.claim_key("key-1", "print-b") is None
    assert store.claim_key("key-1", "print-a") == KeyClaim(fingerprint="print-b", call_sid=None)


def test_of_many_claims_of_one_key_at_once_one_wins(store: Any) -> None:
    for round_ in range(5):
        key = f"race-{round_}"
        start = threading.Barrier(6)
        won: list[object] = []

        def claim(n: int, key: str, start: threading.Barrier, won: list[object]) -> None:
            start.wait()
            won.append(store.claim_key(key, f"print-{n}"))

        threads = [threading.Thread(target=claim, args=(n, key, start, won)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [claim for claim in won if claim is None]
        assert len(winners) == 1, won
        assert len({claim.fingerprint for claim in won if claim is not None}) == 1


def test_a_cursor_starts_at_zero_and_never_moves_back(store: Any) -> None:
    assert store.forward_position("https://app.example/hook") == 0
    store.set_forward_position("https://app.example/hook", 5)
    store.set_forward_position("https://app.example/hook", 3)
    assert store.forward_position("https://app.example/hook") == 5
    store.set_forward_position("https://other.example/hook", 2)
    assert store.forward_positions() == {
        "https://app.example/hook": 5,
        "https://other.example/hook": 2,
    }


def test_bad_keys_and_positions_are_refused(store: Any) -> None:
    with pytest.raises(UsageError, match="idempotency key"):
        store.claim_key("", "print")
    with pytest.raises(UsageError, match="idempotency key"):
        store.claim_key("k" * 256, "print")
    with pytest.raises(UsageError, match="position"):
        store.set_forward_position("https://app.example/hook", -1)


def test_keys_and_cursors_outlive_the_process(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    with SQLiteStore(path) as first:
        first.claim_key("key-1", "print-a")
        first.settle_key("key-1", "CA1")
        first.set_forward_position("https://app.example/hook", 7)
    with SQLiteStore(path) as again:
        assert again.claim_key("key-1", "x") == KeyClaim(fingerprint="print-a", call_sid="CA1")
        assert again.forward_position("https://app.example/hook") == 7
