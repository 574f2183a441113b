"""``calls_page`` is answered from an index, not by reading every call.

What the databases say they do (their query plans), not how long they take:
the figures are in ``benchmarks/stores.py --pages``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from callstate import CallStatus
from callstate.stores import SQLiteStore
from tests.stores._store_fixtures import fresh_postgres_store, postgres_dsn_or_skip

WANTED = [
    (CallStatus.BUSY,),
    (CallStatus.RINGING, CallStatus.IN_PROGRESS, CallStatus.QUEUED),
    tuple(CallStatus),
]


def fill(conn: sqlite3.Connection, calls: int) -> None:
    statuses = list(CallStatus)
    conn.executemany(
        "INSERT INTO callstate_calls (call_sid, version, status) VALUES (?, 1, ?)",
        ((f"CA{n:08d}", statuses[n % len(statuses)].value) for n in range(calls)),
    )


def test_sqlite_reads_a_page_from_the_status_index(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "pages.sqlite") as store:
        with sqlite3.connect(store.path, isolation_level=None) as conn:
            fill(conn, 5_000)
            conn.execute("ANALYZE")  # the plan must hold with statistics too
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)  # type: ignore[union-attr]
        for statuses in WANTED:
            store.calls_page(*statuses, after="CA00002000", limit=50)
        store._conn.set_trace_callback(None)  # type: ignore[union-attr]
        assert len(statements) == len(WANTED)
        with sqlite3.connect(store.path) as conn:
            for statement, statuses in zip(statements, WANTED, strict=True):
                plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement)]
                searches = [step for step in plan if "callstate_calls" in step]
                assert len(searches) == len(statuses), plan
                for step in searches:
                    assert step.startswith("SEARCH"), plan
                    assert "COVERING INDEX callstate_calls_by_status" in step, plan
                    assert "call_sid>?" in step, plan
                assert not any("TEMP B-TREE" in step for step in plan), plan


def test_sqlite_files_made_before_get_the_status_index(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    SQLiteStore(path).close()
    with sqlite3.connect(path, isolation_level=None) as conn:  # the schema as it was
        conn.execute("DROP INDEX callstate_calls_by_status")
        conn.execute("CREATE INDEX callstate_calls_status ON callstate_calls (status)")
        fill(conn, 30)
    with SQLiteStore(path) as store:
        assert store.calls_page(CallStatus.BUSY, limit=2) == ("CA00000006", "CA00000016")
    with sqlite3.connect(path) as conn:
        indexes = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
    assert "callstate_calls_by_status" in indexes
    assert "callstate_calls_status" not in indexes  # (status) alone: the new one serves it


def test_postgres_reads_a_page_from_the_status_index() -> None:
    import psycopg

    from callstate.stores import postgres

    dsn = postgres_dsn_or_skip()
    with fresh_postgres_store() as store, psycopg.connect(dsn, autocommit=True) as conn:
        table = f'"{store.schema}".calls'
        statuses = list(CallStatus)
        with conn.cursor().copy(f"COPY {table} (call_sid, version, status) FROM STDIN") as copy:
            for n in range(50_000):
                copy.write_row((f"CA{n:08d}", 1, statuses[n % len(statuses)].value))
        conn.execute(f"VACUUM ANALYZE {table}")
        query = postgres._PAGE.replace("{schema}", f'"{store.schema}"')
        for wanted in WANTED:
            assert len(store.calls_page(*wanted, after="CA00020000", limit=50)) == 50
            plan = "\n".join(
                row[0]
                for row in conn.execute(
                    "EXPLAIN " + query, [[s.value for s in wanted], "CA00020000", 50, 50]
                )
            )
            assert "Seq Scan" not in plan, plan
            assert "Index Only Scan using calls_status" in plan, plan


def _three_calls(store: object) -> None:
    from callstate._core._values import RecordDelivery
    from callstate.stores import Runner
    from callstate.testing.store_contract import delivery

    runner = Runner(store)  # type: ignore[arg-type]
    for sid, status in (("CA1", "ringing"), ("CA2", "ringing"), ("CA3", "busy")):
        runner.handle(RecordDelivery(delivery=delivery(sid, 1, status)))


def test_every_store_counts_calls_by_status(tmp_path: Path) -> None:
    from callstate.stores import MemoryStore

    want = {CallStatus.RINGING: 2, CallStatus.BUSY: 1}
    memory = MemoryStore()
    _three_calls(memory)
    assert memory.count_by_status() == want
    with SQLiteStore(tmp_path / "counts.sqlite") as store:
        _three_calls(store)
        assert store.count_by_status() == want
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)  # type: ignore[union-attr]
        store.count_by_status()
        store._conn.set_trace_callback(None)  # type: ignore[union-attr]
        with sqlite3.connect(store.path) as conn:
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statements[-1])]
        assert any("COVERING INDEX callstate_calls_by_status" in step for step in plan), plan
    postgres_dsn_or_skip()
    with fresh_postgres_store() as pg:
        _three_calls(pg)
        assert pg.count_by_status() == want
