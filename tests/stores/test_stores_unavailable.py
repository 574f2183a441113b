"""A store that cannot be used says so with StoreUnavailable, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from callstate import CallStatus, DeliveryAccepted, RecordDelivery
from callstate.stores import MemoryStore, Runner, SQLiteStore, StoreUnavailable
from callstate.testing.store_contract import lifecycle
from tests.stores._store_fixtures import postgres_dsn_or_skip, unique_schema


def test_sqlite_in_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="cannot open"):
        SQLiteStore(tmp_path / "missing" / "events.sqlite3")


def test_sqlite_on_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable):
        SQLiteStore(path)


def test_sqlite_locked_by_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    holder = SQLiteStore(path)
    waiter = SQLiteStore(path, timeout=0.05)
    assert holder._conn is not None
    holder._conn.execute("BEGIN IMMEDIATE")  # a writer that does not let go
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            Runner(waiter).handle(RecordDelivery(delivery=lifecycle("CA1")[0]))
        assert waiter.load("CA1") == ()
    finally:
        holder._conn.execute("ROLLBACK")
        holder.close()
        waiter.close()


def test_a_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "events.sqlite3")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreUnavailable, match="closed"):
        store.load("CA1")
    MemoryStore().close()


def test_postgres_that_cannot_be_reached() -> None:
    postgres_dsn_or_skip()
    from callstate.stores.postgres import PostgresStore

    store = PostgresStore("postgresql://postgres@127.0.0.1:9/test", timeout=0.5)
    try:
        with pytest.raises(StoreUnavailable, match="no PostgreSQL connection"):
            store.load("CA1")
    finally:
        store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.load("CA1")


def test_postgres_before_migrate_says_to_migrate() -> None:
    from callstate.stores.postgres import PostgresStore

    store = PostgresStore(postgres_dsn_or_skip(), schema=unique_schema())
    try:
        delivery = lifecycle("CA1")[0]
        with pytest.raises(StoreUnavailable, match=r"migrate\(\)"):
            store.append("CA1", 0, [DeliveryAccepted(delivery=delivery)], status=CallStatus.QUEUED)
    finally:
        store.close()


def test_postgres_migrate_is_repeatable() -> None:
    from tests.stores._store_fixtures import fresh_postgres_store

    with fresh_postgres_store() as store:
        delivery = lifecycle("CA1")[0]
        store.append("CA1", 0, [DeliveryAccepted(delivery=delivery)], status=CallStatus.QUEUED)
        store.migrate()
        store.migrate()
        assert len(store.load("CA1")) == 1


def test_postgres_connection_killed_by_the_server_is_replaced() -> None:
    """A broken connection fails one operation with StoreUnavailable; the next uses a new one."""
    import psycopg

    from callstate.stores.postgres import PostgresStore

    dsn = postgres_dsn_or_skip()
    schema = unique_schema()
    name = f"callstate-kill-{schema[-10:]}"
    separator = "&" if "?" in dsn else "?"
    store = PostgresStore(f"{dsn}{separator}application_name={name}", schema=schema, max_size=1)
    first, second, third = lifecycle("CA1")[:3]
    try:
        store.migrate()
        store.append("CA1", 0, [DeliveryAccepted(delivery=first)], status=CallStatus.INITIATED)
        with psycopg.connect(dsn, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = %s",
                [name],
            ).fetchone()
        assert killed == (1,)
        event = DeliveryAccepted(delivery=second)
        with pytest.raises(StoreUnavailable, match="PostgreSQL"):
            store.append("CA1", 1, [event], status=CallStatus.RINGING)
        store.append("CA1", 1, [event], status=CallStatus.RINGING)
        store.append("CA1", 2, [DeliveryAccepted(delivery=third)], status=CallStatus.IN_PROGRESS)
        assert [stored.event.delivery for stored in store.load("CA1")] == [first, second, third]
        assert store.calls_with_status(CallStatus.IN_PROGRESS) == ("CA1",)
    finally:
        store.close()
        from tests.stores._store_fixtures import drop_schema

        drop_schema(dsn, schema)
