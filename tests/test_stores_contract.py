"""The store contract, bound to every store callstate ships."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from _store_fixtures import fresh_postgres_store
from callstate.stores import EventStore, MemoryStore, SQLiteStore
from callstate.testing.store_contract import StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[EventStore]:
        store = MemoryStore()
        yield store
        store.close()


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[EventStore]:
        store = SQLiteStore(tmp_path / "events.sqlite3")
        yield store
        store.close()


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[EventStore]:
        with fresh_postgres_store(max_size=4) as store:
            yield store
